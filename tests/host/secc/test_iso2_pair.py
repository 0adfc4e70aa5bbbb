"""Our ISO 15118-2 EVCC against our -2 SECC on a fake clock, through V2gConnection (the
SupportedAppProtocol handshake included): DC and AC EIM to SessionStopRes, Pause and resume,
the receipt loop, and what the plant saw."""

from __future__ import annotations

from typing import Any

from host.bench.dcplant import DcPlant
from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso2 import Iso2Config, Iso2Evcc, SessionFailed, SessionStopped
from host.exi.schemas import iso2 as i
from host.secc.controller import Decision, SimEvseController
from host.secc.core import EndReason, RequestAnswered, SessionEnded
from host.secc.iso2 import PausedSessions, iso2_factory
from host.v2g.sap import DIN, ISO2
from host.v2g.session import V2gConnection
from tests.host.secc.helpers import Pair

AC = i.EnergyTransferModeType.AC_three_phase_core
DC = i.EnergyTransferModeType.DC_extended


class Iso2Pair(Pair):
    """helpers.Pair with a connection that offers DIN and -2 (the EVCC picks -2)."""

    def __init__(self, evcc: Any, controller: SimEvseController, now: float = 0.0,
                 paused: PausedSessions | None = None) -> None:  # fmt: skip
        self.evcc = evcc
        self.controller = controller
        self.now = now
        self.conn = V2gConnection([ISO2, DIN], {ISO2.namespace: iso2_factory(
            lambda _c: controller, paused=paused)}, now)  # fmt: skip
        self.secc_events: list[object] = []
        self.ev_events: list[object] = []
        evcc.start(now)

    def answered(self) -> list[tuple[str, str]]:
        return [(e.request, e.response_code) for e in self.secc_events
                if isinstance(e, RequestAnswered)]

    def ended(self) -> SessionEnded:
        (end,) = [e for e in self.secc_events if isinstance(e, SessionEnded)]
        return end


def session(mode: Any = DC, plant: DcPlant | None = None, *, controller_kw: Any = None,
            paused: PausedSessions | None = None, now: float = 0.0, charge_for: float = 3.0,
            **config: Any) -> Iso2Pair:  # fmt: skip
    plant = plant or DcPlant(isolation_time=1.0)
    controller = SimEvseController(plant, **(controller_kw or {}))
    ev = SimEv(plant.battery, charge_for=charge_for)
    pair = Iso2Pair(Iso2Evcc(ev, Iso2Config(mode=mode, **config)), controller, now, paused)
    pair.run()
    return pair


def test_dc_eim_session_to_session_stop():
    pair = session(DC)
    assert isinstance(pair.evcc.result, SessionStopped), pair.evcc.result
    names = [name for name, _code in pair.answered()]
    assert names[:5] == ["SessionSetupReq", "ServiceDiscoveryReq", "PaymentServiceSelectionReq",
                         "AuthorizationReq", "ChargeParameterDiscoveryReq"]
    for name in ("CableCheckReq", "PreChargeReq", "PowerDeliveryReq", "CurrentDemandReq",
                 "WeldingDetectionReq"):
        assert name in names
    assert names[-1] == "SessionStopReq"
    assert all(code.startswith("OK") for _name, code in pair.answered())
    assert pair.ended().reason is EndReason.STOPPED
    plant = pair.controller.plant
    assert plant.energy_in_wh > 10  # ~100 A at ~350 V for 3 s is ~29 Wh
    assert not plant.contactors_closed and not plant.energised
    assert pair.evcc.meter_readings and pair.evcc.meter_readings[-1] > 0


def test_ac_eim_session_to_session_stop():
    pair = session(AC)
    assert isinstance(pair.evcc.result, SessionStopped), pair.evcc.result
    names = [name for name, _code in pair.answered()]
    assert "CableCheckReq" not in names and "CurrentDemandReq" not in names
    assert names.count("PowerDeliveryReq") == 2 and "ChargingStatusReq" in names
    assert names[-1] == "SessionStopReq"
    assert pair.ended().reason is EndReason.STOPPED
    plant = pair.controller.plant
    # 32 A x 230 V x 3 phases for ~3 s: about 18 Wh into the battery
    assert 5 < plant.energy_in_wh < 60
    assert not plant.contactors_closed and not plant.energised


