"""The messages our -20 EVCC and SECC exchange, in DC and DC_BPT sessions in both control
modes, and AC and AC_BPT in both (with schedule and service renegotiation, metering
confirmation, EVSE stop and pause, resume, standby and its refusal, Plug & Charge
Authorization signed with secp521r1 and with Ed448, and CertificateInstallation with an
Ongoing answer), round-trip
byte-exact through the reference codec (the iso15118 package's EXICodec.jar): its encoding
of our message is our bytes, its decoding of our bytes is our message. So our two sides
cannot share a misreading of the -20 schemas unnoticed. Every exchanged message is checked
against our own codec; one of each variant (type and schema choices) against the jar. The
SECC's refusals a scripted EV provokes (VehicleCheckIn/Out, FAILED_NoServiceRenegotiation-
Supported, WARNING_StandbyNotAllowed) go through the jar as well."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from host import exi
from host.ev.evcc.pnc20 import ev20_from_folder
from host.exi.schemas import iso20_common_messages as m
from host.pki import hierarchy
from host.pki.profiles import PROFILES
from host.secc import iso20_constants as k
from host.secc import sig20
from host.secc.controller import Schedule, StopRequest
from host.secc.iso2 import PausedSessions
from host.secc.iso20_pnc import config20_from_folder
from host.secc.pnc import PncConfig
from tests.host.exi.conftest import jar  # noqa: F401  (the session-wide reference codec)
from tests.host.exi.jar_compare import compare
from tests.host.secc.install20_setup import ev_install, install_config, pki20
from tests.host.secc.iso20_helpers import H, Iso20Pair, pair
from tests.host.secc.test_iso20_flow import (
    check_in,
    check_out,
    secc,
    select,
    standby,
    stop,
    to_welding,
    walk,
)
from tests.host.secc.test_iso20_flow import paused_then_resumed as resumed

pytestmark = pytest.mark.interop


def loops(p: Iso20Pair) -> int:
    return p.names().count("DC_ChargeLoopReq")


def sessions(tmp: Path) -> list[Iso20Pair]:
    runs = []
    for profile, service in (("iso20", k.SERVICE_DC), ("iso20-ed448", k.SERVICE_DC_BPT)):
        folder = tmp / profile
        hierarchy.init(folder, PROFILES[profile], hierarchy.Names(), dt.datetime.now(dt.UTC))
        runs.append(pair(service, pnc=ev20_from_folder(folder),
                         secc_kw={"pnc": config20_from_folder(folder)}))
    # no contract: CertificateInstallation (Ongoing once, then OK), then PnC with what it got
    runs.append(pair(k.SERVICE_DC, install=ev_install(), secc_kw={
        "install": install_config(delay=1), "pnc": PncConfig(mo_roots=[pki20()["mo_root"].cert])}))
    for service in (k.SERVICE_DC, k.SERVICE_DC_BPT, k.SERVICE_AC, k.SERVICE_AC_BPT):
        for mode in (k.CONTROL_SCHEDULED, k.CONTROL_DYNAMIC):
            runs.append(pair(service, mode, setpoint=-7_000.0 if mode == k.CONTROL_DYNAMIC
                             else None, discharge=service in k.BPT_SERVICES,
                             controller_kw={"receipt": True}))  # fmt: skip
    renegotiated = pair(k.SERVICE_DC_BPT, k.CONTROL_SCHEDULED, run=False, discharge=True)
    renegotiated.run(stop_at=lambda q: loops(q) >= 3)
    renegotiated.controller.schedule_list = [
        Schedule(4, ((0, 20_000.0), (600, 9_000.0)), discharge=((0, 5_000.0),),
                 price_levels=((0, 2), (900, 0))),
        Schedule(5, ((0, 7_000.0),))]
    renegotiated.run()
    paused = pair(k.SERVICE_DC_BPT, k.CONTROL_DYNAMIC, run=False, charge_for=60.0)
    paused.run(stop_at=lambda q: loops(q) >= 3)
    paused.controller.stop = StopRequest.PAUSE
    paused.run()
    return runs + [renegotiated, paused] + flows()


def flows() -> list[Iso20Pair]:
    """The sessions of iso20_flow: a resumed one, ServiceRenegotiation by the EV and by the
    station, standby in both energy transfer types, and a refused standby."""
    store = PausedSessions()
    first = pair(k.SERVICE_DC_BPT, k.CONTROL_SCHEDULED, paused=store, pause=True)
    again = pair(k.SERVICE_DC_BPT, k.CONTROL_SCHEDULED, paused=store, now=first.now + 30,
                 resume=first.evcc.result.session_id)
    by_ev = pair(k.SERVICE_AC, k.CONTROL_DYNAMIC, renegotiate_to=k.SERVICE_AC_BPT,
                 charge_for=8.0, setpoint=-6_000.0)
    by_station = pair(k.SERVICE_DC_BPT, k.CONTROL_DYNAMIC, setpoint=-6_000.0, run=False,
                      charge_for=8.0)
    by_station.run(stop_at=lambda q: q.loops() >= 3)
    by_station.controller.services = frozenset({k.SERVICE_DC})
    by_station.run()
    standing_by = [pair(service, mode, standby_after=3, charge_for=4.0,
                    setpoint=-5_000.0 if mode == k.CONTROL_DYNAMIC else None)
               for service, mode in ((k.SERVICE_DC_BPT, k.CONTROL_SCHEDULED),
                                     (k.SERVICE_AC_BPT, k.CONTROL_DYNAMIC))]
    refused = pair(k.SERVICE_DC, k.CONTROL_SCHEDULED, standby_after=3, charge_for=2.0,
                   secc_kw={"standby": False})
    return [first, again, by_ev, by_station, *standing_by, refused]


def refusals() -> list[tuple[str, bytes]]:
    """The SECC's answers that refuse or bend a flow, to a scripted EV (re-encoded by our
    codec, which gives the SECC's bytes back: the sessions above check that)."""
    answers = []
    for request, upto in ((check_in(), "loop"), (check_out(), "select")):
        script, _ = secc()
        answers.append(script.send(request, walk(script, upto)))
    script, _ = secc(renegotiation=False)
    answers.append(script.send(stop(), to_welding(script)))
    script, now = resumed(renegotiation=False)
    answers.append(script.send(m.ServiceDiscoveryReq(Header=H), now))
    answers.append(script.send(select(k.SERVICE_DC, 1), now + 0.1))
    script, _ = secc(standby=False)
    now = walk(script, "loop")
    answers.append(script.send(standby(), now))
    return [(m.NAMESPACE, exi.encode(res, m.NAMESPACE)) for res in answers]


