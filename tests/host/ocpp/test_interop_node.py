"""Our station driver against an independent CSMS: Node.js on the npm package ocpp-rpc in
strict mode (tools/peers/ocpp_csms.js), which checks every frame both ways against the
official JSON schemas and reports any violation; the test fails on any.

Boot, StatusNotification, Authorize, Heartbeat, a transaction with meter values
(Started/Updated/Ended), a TxProfile from the CSMS (on 2.1 a V2X CentralSetpoint with a
discharge limit) with GetCompositeSchedule and GetChargingProfiles -> ReportChargingProfiles,
and a Reset: on ocpp2.0.1 and on ocpp2.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from host.ocpp.driver import Settings, StationDriver
from host.ocpp.events import ChargingLimitChanged, Event, HeartbeatAnswered, ResetRequested
from host.ocpp.machine import Registration, StationConnection
from host.ocpp.station import EvPlugged, MeterSampled
from host.ocpp.store import iso_time
from host.ocpp.txqueue import MeterValue, SampledValue

from .helpers import make_station
from .scripted import ScriptedStation, wire
from .test_system import quick_reconnect, until

pytestmark = pytest.mark.interop
ID_TOKEN = {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"}


@pytest.fixture(scope="session")
def node_peer() -> None:
    from tools.peers.ocpp_rpc import PeerUnavailable, ensure_ocpp_rpc

    if shutil.which("node") is None:
        print("skipping: node is not installed")
        pytest.skip("node is not installed")
    try:
        ensure_ocpp_rpc()
    except PeerUnavailable as e:
        print(f"skipping: {e}")
        pytest.skip(str(e))


def meter(wh: float, context: str) -> list[MeterValue]:
    return [MeterValue(time.time(), (SampledValue(wh, context=context),
                                     SampledValue(7200.0, context=context,
                                                  measurand="Power.Active.Import", unit="W")))]  # fmt: skip


@contextlib.asynccontextmanager
async def node_csms(argv: list[str], env: dict) -> AsyncIterator[tuple[list[dict], list[asyncio.Task]]]:
    """The Node CSMS as a process, once it listens: its stdout lines (parsed) as they come,
    and a list for the test's tasks (the driver), cancelled on the way out before the
    process is stopped."""
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.PIPE)
    lines: list[dict] = []
    tasks: list[asyncio.Task] = []

    async def read() -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            lines.append(json.loads(line))

    reader = asyncio.create_task(read())
    try:
        await until(lambda: bool(lines), "the CSMS to listen", 30)
        yield lines, tasks
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        proc.terminate()
        await proc.wait()
        await reader


async def scenario(protocol: str, tmp_path: Path) -> tuple[list[dict], list[Event]]:
    from tools.peers.ocpp_rpc import csms_command

    argv, env = csms_command(protocol)
    got: list[Event] = []
    async with node_csms(argv, env) as (lines, tasks):
        port = lines[0]["listening"]
        st = make_station(tmp_path, smart=True)
        quick_reconnect(st)
        driver = StationDriver(st, Settings(f"ws://127.0.0.1:{port}", "CS-node"), on_event=got.append)
        tasks.append(asyncio.create_task(driver.run()))
        await until(lambda: st.registration is Registration.ACCEPTED, "boot")
        now = time.time()
        st.publish_limits(now)
        st.call("StatusNotification", {"timestamp": iso_time(now), "connectorStatus": "Occupied",
                                       "evseId": 1, "connectorId": 1}, now)  # fmt: skip
        st.call("Authorize", {"idToken": ID_TOKEN}, now)
        driver.kick()
        await until(lambda: any(isinstance(e, HeartbeatAnswered) for e in got), "a heartbeat")
        st.transaction_started("tx-node-1", now=time.time(), trigger_reason="Authorized", evse_id=1,
                               meter_values=meter(0.0, "Transaction.Begin"), id_token=ID_TOKEN)  # fmt: skip
        driver.kick()
        await until(lambda: any("profiled" in x for x in lines), "the CSMS's smart-charging calls")
        for n in (1, 2):
            st.transaction_updated("tx-node-1", now=time.time(), trigger_reason="MeterValuePeriodic",
                                   meter_values=meter(100.0 * n, "Sample.Periodic"))  # fmt: skip
            driver.kick()
        st.transaction_ended("tx-node-1", now=time.time(), trigger_reason="StopAuthorized",
                             stopped_reason="Local", meter_values=meter(300.0, "Transaction.End"))  # fmt: skip
        driver.kick()
        await until(lambda: any(x.get("done") for x in lines), "the Reset")
    return lines, got


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
def test_station_against_the_node_csms(node_peer, tmp_path: Path, protocol: str) -> None:
    lines, got = asyncio.run(scenario(protocol, tmp_path))
    for x in lines:
        print(json.dumps(x)[:200])
    assert [x for x in lines if "failure" in x] == []  # schema-valid both ways, no CALLERROR
    assert lines[1]["protocol"] == protocol
    seen = {x["in"] for x in lines if "in" in x}
    assert {"BootNotification", "StatusNotification", "Authorize", "Heartbeat", "TransactionEvent",
            "ReportChargingProfiles"} <= seen  # fmt: skip
    tx = [x["params"] for x in lines if x.get("in") == "TransactionEvent"]
    assert [(t["eventType"], t["seqNo"]) for t in tx] == [
        ("Started", 0), ("Updated", 1), ("Updated", 2), ("Ended", 3)]
    assert all(t["meterValue"] for t in tx)
    results: dict[str, list[dict]] = {}
    for x in lines:
        if "result" in x:
            results.setdefault(x["result"], []).append(x["params"])
    assert results["SetChargingProfile"] == [{"status": "Accepted"}] * 2
    assert results["GetChargingProfiles"] == [{"status": "Accepted"}]
    assert results["ClearChargingProfile"] == [{"status": "Accepted"}]
    assert results["Reset"] == [{"status": "Accepted"}]
    default, overridden = (r["schedule"] for r in results["GetCompositeSchedule"])
    assert (default["chargingRateUnit"], default["chargingSchedulePeriod"][0]["limit"]) == ("A", 10)
    period = overridden["chargingSchedulePeriod"][0]
    assert period["limit"] == 7400  # the TxProfile overrides the default (K01)
    reports = [x["params"] for x in lines if x.get("in") == "ReportChargingProfiles"]
    assert sorted((r["evseId"], p["id"]) for r in reports for p in r["chargingProfile"]) == [(0, 41), (1, 42)]
    limits = [e for e in got if isinstance(e, ChargingLimitChanged) and e.evse_id == 1]
    assert limits[-2].limit_w == 7400  # the TxProfile, then the default after the transaction
    if protocol == "ocpp2.1":
        assert (period["operationMode"], period["setpoint"], period["dischargeLimit"]) == (
            "CentralSetpoint", -3000, -5000)
        assert (limits[-2].setpoint_w, limits[-2].discharge_limit_w) == (-3000, -5000)
    assert ResetRequested("OnIdle", False) in got


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
def test_the_node_csms_catches_a_schema_violation(node_peer, protocol: str) -> None:
    """The check above is not vacuous: a frame the schemas refuse is reported, on 2.1 too
    (where ocpp-rpc 2.2.1 needs our schema renaming to validate at all)."""
    from websockets.asyncio.client import connect

    from tools.peers.ocpp_rpc import csms_command

    async def run() -> list[dict]:
        argv, env = csms_command(protocol)
        proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        try:
            port = json.loads(await proc.stdout.readline())["listening"]
            async with connect(f"ws://127.0.0.1:{port}/CS1", subprotocols=[protocol]) as ws:  # type: ignore[list-item]
                boot = {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}}
                await ws.send(json.dumps([2, "a", "BootNotification", boot]))
                ok = json.loads(await ws.recv())
                boot["chargingStation"]["firmware"] = "1.0"  # not in ChargingStationType
                await ws.send(json.dumps([2, "b", "BootNotification", boot]))
                refused = json.loads(await ws.recv())
            assert ok[0] == 3 and ok[2]["status"] == "Accepted"
            assert refused[:3] == [4, "b", "PropertyConstraintViolation"]
            return [json.loads(await proc.stdout.readline()) for _ in range(4)]
        finally:
            proc.terminate()
            await proc.wait()

    lines = asyncio.run(run())
    assert [x for x in lines if "failure" in x][0]["method"] == "BootNotification"


async def actions_scenario(protocol: str,
                           tmp_path: Path) -> tuple[list[dict], ScriptedStation, StationConnection]:  # fmt: skip
    from tools.peers.ocpp_rpc import csms_command

    from .pki import make_pki

    pki = make_pki(tmp_path)
    argv, env = csms_command(protocol, mode="actions", extra=("--root-cert", str(pki["root"])))
    conn, cs, port = wire(tmp_path, certificates=True)
    quick_reconnect(conn)
    cs.handle(EvPlugged(1), time.time())
    cs.handle(MeterSampled(1, meter(42.0, "Sample.Periodic")[0]), time.time())
    async with node_csms(argv, env) as (lines, tasks):
        driver = StationDriver(conn, Settings(f"ws://127.0.0.1:{lines[0]['listening']}", "CS-node"),
                               on_event=lambda e: cs.on_event(e, time.time()))  # fmt: skip
        tasks.append(asyncio.create_task(driver.run()))
        await until(lambda: any(x.get("done") for x in lines), "the actions and the Reset")
        await until(lambda: any(x.get("in") == "SecurityEventNotification" for x in lines),
                    "the reset's security event")  # fmt: skip
    return lines, port, conn


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
def test_station_actions_against_the_node_csms(node_peer, tmp_path: Path, protocol: str) -> None:
    """The station logic (chargingstation.py) behind the scripted station: every CSMS
    request and every answer and CALL of ours schema-valid in ocpp-rpc's strict mode."""
    lines, port, conn = asyncio.run(actions_scenario(protocol, tmp_path))
    for x in lines:
        print(json.dumps(x)[:200])
    assert [x for x in lines if "failure" in x] == []
    results: dict[str, list[dict]] = {}
    for x in lines:
        if "result" in x:
            results.setdefault(x["result"], []).append(x["params"])
    (ids,) = results["GetInstalledCertificateIds"]
    assert ids["status"] == "Accepted" and len(ids["certificateHashDataChain"]) == 1
    assert results == {
        "SendLocalList": [{"status": "Accepted"}], "GetLocalListVersion": [{"versionNumber": 1}],
        "ClearCache": [{"status": "Accepted"}], "DataTransfer": [{"status": "UnknownVendorId"}],
        "ChangeAvailability": [{"status": "Accepted"}] * 2, "UnlockConnector": [{"status": "Unlocked"}],
        "TriggerMessage": [{"status": "Accepted"}] * 4,
        "InstallCertificate": [{"status": "Accepted"}], "DeleteCertificate": [{"status": "Accepted"}],
        "GetInstalledCertificateIds": [ids],
        "RequestStartTransaction": [{"status": "Accepted"}],
        "RequestStopTransaction": [{"status": "Accepted"}], "Reset": [{"status": "Accepted"}],
        "GetBaseReport": [{"status": "Accepted"}], "GetReport": [{"status": "Accepted"}],
        "SetVariableMonitoring": [{"setMonitoringResult": [{
            "status": "Accepted", "id": 1, "type": "UpperThreshold", "severity": 5,
            "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}],
        "ClearVariableMonitoring": [{"clearMonitoringResult": [{"id": 1, "status": "Accepted"}]}],
    }  # fmt: skip
    # the reports: NotifyReport parts in order, tbc on all but the last, every variable once
    reports = [x["params"] for x in lines if x.get("in") == "NotifyReport"]
    full = [r for r in reports if r["requestId"] == 31]
    assert [r["seqNo"] for r in full] == list(range(len(full))) and len(full) > 1
    assert [r["tbc"] for r in full] == [True] * (len(full) - 1) + [False]
    assert sum(len(r["reportData"]) for r in full) == len(conn.model.definitions())
    (evses,) = [r for r in reports if r["requestId"] == 32]
    assert [e["component"]["evse"]["id"] for e in evses["reportData"]] == [1, 2]
    # the monitor fired once when it was set: the heartbeat interval (2 s) is above 1
    (event,) = [x["params"] for x in lines if x.get("in") == "NotifyEvent"]
    assert event["eventData"][0]["trigger"] == "Alerting" and event["eventData"][0]["actualValue"] == "2"
    seen = [x["in"] for x in lines if "in" in x]
    assert {"StatusNotification", "Heartbeat", "MeterValues", "Authorize", "SignCertificate"} <= set(seen)
    tx = [x["params"] for x in lines if x.get("in") == "TransactionEvent"]
    assert [(t["eventType"], t["triggerReason"]) for t in tx] == [("Started", "RemoteStart"),
                                                                  ("Ended", "RemoteStop")]  # fmt: skip
    assert tx[0]["transactionInfo"]["remoteStartId"] == 5
    assert ("unlock", 2, 1) in port.commands and port.commands[-1] == ("reset", "Immediate")
    # A04: the reset is a critical security event, schema-valid for ocpp-rpc both ways
    events = [x["params"] for x in lines if x.get("in") == "SecurityEventNotification"]
    assert [(e["type"], e["techInfo"]) for e in events] == [
        ("ResetOrReboot", "Reset Immediate requested by the CSMS")]