def test_authorization_ongoing_then_finished():
    pair = session(DC, controller_kw={"authorize_after": 1.0})
    assert isinstance(pair.evcc.result, SessionStopped)
    auth = [code for name, code in pair.answered() if name == "AuthorizationReq"]
    assert len(auth) > 2  # Ongoing for 1 s at a 0.1 s loop, then Finished


def test_receipt_required_makes_the_ev_send_metering_receipts():
    for mode in (AC, DC):
        pair = session(mode, controller_kw={"receipt": True})
        assert isinstance(pair.evcc.result, SessionStopped), (mode, pair.evcc.result)
        receipts = [code for name, code in pair.answered() if name == "MeteringReceiptReq"]
        assert receipts and set(receipts) == {"OK"}


def test_pause_then_resume_joins_the_old_session():
    paused = PausedSessions()
    plant = DcPlant(isolation_time=1.0)
    first = session(DC, plant, paused=paused, pause=True)
    assert isinstance(first.evcc.result, SessionStopped)
    sid = first.evcc.result.session_id
    assert paused.by_id == {sid: first.evcc.config.evcc_id}
    second = session(DC, plant, paused=paused, now=first.now + 30, resume=sid)
    assert isinstance(second.evcc.result, SessionStopped), second.evcc.result
    assert second.answered()[0] == ("SessionSetupReq", "OK_OldSessionJoined")
    assert second.evcc.session_id == sid
    assert paused.by_id == {}  # rejoined: a third connection with it gets a new session


def test_resume_with_an_unknown_session_id_gets_a_new_session():
    pair = session(AC, resume=bytes.fromhex("0102030405060708"))
    assert pair.answered()[0] == ("SessionSetupReq", "OK_NewSessionEstablished")
    assert pair.evcc.session_id != bytes.fromhex("0102030405060708")


def test_resume_by_another_ev_is_a_new_session():
    paused = PausedSessions()
    first = session(AC, paused=paused, pause=True)
    sid = first.evcc.result.session_id
    other = session(AC, paused=paused, resume=sid, evcc_id=bytes.fromhex("020000000099"))
    assert other.answered()[0] == ("SessionSetupReq", "OK_NewSessionEstablished")
    assert sid in paused.by_id


def test_invalid_charging_profile_fails_power_delivery():
    pair = session(DC, profile_share=1.5)
    assert isinstance(pair.evcc.result, SessionFailed)
    assert pair.answered()[-1] == ("PowerDeliveryReq", "FAILED_ChargingProfileInvalid")
    assert pair.ended().reason is EndReason.FAILED
    assert not pair.controller.plant.contactors_closed


def test_rejected_authorization_is_failed():
    pair = session(AC, controller_kw={"decision": Decision.REJECTED})
    assert pair.answered()[-1] == ("AuthorizationReq", "FAILED")
    assert isinstance(pair.evcc.result, SessionFailed)


def test_station_stop_request_ends_the_charge_loop():
    from host.secc.controller import StopRequest

    for mode in (AC, DC):
        plant = DcPlant(isolation_time=1.0)
        controller = SimEvseController(plant)
        pair = Iso2Pair(Iso2Evcc(SimEv(plant.battery, charge_for=1000.0), Iso2Config(mode=mode)),
                        controller)  # fmt: skip
        loop = "CurrentDemandReq" if mode is DC else "ChargingStatusReq"
        pair.run(stop_at=lambda p, loop=loop: p.evcc.sent.count(loop) >= 5)
        controller.stop = StopRequest.STOP
        pair.run()
        assert isinstance(pair.evcc.result, SessionStopped), (mode, pair.evcc.result)
        assert pair.evcc.sent.count(loop) < 10  # stopped by the station, not by the EV
        assert pair.answered()[-1] == ("SessionStopReq", "OK")
