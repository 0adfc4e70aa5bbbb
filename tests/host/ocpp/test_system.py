"""The station's driver against the CSMS process (host.ocpp.csms) over real websockets:
boot, heartbeat, a transaction with meter values while the CSMS is killed and restarted."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from host.ocpp.devmodel import Component, Variable
from host.ocpp.driver import Settings, StationDriver
from host.ocpp.events import Event, HeartbeatAnswered
from host.ocpp.machine import Registration, StationConnection
from host.ocpp.txqueue import MeterValue, SampledValue

from .helpers import make_station

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[3]


def start_csms(log: Path, port: int = 0, *extra: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "host.ocpp.csms", "--port", str(port), "--log", str(log), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening on"), line
    return proc, int(line.split()[-1])


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


async def until(cond: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit  # a hang guard, not a measurement
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)


def run_beside_driver(driver: StationDriver, scenario: Callable[[], Awaitable[None]],
                      cleanup: Callable[[], None]) -> None:
    """Runs `scenario` with the driver running beside it, then stops the driver and calls
    `cleanup` (which kills the CSMS) whatever happened."""

    async def main() -> None:
        task = asyncio.create_task(driver.run())
        try:
            await scenario()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        cleanup()


def quick_reconnect(st: StationConnection) -> None:
    comm = Component("OCPPCommCtrlr")
    for name, value in [("RetryBackOffWaitMinimum", "1"), ("RetryBackOffRandomRange", "0"),
                        ("RetryBackOffRepeatTimes", "0")]:  # fmt: skip
        st.model.set_own(comm, Variable(name), value)


def log_lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def received_calls(log: Path) -> list[list]:
    frames = [json.loads(r["frame"]) for r in log_lines(log) if "frame" in r]
    return [f for f in frames if f[0] == 2]


def meter(now: float, wh: float) -> list[MeterValue]:
    return [MeterValue(now, (SampledValue(wh, context="Sample.Periodic"),
                             SampledValue(7200.0, measurand="Power.Active.Import", unit="W")))]  # fmt: skip


def test_transaction_survives_a_csms_restart(tmp_path: Path) -> None:
    log = tmp_path / "csms.jsonl"
    csms, port = start_csms(log, 0, "--heartbeat-interval", "1")
    st = make_station(tmp_path)
    quick_reconnect(st)
    seen: list[Event] = []
    driver = StationDriver(st, Settings(f"ws://127.0.0.1:{port}/ocpp", "CS 1"), on_event=seen.append)
    offline_seqs: list[int] = []

    async def scenario() -> None:
        nonlocal csms
        await until(lambda: any(isinstance(e, HeartbeatAnswered) for e in seen), "a heartbeat")
        now = time.time()
        st.transaction_started("tx-1", now=now, trigger_reason="Authorized", evse_id=1,
                               meter_values=meter(now, 0.0),
                               id_token={"idToken": "04A2B3", "type": "ISO14443"})  # fmt: skip
        for i in range(3):
            st.transaction_updated("tx-1", now=time.time(), trigger_reason="MeterValuePeriodic",
                                   meter_values=meter(time.time(), 100.0 * (i + 1)))  # fmt: skip
            driver.kick()
            await asyncio.sleep(0.05)
        await until(lambda: st.queue.pending_count() == 0, "events delivered")
        stop(csms)
        await until(lambda: not st.connected, "the station to notice")
        for i in range(3):
            msg = st.transaction_updated("tx-1", now=time.time(), trigger_reason="MeterValuePeriodic",
                                         meter_values=meter(time.time(), 400.0 + 100 * i))  # fmt: skip
            offline_seqs.append(msg.seq_no or 0)
        csms, _ = start_csms(log, port, "--heartbeat-interval", "1")
        await until(lambda: st.connected, "the reconnect")
        st.transaction_ended("tx-1", now=time.time(), trigger_reason="StopAuthorized",
                             stopped_reason="Local", meter_values=meter(time.time(), 800.0))  # fmt: skip
        driver.kick()
        await until(lambda: st.queue.pending_count() == 0, "the replay")

    run_beside_driver(driver, scenario, lambda: stop(csms))
    calls = received_calls(log)
    actions = [c[2] for c in calls]
    assert actions.count("BootNotification") == 1  # not again on the reconnect
    assert "Heartbeat" in actions
    tx = [c for c in calls if c[2] == "TransactionEvent"]
    unique = list({c[1]: c for c in tx}.values())  # a resend keeps its MessageId
    assert [c[3]["seqNo"] for c in unique] == list(range(8))
    assert [c[3]["eventType"] for c in unique] == ["Started"] + ["Updated"] * 6 + ["Ended"]
    assert [c[3]["seqNo"] for c in unique if c[3].get("offline")] == offline_seqs == [4, 5, 6]
    assert all(c[3]["transactionInfo"]["transactionId"] == "tx-1" for c in unique)
    assert unique[1][3]["meterValue"][0]["sampledValue"][0]["value"] == 100.0
    assert driver.connects == 2
    connects = [(r["offered"], r["chosen"]) for r in log_lines(log) if "offered" in r]
    assert connects == [("ocpp2.1, ocpp2.0.1", "ocpp2.1")] * 2
    print(f"TransactionEvents received: {len(tx)}, duplicates: {len(tx) - len(unique)}")


def test_wrong_password_is_logged_and_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "csms.jsonl"
    csms, port = start_csms(log, 0, "--password", "correct-horse-battery")
    st = make_station(tmp_path)
    quick_reconnect(st)
    pw = (Component("SecurityCtrlr"), Variable("BasicAuthPassword"))
    st.model.set_own(*pw, "wrong-password-here")
    driver = StationDriver(st, Settings(f"ws://127.0.0.1:{port}/ocpp", "CS1"))

    async def scenario() -> None:
        await until(lambda: "OCPP-Auth-401" in caplog.text, "the refusal to be logged")
        await until(lambda: driver.connects == 0 and st.queue.pending_count() == 1,
                    "the security event to be stored")  # fmt: skip
        await asyncio.sleep(1.5)  # at least one more refused retry: still one event, not one per try
        st.model.set_own(*pw, "correct-horse-battery")
        await until(lambda: st.registration is Registration.ACCEPTED, "boot with the right password")
        await until(lambda: st.queue.pending_count() == 0, "the security event delivered")

    caplog.set_level(logging.INFO, logger="v2gate.ocpp")
    run_beside_driver(driver, scenario, lambda: stop(csms))
    calls = received_calls(log)  # the CSMS (ocpp package) checked them against the schema
    assert [c[2] for c in calls] == ["BootNotification", "SecurityEventNotification"]
    assert calls[1][3]["type"] == "FailedToAuthenticateAtCsms"
    assert caplog.text.count("OCPP-Auth-401") >= 2


def _boot_over(tmp_path: Path, settings: Settings, profile: int, password: str | None,
               wait_for: Callable[[StationConnection, str], bool], *csms_args: str) -> StationConnection:  # fmt: skip
    csms, port = start_csms(tmp_path / "csms.jsonl", 0, *csms_args)
    st = make_station(tmp_path)
    quick_reconnect(st)
    st.model.set_own(Component("SecurityCtrlr"), Variable("SecurityProfile"), str(profile))
    if password:
        st.model.set_own(Component("SecurityCtrlr"), Variable("BasicAuthPassword"), password)
    settings = dataclasses.replace(settings, endpoint=settings.endpoint.format(port=port))
    driver = StationDriver(st, settings)
    logs: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logs.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("v2gate.ocpp").addHandler(handler)

    async def scenario() -> None:
        await until(lambda: wait_for(st, "\n".join(logs)), "the expected outcome")

    def cleanup() -> None:
        logging.getLogger("v2gate.ocpp").removeHandler(handler)
        stop(csms)

    run_beside_driver(driver, scenario, cleanup)
    return st


def registered(st: StationConnection, _: str) -> bool:
    return st.registration is Registration.ACCEPTED


def test_security_profile_2_tls_and_password(tmp_path: Path) -> None:
    from .pki import make_pki

    pki = make_pki(tmp_path)
    st = _boot_over(tmp_path, Settings("wss://127.0.0.1:{port}/ocpp", "CS1", ca_file=str(pki["root"])),
                    2, "correct-horse-battery", registered,
                    "--cert", str(pki["csms"]), "--key", str(pki["csms_key"]),
                    "--password", "correct-horse-battery")  # fmt: skip
    assert st.registration is Registration.ACCEPTED


def test_security_profile_3_client_certificate(tmp_path: Path) -> None:
    from .pki import make_pki

    pki = make_pki(tmp_path)
    st = _boot_over(tmp_path, Settings("wss://127.0.0.1:{port}/ocpp", "CS1", ca_file=str(pki["root"]),
                                       client_cert=str(pki["station"]),
                                       client_key=str(pki["station_key"])),
                    3, None, registered,
                    "--cert", str(pki["csms"]), "--key", str(pki["csms_key"]),
                    "--client-ca", str(pki["root"]))  # fmt: skip
    assert st.registration is Registration.ACCEPTED


def test_unknown_server_root_is_logged_as_auth_401(tmp_path: Path) -> None:
    from .pki import make_pki

    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    ours, theirs = make_pki(tmp_path / "ours"), make_pki(tmp_path / "theirs")
    st = _boot_over(tmp_path, Settings("wss://127.0.0.1:{port}/ocpp", "CS1", ca_file=str(ours["root"])),
                    2, "correct-horse-battery",
                    lambda st, logs: "OCPP-Auth-401: TLS handshake" in logs,
                    "--cert", str(theirs["csms"]), "--key", str(theirs["csms_key"]))  # fmt: skip
    assert st.registration is Registration.NEW
    stored = st.queue.messages("SecurityEventNotification")
    assert stored and stored[0][0]["type"] == "InvalidCsmsCertificate", stored


@pytest.mark.parametrize("versions, expect", [("ocpp2.0.1", "2.0.1"), ("ocpp2.0.1,ocpp2.1", "2.0.1"),
                                              ("ocpp1.6", None)])  # fmt: skip
def test_subprotocol_negotiation(tmp_path: Path, versions: str, expect: str | None) -> None:
    log = tmp_path / "csms.jsonl"
    csms, port = start_csms(log, 0, "--versions", versions)
    st = make_station(tmp_path)
    quick_reconnect(st)
    driver = StationDriver(st, Settings(f"ws://127.0.0.1:{port}/ocpp", "CS1"))
    got: list[str | None] = []

    async def scenario() -> None:
        if expect is None:  # no common version: the handshake fails, nothing is sent
            await until(lambda: len([r for r in log_lines(log) if "offered" in r]) >= 2, "retries")
        else:
            await until(lambda: st.registration is Registration.ACCEPTED, "boot")
            got.append(st.version)

    run_beside_driver(driver, scenario, lambda: stop(csms))
    if expect is None:
        assert received_calls(log) == [] and driver.connects == 0
    else:
        assert got == [expect]
        assert received_calls(log)[0][2] == "BootNotification"


def test_hostile_csms_frames_are_answered_and_a_huge_one_closes_the_connection(tmp_path: Path) -> None:
    script = tmp_path / "script.jsonl"
    hb = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
    script.write_text("\n".join([
        json.dumps([2, "x1", "GetVariables", {"getVariableData": [hb]}]),
        json.dumps([2, "x2", "MakeCoffee", {}]),
        '[2, "x3", "GetVariables", {"getVariableData": "all"}]',
        "[2, oops",
        json.dumps([2, "x1", "GetVariables", {"getVariableData": [hb]}]),
        json.dumps([2, "x4", "DataTransfer", {"vendorId": "v", "data": "A" * 10_000_000}]),
    ]) + "\n")  # fmt: skip
    log = tmp_path / "csms.jsonl"
    csms, port = start_csms(log, 0, "--send", str(script), "--heartbeat-interval", "1")
    st = make_station(tmp_path)
    quick_reconnect(st)
    driver = StationDriver(st, Settings(f"ws://127.0.0.1:{port}/ocpp", "CS1"))

    def heartbeats_after_reconnect() -> bool:
        lines = log_lines(log)
        second = [i for i, r in enumerate(lines) if "offered" in r][1:2]
        return bool(second) and any('"Heartbeat"' in r.get("frame", "") for r in lines[second[0]:])

    async def scenario() -> None:
        await until(heartbeats_after_reconnect, "a heartbeat on a second connection")

    run_beside_driver(driver, scenario, lambda: stop(csms))
    answers = [json.loads(r["frame"]) for r in log_lines(log) if "frame" in r]
    answers = [a[:3] for a in answers if a[0] in (3, 4)]
    assert answers[0][:2] == [3, "x1"]
    assert answers[1:4] == [[4, "x2", "NotImplemented"], [4, "x3", "TypeConstraintViolation"],
                            [4, "-1", "RpcFrameworkError"]]  # fmt: skip
    assert answers[4] == [4, "x1", "RpcFrameworkError"]  # the repeated MessageId
    assert not any(a[1] == "x4" for a in answers)  # too large: the connection closed instead
    assert driver.connects == 2


def _auth_401(tmp_path: Path, settings: Settings, profile: int, expect: str, event: str,
              *csms_args: str) -> None:  # fmt: skip
    """Boot over TLS must fail with an OCPP-Auth-401 line containing ``expect``, and the
    security ``event`` stored first for sending once a connection works."""
    def logged(st: StationConnection, logs: str) -> bool:
        return any("OCPP-Auth-401" in line and expect in line for line in logs.splitlines())

    st = _boot_over(tmp_path, settings, profile, None if profile == 3 else "correct-horse-battery",
                    logged, *csms_args)  # fmt: skip
    assert st.registration is Registration.NEW
    stored = st.queue.messages("SecurityEventNotification")
    assert stored and stored[0][0]["type"] == event, stored


@pytest.mark.parametrize("tls", ["1.3", "1.2"])
def test_csms_refusing_our_client_certificate_is_auth_401(tmp_path: Path, tls: str) -> None:
    """In TLS 1.2 Python's server resets the handshake (no alert reaches us); in TLS 1.3
    its alert comes after our side of the handshake, as a close before the upgrade's
    answer. A real alert during the handshake is an ssl.SSLError, logged as well."""
    from .pki import make_pki

    (tmp_path / "ours").mkdir()
    (tmp_path / "other").mkdir()
    ours, other = make_pki(tmp_path / "ours"), make_pki(tmp_path / "other")
    _auth_401(tmp_path, Settings("wss://127.0.0.1:{port}/ocpp", "CS1", ca_file=str(ours["root"]),
                                 client_cert=str(other["station"]),
                                 client_key=str(other["station_key"])),
              3, "refuses our client certificate", "FailedToAuthenticateAtCsms", "--cert", str(ours["csms"]), "--key", str(ours["csms_key"]),
              "--client-ca", str(ours["root"]), *(["--tls12"] if tls == "1.2" else []))  # fmt: skip


@pytest.mark.parametrize("problem, expect", [("expired", "certificate has expired"),
                                             ("revoked", "certificate revoked")])  # fmt: skip
def test_expired_or_revoked_csms_certificate_is_auth_401(tmp_path: Path, problem: str, expect: str) -> None:
    from .pki import make_pki

    pki = make_pki(tmp_path, **{problem: ("csms",)})  # type: ignore[arg-type]
    _auth_401(tmp_path, Settings("wss://127.0.0.1:{port}/ocpp", "CS1", ca_file=str(pki["root"]),
                                 crl_file=str(pki["crl"])),
              2, expect, "InvalidCsmsCertificate", "--cert", str(pki["csms"]), "--key", str(pki["csms_key"]))  # fmt: skip


def test_our_expired_client_certificate_is_auth_401_before_connecting(tmp_path: Path) -> None:
    from .pki import make_pki

    pki = make_pki(tmp_path, expired=("station",))
    _auth_401(tmp_path, Settings("wss://127.0.0.1:{port}/ocpp", "CS1", ca_file=str(pki["root"]),
                                 client_cert=str(pki["station"]), client_key=str(pki["station_key"])),
              3, "our client certificate CN=CS1", "InvalidChargingStationCertificate",
              "--cert", str(pki["csms"]), "--key", str(pki["csms_key"]),
              "--client-ca", str(pki["root"]))  # fmt: skip
