"""Pure parts of the driver: back-off, URL, Basic auth, TLS settings per security profile."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest

from host.ocpp.backoff import Backoff
from host.ocpp.devmodel import Component, DeviceModel, Variable
from host.ocpp.driver import (
    ConfigError,
    Settings,
    StationDriver,
    basic_auth,
    connection_url,
    tls_context,
)
from host.ocpp.store import open_db
from host.ocpp.variables import station_variables


def model(tmp_path: Path, **values: str) -> DeviceModel:
    dm = DeviceModel(open_db(tmp_path / "dm.db"), station_variables())
    for name, value in values.items():
        dm.set_own(Component("OCPPCommCtrlr"), Variable(name), value)
    return dm


def test_backoff_doubles_repeat_times_then_holds_and_resets(tmp_path: Path) -> None:
    dm = model(tmp_path, RetryBackOffWaitMinimum="3", RetryBackOffRepeatTimes="2",
               RetryBackOffRandomRange="5")  # fmt: skip
    asked: list[tuple[float, float]] = []

    def rng(lo: float, hi: float) -> float:
        asked.append((lo, hi))
        return 1.0

    b = Backoff(dm, rng)
    assert [b.next_delay() for _ in range(5)] == [4.0, 7.0, 13.0, 13.0, 13.0]
    assert asked == [(0, 5)] * 5  # a new random part every attempt, at most RandomRange
    b.reset()
    assert b.next_delay() == 4.0


def test_backoff_reads_the_variables_each_time(tmp_path: Path) -> None:
    dm = model(tmp_path, RetryBackOffWaitMinimum="1", RetryBackOffRandomRange="0")
    b = Backoff(dm, lambda lo, hi: hi)
    assert b.next_delay() == 1.0
    dm.set_own(Component("OCPPCommCtrlr"), Variable("RetryBackOffWaitMinimum"), "10")
    assert b.next_delay() == 20.0


def test_connection_url_percent_encodes_the_identity() -> None:
    # OCPP-J Part 4 §3.1.1 example 2
    assert connection_url("wss://csms.example.com/ocppj", "RDAM|123") == "wss://csms.example.com/ocppj/RDAM%7C123"
    assert connection_url("ws://h/ocpp/", "CS001") == "ws://h/ocpp/CS001"


def test_basic_auth_user_is_the_identity() -> None:
    value = basic_auth("CS001", "s3cret:with:colons")
    assert base64.b64decode(value.removeprefix("Basic ")) == b"CS001:s3cret:with:colons"


def test_tls_settings_follow_the_profile() -> None:
    assert tls_context(Settings("ws://h/ocpp", "CS1"), 1) is None
    with pytest.raises(ConfigError):
        tls_context(Settings("ws://h/ocpp", "CS1"), 2)
    with pytest.raises(ConfigError):
        tls_context(Settings("wss://h/ocpp", "CS1"), 3)
    ctx = tls_context(Settings("wss://h/ocpp", "CS1"), 2)
    assert ctx is not None and ctx.check_hostname


@pytest.mark.system
def test_timers_run_while_the_csms_is_unreachable(tmp_path: Path) -> None:
    """A published charging limit expires on time although no connection comes up."""
    import asyncio
    import socket
    import time

    from host.ocpp.driver import StationDriver
    from host.ocpp.events import ChargingLimitChanged, Event
    from host.ocpp.store import iso_time

    from .helpers import make_station

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    st = make_station(tmp_path, smart=True)
    st.model.set_own(Component("OCPPCommCtrlr"), Variable("RetryBackOffWaitMinimum"), "30")
    now = float(int(time.time()))  # whole: startSchedule carries milliseconds only
    assert st.smart is not None
    st.smart.set_profile(1, {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                             "chargingProfileKind": "Absolute", "chargingSchedule": [{
                                 "id": 1, "chargingRateUnit": "W", "startSchedule": iso_time(now),
                                 "duration": 1, "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1000}]}]})  # fmt: skip
    st.publish_limits(now)
    got: list[Event] = []
    driver = StationDriver(st, Settings(f"ws://127.0.0.1:{port}", "CS1"), on_event=got.append)

    async def run() -> None:
        task = asyncio.create_task(driver.run())
        deadline = time.monotonic() + 20  # a hang guard; the expiry is after ~1 s
        while sum(isinstance(e, ChargingLimitChanged) and e.evse_id == 1 for e in got) < 2:
            assert time.monotonic() < deadline, got
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())
    limits = [e.limit_w for e in got if isinstance(e, ChargingLimitChanged) and e.evse_id == 1]
    assert limits == [1000, 11000]
    assert driver.connects == 0


def _tls_error(reason: str) -> ssl.SSLError:
    e = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower()}")
    e.reason = reason  # what OpenSSL fills in on a real handshake
    return e


def test_connection_failures_raise_one_security_event_per_kind_until_connected(tmp_path: Path) -> None:
    from .helpers import T0, make_station

    st = make_station(tmp_path)
    driver = StationDriver(st, Settings("wss://csms.example/ocpp", "CS1"), clock=lambda: T0)
    driver._log_failure(_tls_error("UNSUPPORTED_PROTOCOL"))
    driver._log_failure(_tls_error("TLSV1_ALERT_PROTOCOL_VERSION"))  # the same kind again: not stored
    driver._log_failure(_tls_error("SSLV3_ALERT_BAD_CERTIFICATE"))
    driver._log_failure(ConnectionRefusedError(111, "refused"))  # not a security matter
    kinds = [p["type"] for p, _ in st.queue.messages("SecurityEventNotification")]
    assert kinds == ["InvalidTLSVersion", "FailedToAuthenticateAtCsms"]
    driver._raised.clear()  # what a successful connection does
    driver._log_failure(_tls_error("UNSUPPORTED_PROTOCOL"))
    assert len(st.queue.messages("SecurityEventNotification")) == 3
