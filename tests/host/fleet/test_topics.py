from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.fleet import topics
from host.fleet.topics import DrEvent, PayloadError, Setpoint, Telemetry


def test_payloads_round_trip() -> None:
    t = Telemetry("c1", "f1", 7, 1000.5, -3500.0, 11000.0, 7400.0, soc=0.8, faults=("F-030",))
    assert topics.decode_telemetry(t.encode()) == t
    sp = Setpoint("c1", "ev1", "target", -3500.0, 1000.0, 1900.0)
    assert topics.decode_setpoint(sp.encode()) == sp
    dr = DrEvent("ev1", "f1", -50_000.0, 1000.0, 900.0)
    assert topics.decode_dr(dr.encode()) == dr and dr.end == 1900.0


@pytest.mark.parametrize(("body", "field"), [
    (b"{", "not JSON"),
    (b"[]", "not a JSON object"),
    (json.dumps({"v": 2}).encode(), "v: 2"),
    (json.dumps({"v": 1, "id": "e", "feeder": "f", "target_w": "x", "start": 1,
                 "duration_s": 5}).encode(), "target_w"),
    (json.dumps({"v": 1, "id": "e", "feeder": "f/g", "target_w": 1, "start": 1,
                 "duration_s": 5}).encode(), "feeder"),
    (json.dumps({"v": 1, "id": "e", "feeder": "f", "target_w": 1e400, "start": 1,
                 "duration_s": 5}).encode(), "target_w"),
    (json.dumps({"v": 1, "id": "e", "feeder": "f", "target_w": 1, "start": 1,
                 "duration_s": -5}).encode(), "duration_s"),
])  # fmt: skip
def test_bad_dr_event_names_the_field(body: bytes, field: str) -> None:
    with pytest.raises(PayloadError, match=field):
        topics.decode_dr(body)


def test_bad_setpoint_kind_and_expiry() -> None:
    good = json.loads(Setpoint("c1", "e", "target", 1.0, 10.0, 20.0).encode())
    with pytest.raises(PayloadError, match="kind"):
        topics.decode_setpoint(json.dumps(good | {"kind": "maybe"}).encode())
    with pytest.raises(PayloadError, match="expires before issued"):
        topics.decode_setpoint(json.dumps(good | {"expires": 5.0}).encode())


def test_telemetry_seq_must_be_a_positive_integer() -> None:
    good = json.loads(Telemetry("c1", "f1", 1, 1.0, 0.0, 1.0, 0.0).encode())
    for seq in (0, 1.5, True, None):
        with pytest.raises(PayloadError, match="seq"):
            topics.decode_telemetry(json.dumps(good | {"seq": seq}).encode())


def test_topic_levels_refuse_wildcards() -> None:
    assert topics.telemetry_topic("f1", "c1") == "v2g/f1/c1/telemetry"
    assert topics.shared("fog", topics.ALL_TELEMETRY) == "$share/fog/v2g/+/+/telemetry"
    for bad in ("", "a/b", "a+", "#", "x" * 65):
        with pytest.raises(PayloadError):
            topics.setpoint_topic("f1", bad)


@given(st.binary(max_size=300) | st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=12),
    max_leaves=30).map(lambda v: json.dumps(v).encode()))  # fmt: skip
def test_any_input_gives_a_payload_or_payload_error(data: bytes) -> None:
    for decode in (topics.decode_telemetry, topics.decode_setpoint, topics.decode_dr):
        try:
            decode(data)
        except PayloadError:
            pass


@pytest.mark.parametrize("data", [
    # a 400-digit integer parses as a Python int that no float can hold
    b'{"v":1,"charger":"c1","event":"e","kind":"target","issued":1,"expires":2,"setpoint_w":1'
    + b"0" * 400 + b"}",
    b"[" * 100_000,  # nesting deeper than the JSON parser's recursion
])  # fmt: skip
def test_huge_numbers_and_deep_nesting_are_payload_errors(data: bytes) -> None:
    # anything else escapes the receivers' `except PayloadError` and ends the fog node
    for decode in (topics.decode_telemetry, topics.decode_setpoint, topics.decode_dr):
        with pytest.raises(PayloadError):
            decode(data)


def test_numbers_beyond_a_database_integer_are_refused() -> None:
    # the outbox deletes by number in SQLite: a larger one raised OverflowError there,
    # which ended the charger's session loop (a crafted ack, or a crafted record the fog
    # then acknowledged back to the charger)
    big = 2**63
    ack = json.dumps({"v": 1, "charger": "c1", "ranges": [[1, big]]}).encode()
    with pytest.raises(PayloadError, match="ranges"):
        topics.decode_ack(ack)
    record = Telemetry("c1", "f1", big, 1000.0, 0.0, 11000.0, 7400.0).encode()
    with pytest.raises(PayloadError, match="seq"):
        topics.decode_telemetry(record)
    top = topics.decode_ack(json.dumps({"v": 1, "charger": "c1", "ranges": [[1, big - 1]]}).encode())
    assert top.ranges == ((1, big - 1),)