# the jar took ~0.4 s a message here: each variant of a message (its type and the choices
# inside it) once rather than all ~470 distinct messages of these sessions (~160 s)
PER_VARIANT = 1


def variant(message: object) -> str:
    """The message's type and the schema choices it takes (control mode, progress, ...)."""
    parts = [type(message).__name__]
    for name in ("SelectedAuthorizationService", "PnC_ASResAuthorizationMode",
                 "CLReqControlMode", "CLResControlMode", "DC_CPDReqEnergyTransferMode",
                 "DC_CPDResEnergyTransferMode", "AC_CPDReqEnergyTransferMode",
                 "AC_CPDResEnergyTransferMode", "ChargeProgress", "EVSEStatus",
                 "Scheduled_SEResControlMode", "Dynamic_SEResControlMode", "ChargingSession",
                 "ResponseCode", "ServiceRenegotiationSupported"):
        value = getattr(message, name, None)
        value = getattr(value, "EVSENotification", value)
        if value is not None:
            shown = value if isinstance(value, bool) else getattr(value, "value",
                                                                  type(value).__name__)
            parts.append(f"{name}={shown}")
    signature = getattr(getattr(message, "Header", None), "Signature", None)
    if signature is not None:  # PnC: one of each signature algorithm
        parts.append(f"Signature={signature.SignedInfo.SignatureMethod.Algorithm}")
    return "/".join(parts)


def test_every_exchanged_message_round_trips_through_the_reference_codec(jar,  # noqa: F811
                                                                      tmp_path):  # fmt: skip
    seen: dict[bytes, tuple[str, str, object]] = {}
    counts: dict[str, int] = {}
    exchanged = refusals()
    for p in sessions(tmp_path):
        assert p.evcc.result is not None and type(p.evcc.result).__name__ == "SessionStopped"
        exchanged += p.evcc.exchanged
    for namespace, payload in exchanged:
        message = exi.decode(namespace, payload)
        assert exi.encode(message, namespace) == payload
        label = variant(message)
        if counts.get(label, 0) < PER_VARIANT and payload not in seen:
            counts[label] = counts.get(label, 0) + 1
            seen[payload] = (namespace, label, message)
    names = {label.split("/")[0] for _ns, label, _msg in seen.values()}
    for name in ("ScheduleExchangeRes", "DC_ChargeLoopReq", "DC_ChargeLoopRes",
                 "AC_ChargeLoopReq", "AC_ChargeLoopRes", "AC_ChargeParameterDiscoveryRes",
                 "MeteringConfirmationReq", "PowerDeliveryReq", "SessionStopReq",
                 "VehicleCheckInRes", "VehicleCheckOutRes"):
        assert name in names
    labels = {label for _ns, label, _msg in seen.values()}
    assert ("AuthorizationSetupRes/PnC_ASResAuthorizationMode=PnC_ASResAuthorizationModeType"
            "/ResponseCode=OK") in labels
    for label in ("CertificateInstallationReq/Signature=" + sig20.ECDSA_SHA512,
                  "CertificateInstallationRes/ResponseCode=OK",  # the Ongoing one: unsigned
                  "CertificateInstallationRes/ResponseCode=OK/Signature=" + sig20.ECDSA_SHA512):
        assert label in labels, label
    for method in (sig20.ECDSA_SHA512, sig20.EDDSA_ED448):
        assert f"AuthorizationReq/SelectedAuthorizationService=PnC/Signature={method}" in labels
    for label in ("SessionStopReq/ChargingSession=ServiceRenegotiation",
                  "SessionStopRes/ResponseCode=FAILED_NoServiceRenegotiationSupported",
                  "ServiceSelectionRes/ResponseCode=FAILED_NoServiceRenegotiationSupported",
                  "SessionSetupRes/ResponseCode=OK_OldSessionJoined",
                  "PowerDeliveryReq/ChargeProgress=Standby",
                  "PowerDeliveryRes/ResponseCode=WARNING_StandbyNotAllowed",
                  "DC_ChargeLoopRes/EVSEStatus=ServiceRenegotiation"):
        assert any(set(label.split("/")) <= set(seen.split("/")) for seen in labels), label
    report = compare(jar, list(seen.values()))
    print(f"\n{len(seen)} distinct -20 messages ({len(names)} types): {report.summary()}")
    assert not report.mismatches, "\n".join(report.mismatches[:3])
    assert not report.jar_errors, report.jar_errors
    assert report.equal + report.jar_defaults == len(seen)
