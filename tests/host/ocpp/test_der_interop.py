"""DER control and Get15118EVCertificate against the independent Node CSMS (ocpp-rpc
2.2.1, strict mode, OCPP 2.1): every frame schema-checked both ways by their validator.
The CSMS sets DER controls (two taken, one outside the firmware's range, one unsupported),
asks for them (ReportDERControl) and clears one; the station sends a NotifyDERAlarm; then a
PnC session's CertificateInstallation goes to the CSMS, which answers with a signed
response our CPS made for the test PKI's OEM certificate, and the EV installs it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest

from firmware.app import gridfunc as gf
from firmware.link import messages as m
from host.ocpp.der import DerControls, attach
from host.ocpp.der_map import Grid
from host.ocpp.deralarm import DerAlarms
from host.ocpp.driver import Settings, StationDriver
from host.ocpp.evcertificate import OcppCertificateBackend, exi_response, threadsafe_ask
from host.ocpp.machine import Registration
from tests.host.ev.pnc_setup import NEW_EMAID, ev_pnc, local_cps, pnc_session, secc_pnc, shared_pki
from tests.host.ev.test_evcc_iso2_pnc import AC

from .helpers import make_station
from .test_der import Sink
from .test_evcertificate import installation_request
from .test_interop_node import node_csms, node_peer  # noqa: F401  (node_peer: the fixture)
from .test_system import quick_reconnect, until

pytestmark = pytest.mark.interop


def signed_installation(folder: Path) -> Path:
    """A CertificateInstallationRes for the test PKI's OEM certificate, as a CSMS would
    answer, in a file for the Node CSMS."""
    got = local_cps(shared_pki()).install(installation_request(), dt.datetime.now(dt.UTC))
    path = folder / "exi.b64"
    path.write_text(exi_response(got.response, got.signature))
    return path


def test_der_and_ev_certificate_against_the_node_csms(node_peer, tmp_path: Path) -> None:  # noqa: F811
    from tools.peers.ocpp_rpc import csms_command

    exi = signed_installation(tmp_path)
    argv, env = csms_command("ocpp2.1")
    argv += ["--scenario", "der", "--exi-response", str(exi)]
    sink = Sink()
    result: dict[str, Any] = {}

    async def run() -> list[dict]:
        async with node_csms(argv, env) as (lines, tasks):
            st = make_station(tmp_path)
            quick_reconnect(st)
            der = DerControls(st.queue.db, Grid(50), sink, time.time())
            attach(st, der)
            driver = StationDriver(st, Settings(f"ws://127.0.0.1:{lines[0]['listening']}", "CS-der"))
            tasks.append(asyncio.create_task(driver.run()))
            await until(lambda: st.registration is Registration.ACCEPTED, "boot")
            await until(lambda: any(x.get("derDone") for x in lines), "the DER script")
            alarms = DerAlarms(50)
            alarms.grid_status(status(0), time.time())
            alarms.grid_status(status(gf.OV2), time.time())
            for action, payload in alarms.take_calls():
                st.call(action, payload, time.time())
            driver.kick()
            await until(lambda: any(x.get("in") == "NotifyDERAlarm" for x in lines), "the alarm")
            ask = threadsafe_ask(st, asyncio.get_running_loop(), driver.kick)
            ev = ev_pnc(contract=False)
            pair = await asyncio.to_thread(
                pnc_session, AC, ev=ev, secc=secc_pnc(backend=OcppCertificateBackend(ask)))
            result.update(answered=pair.answered(), emaid=ev.emaid)
        return lines

    lines = asyncio.run(run())
    for x in lines:
        print(json.dumps(x)[:240])
    assert [x for x in lines if "failure" in x] == []  # schema-valid both ways, no CALLERROR
    results = [(x["result"], x["params"]) for x in lines if "result" in x]
    statuses = [(a, p["status"]) for a, p in results]
    assert statuses == [("SetDERControl", "Accepted"), ("SetDERControl", "Accepted"),
                        ("SetDERControl", "Rejected"), ("SetDERControl", "NotSupported"),
                        ("GetDERControl", "Accepted"), ("ClearDERControl", "Accepted")]  # fmt: skip
    assert "grid_droop_k_of_pm=500" in results[2][1]["statusInfo"]["additionalInfo"]
    report = next(x["params"] for x in lines if x.get("in") == "ReportDERControl")
    assert report["requestId"] == 11
    assert [d["id"] for d in report["freqDroop"]] == ["droop-1"]
    assert [c["id"] for c in report["curve"]] == ["hv-1"]
    # the firmware got the droop, the trips, then the droop back at its defaults
    assert (m.CFG_DROOP_K_OF, 40) in sink.sent and (m.CFG_OV2_PM, 1180) in sink.sent
    assert sink.bench.c.droop.k_over == 50  # cleared: the preset again
    alarm = next(x["params"] for x in lines if x.get("in") == "NotifyDERAlarm")
    assert (alarm["controlType"], alarm["gridEventFault"]) == ("HVMustTrip", "OverVoltage")
    cert = next(x["params"] for x in lines if x.get("in") == "Get15118EVCertificate")
    assert cert["action"] == "Install"
    assert ("CertificateInstallationReq", "OK") in result["answered"]
    assert result["emaid"] == NEW_EMAID


def status(trip: int) -> m.GridStatus:
    return m.GridStatus(freq_mhz=50000, rocof_mhz_s=0, v_rms_mv=230000, flags=0, refused=0,
                        trip=trip, droop_w=0, phase_err_mrad=0, at_ms=0)  # fmt: skip
