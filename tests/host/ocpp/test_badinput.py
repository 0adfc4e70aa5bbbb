"""Bad input from the CSMS: each frame gets the CALLERROR Part 4 asks for, or is dropped
(SEND), and the machine never raises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_

from host.ocpp import rpc
from host.ocpp.events import RequestRefused

from .helpers import T0, accepted, events, sent

# Part 4 §4.3, Table 9
CODES = {"FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported",
         "NotImplemented", "NotSupported", "OccurrenceConstraintViolation",
         "PropertyConstraintViolation", "ProtocolError", "RpcFrameworkError", "SecurityError",
         "TypeConstraintViolation"}  # fmt: skip

HB = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}


def gv(*items) -> str:
    return json.dumps([2, "c1", "GetVariables", {"getVariableData": list(items)}])


CASES = [
    ("not json", "{oops", "-1", "RpcFrameworkError"),
    ("bad utf-8", b"\xff\xfe[2]", "-1", "RpcFrameworkError"),
    ("empty array", "[]", "-1", "RpcFrameworkError"),
    ("object", '{"a": 1}', "-1", "RpcFrameworkError"),
    ("type not a number", '["2", "c1", "Heartbeat", {}]', "-1", "RpcFrameworkError"),
    ("id not a string", '[2, 5, "Heartbeat", {}]', "-1", "RpcFrameworkError"),
    ("id too long", json.dumps([2, "x" * 37, "Heartbeat", {}]), "-1", "RpcFrameworkError"),
    ("unknown message type", '[7, "c1", "Heartbeat", {}]', "c1", "MessageTypeNotSupported"),
    ("SEND on 2.0.1", '[6, "c1", "NotifyPeriodicEventStream", {}]', "c1", "MessageTypeNotSupported"),
    ("CALL missing payload", '[2, "c1", "GetVariables"]', "c1", "RpcFrameworkError"),
    ("action not a string", '[2, "c1", 12, {}]', "c1", "RpcFrameworkError"),
    ("payload not an object", '[2, "c1", "GetVariables", []]', "c1", "FormatViolation"),
    ("unknown action", '[2, "c1", "MakeCoffee", {}]', "c1", "NotImplemented"),
    ("known, unsupported", '[2, "c1", "UnlockConnector", {"evseId": 1, "connectorId": 1}]', "c1", "NotSupported"),
    ("missing required", '[2, "c1", "GetVariables", {}]', "c1", "OccurrenceConstraintViolation"),
    ("empty list", gv(), "c1", "OccurrenceConstraintViolation"),
    ("wrong type", '[2, "c1", "GetVariables", {"getVariableData": "all"}]', "c1", "TypeConstraintViolation"),
    ("too long", gv({**HB, "component": {"name": "C" * 51}}), "c1", "TypeConstraintViolation"),
    ("unknown field", gv({**HB, "colour": "red"}), "c1", "FormatViolation"),
    ("bad enum", gv({**HB, "attributeType": "Average"}), "c1", "PropertyConstraintViolation"),
    ("too many items", gv(*[HB] * 33), "c1", "OccurrenceConstraintViolation"),
]


@pytest.mark.parametrize("frame", ['[3, "m9"]', '[4, "m9", "X"]', '[3, "m9", {"a": "' + "A" * 300 + '"}]'])
@pytest.mark.parametrize("subprotocol", ["ocpp2.0.1", "ocpp2.1"])
def test_broken_responses_get_no_callerror(tmp_path: Path, frame: str, subprotocol: str) -> None:
    st = accepted(tmp_path, subprotocol=subprotocol, max_frame=200)
    st.receive(frame, T0)
    replies = sent(st)
    if subprotocol == "ocpp2.1" and frame.startswith("[3"):
        assert [r[:3] for r in replies] == [[5, "m9", "RpcFrameworkError"]]
    else:
        assert replies == []
    assert [e.code for e in events(st)] == ["RpcFrameworkError"]


@pytest.mark.parametrize("name, frame, msg_id, code", CASES, ids=[c[0] for c in CASES])
def test_bad_frames_answered(tmp_path: Path, name: str, frame: str | bytes, msg_id: str, code: str) -> None:
    st = accepted(tmp_path)
    st.receive(frame, T0)
    (reply,) = sent(st)
    assert reply[:3] == [4, msg_id, code]
    assert isinstance(reply[3], str) and len(reply[3]) <= 255 and reply[4] == {}
    assert code in CODES
    (refused,) = events(st)
    assert isinstance(refused, RequestRefused) and refused.code == code


def test_send_on_21_is_dropped_unanswered(tmp_path: Path) -> None:
    st = accepted(tmp_path, subprotocol="ocpp2.1")
    st.receive('[6, "s1", "NotifyPeriodicEventStream", {"id": 1, "pending": 0, "basetime": "x", "data": []}]', T0)
    assert sent(st) == []
    assert [e.code for e in events(st) if isinstance(e, RequestRefused)] == ["NotImplemented"]


def test_unknown_action_on_21_is_answered(tmp_path: Path) -> None:
    """The `ocpp` package sends nothing for unhandled actions on 2.1; we must answer."""
    st = accepted(tmp_path, subprotocol="ocpp2.1")
    st.receive('[2, "c1", "MakeCoffee", {}]', T0)
    st.receive('[2, "c2", "SetDERControl", {}]', T0)
    assert [f[:3] for f in sent(st)] == [[4, "c1", "NotImplemented"], [4, "c2", "NotSupported"]]


def test_duplicate_call_id_is_refused(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    st.receive(gv(HB), T0)
    st.receive(gv(HB), T0)
    first, second = sent(st)
    assert first[0] == 3
    assert second[:3] == [4, "c1", "RpcFrameworkError"]


def test_ten_megabyte_frame_is_refused_without_parsing(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    huge = '[2, "big1", "DataTransfer", {"vendorId": "x", "data": "' + "A" * 10_000_000 + '"}]'
    st.receive(huge, T0)
    (reply,) = sent(st)
    assert reply[:3] == [4, "big1", "RpcFrameworkError"]
    st.receive(gv(HB), T0)  # and the connection goes on
    assert sent(st)[0][0] == 3


def test_the_frame_cap_is_configurable(tmp_path: Path) -> None:
    st = accepted(tmp_path, max_frame=200)
    st.receive(gv(*[HB] * 3), T0)
    assert sent(st)[0][:3] == [4, "c1", "RpcFrameworkError"]


def test_deeply_nested_json(tmp_path: Path) -> None:
    st = accepted(tmp_path, max_frame=1 << 22)
    st.receive("[" * 200_000 + "]" * 200_000, T0)
    assert sent(st)[0][:3] == [4, "-1", "RpcFrameworkError"]


def test_peek_head() -> None:
    assert rpc.peek_head('[2, "abc", "X", {') == (2, "abc")
    assert rpc.peek_head('[2, 1, "X"') == (None, "-1")


@settings(max_examples=300, deadline=None)
@given(st_.one_of(
    st_.binary(max_size=200),
    st_.text(max_size=200),
    st_.recursive(st_.none() | st_.booleans() | st_.integers() | st_.text(max_size=8),
                  lambda kids: st_.lists(kids, max_size=5) | st_.dictionaries(st_.text(max_size=5), kids, max_size=4),
                  max_leaves=20).map(json.dumps),
    st_.tuples(st_.sampled_from([2, 3, 4, 5, 6]), st_.text(max_size=40),
               st_.sampled_from(["GetVariables", "SetVariables", "Reset", "X"]),
               st_.dictionaries(st_.text(max_size=20), st_.integers() | st_.text(max_size=5), max_size=3)).map(
        lambda t: json.dumps(list(t))),
))  # fmt: skip
def test_random_input_never_raises_and_gets_at_most_one_answer(tmp_path_factory, data: str | bytes) -> None:
    # one station for all examples (a database per example is slow); its state only grows
    global _STATION
    if _STATION is None:
        _STATION = accepted(tmp_path_factory.mktemp("fuzz"), subprotocol="ocpp2.1")
    st = _STATION
    st.receive(data, T0)
    frames = sent(st)
    assert len(frames) <= 1
    for f in frames:
        assert f[0] in (3, 4, 5)
        if f[0] == 4:
            assert f[2] in CODES


_STATION = None
