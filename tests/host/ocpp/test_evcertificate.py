"""Get15118EVCertificate: our EVCC installs a contract through our SECC, whose certificate
backend is the station's OCPP connection; the CSMS (in-process here, a CPS from the test
PKI behind it) answers with the signed V2G response. Payloads schema-valid both ways;
the CSMS's refusals and broken answers become FAILED for the SECC, never an exception."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from host.ocpp import rpc
from host.ocpp.evcertificate import OcppCertificateBackend, exi_response, read_exi
from host.ocpp.machine import StationConnection
from host.secc.backend import LocalCps
from tests.host.ev.pnc_setup import NEW_EMAID, ev_pnc, local_cps, pnc_session, secc_pnc, shared_pki
from tests.host.ev.test_evcc_iso2_pnc import AC

from .helpers import T0, accepted, sent


class InProcessCsms:
    """Answers each Get15118EVCertificate the station sends, from a LocalCps; records the
    requests. ``ask`` is the backend's bridge: call, then answer at once."""

    def __init__(self, st: StationConnection, cps: LocalCps | None, status: str = "Accepted",
                 exi: str | None = None) -> None:  # fmt: skip
        self.st = st
        self.cps = cps
        self.status = status
        self.exi = exi
        self.requests: list[dict] = []

    def ask(self, action: str, payload: dict) -> tuple[dict | None, str]:
        got: list[tuple[dict | None, str]] = []
        self.st.call_with_result(action, payload, T0, lambda res, why: got.append((res, why)))
        frame = json.loads(self.st.data_to_send()[0])
        assert frame[2] == "Get15118EVCertificate"
        req = frame[3]
        assert rpc.schema_error(rpc.CALL, frame[2], req, "2.1") is None
        self.requests.append(req)
        res = {"status": self.status, "exiResponse": self.exi or ""}
        if self.cps is not None and self.exi is None:
            body, _sig = read_exi(req["exiRequest"])
            got_cps = self.cps.install(body, dt.datetime.now(dt.UTC))
            res["exiResponse"] = exi_response(got_cps.response, got_cps.signature)
        assert rpc.schema_error(rpc.CALLRESULT, frame[2], res, "2.1") is None
        self.st.receive(json.dumps([3, frame[1], res]), T0)
        return got[0]


def test_the_secc_installs_a_contract_the_csms_provides(tmp_path: Path) -> None:
    st = accepted(tmp_path, "ocpp2.1")
    cps = local_cps(shared_pki())
    csms = InProcessCsms(st, cps)
    ev = ev_pnc(contract=False)
    pair = pnc_session(AC, ev=ev, secc=secc_pnc(backend=OcppCertificateBackend(csms.ask)))
    assert ("CertificateInstallationReq", "OK") in pair.answered()
    assert ev.emaid == NEW_EMAID and ev.contract is not None
    assert ev.contract.leaf.serial_number == cps.issued[-1].serial_number  # the CSMS's CPS made it
    assert [(r["action"], r["iso15118SchemaVersion"]) for r in csms.requests] == [
        ("Install", "urn:iso:15118:2:2013:MsgDef")]


@pytest.mark.parametrize(("status", "exi", "code", "why"), [
    ("Failed", "", "FAILED", "CSMS: Failed"),
    ("Accepted", "not base64!", "FAILED", "not a base64"),
    ("Accepted", "gAA=", "FAILED", "exiResponse"),
])  # fmt: skip
def test_a_csms_without_a_contract_is_failed_for_the_secc(tmp_path: Path, status: str, exi: str,
                                                          code: str, why: str) -> None:  # fmt: skip
    st = accepted(tmp_path, "ocpp2.1")
    csms = InProcessCsms(st, None, status, exi)
    backend = OcppCertificateBackend(csms.ask)
    req = installation_request()
    got = backend.install(req, dt.datetime.now(dt.UTC))
    assert (got.code, got.response) == (code, None) and why in got.why, got


def test_no_answer_is_failed_too(tmp_path: Path) -> None:
    st = accepted(tmp_path, "ocpp2.1")

    def ask(action: str, payload: dict) -> tuple[dict | None, str]:
        got: list[tuple[dict | None, str]] = []
        st.call_with_result(action, payload, T0, lambda res, why: got.append((res, why)))
        frame = json.loads(st.data_to_send()[0])
        st.receive(json.dumps([4, frame[1], "InternalError", "no CPS", {}]), T0)
        return got[0]

    got = OcppCertificateBackend(ask).install(installation_request(), dt.datetime.now(dt.UTC))
    assert got.code == "FAILED" and "InternalError" in got.why
    # and a lost connection answers the waiter too
    seen: list[tuple[Any, str]] = []
    st.call_with_result("Get15118EVCertificate", {"iso15118SchemaVersion": "x", "action": "Install",
                                                  "exiRequest": "AA=="}, T0,
                        lambda res, why: seen.append((res, why)))  # fmt: skip
    sent(st)
    st.connection_lost(T0)
    assert seen == [(None, "ConnectionLost")]


def installation_request() -> Any:
    """A CertificateInstallationReq as our EVCC makes it (taken from a real session)."""
    seen: list[Any] = []

    class Spy:
        def install(self, req: Any, now: dt.datetime) -> Any:
            seen.append(req)
            return local_cps(shared_pki()).install(req, now)

        def update(self, req: Any, now: dt.datetime) -> Any:
            raise AssertionError("no update here")

    pnc_session(AC, ev=ev_pnc(contract=False), secc=secc_pnc(backend=Spy()))
    return seen[0]
