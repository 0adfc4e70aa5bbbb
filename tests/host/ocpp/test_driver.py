"""Pure parts of the driver: back-off, URL, Basic auth, TLS settings per security profile."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from host.ocpp.backoff import Backoff
from host.ocpp.devmodel import Component, DeviceModel, Variable
from host.ocpp.driver import ConfigError, Settings, basic_auth, connection_url, tls_context
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
