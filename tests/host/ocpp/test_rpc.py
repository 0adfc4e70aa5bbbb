"""OCPP-J framing and schema checks."""

from __future__ import annotations

import pytest

from host.ocpp import rpc


def test_frames_round_trip() -> None:
    call = rpc.parse_frame(rpc.push_call("a1", "Heartbeat", {}), "2.0.1", max_size=1000)
    assert call == rpc.Call("a1", "Heartbeat", {})
    res = rpc.parse_frame(rpc.push_result("a1", {"currentTime": "x"}), "2.0.1", max_size=1000)
    assert res == rpc.CallResult("a1", {"currentTime": "x"})
    err = rpc.parse_frame(rpc.push_error("a1", "NotSupported", "no"), "2.0.1", max_size=1000)
    assert err == rpc.CallError("a1", "NotSupported", "no", {})
    cre = rpc.push_error("a1", "FormatViolation", "x" * 300, kind=rpc.CALLRESULTERROR)
    parsed = rpc.parse_frame(cre, "2.1", max_size=1000)
    assert isinstance(parsed, rpc.CallResultError) and len(parsed.description) == 255
    assert isinstance(rpc.parse_frame('[6,"s","X",{}]', "2.1", max_size=100), rpc.Send)
    with pytest.raises(rpc.RpcError) as e:
        rpc.parse_frame('[6,"s","X",{}]', "2.0.1", max_size=100)
    assert e.value.code == "MessageTypeNotSupported" and e.value.msg_id == "s"


def test_non_ascii_is_sent_as_utf8_text() -> None:
    assert rpc.push_call("a", "DataTransfer", {"vendorId": "é"}) == '[2,"a","DataTransfer",{"vendorId":"é"}]'


def test_known_actions_differ_by_version() -> None:
    assert {"GetVariables", "TransactionEvent", "Reset"} <= rpc.known_actions("2.0.1")
    assert "SetDERControl" in rpc.known_actions("2.1")
    assert "SetDERControl" not in rpc.known_actions("2.0.1")


@pytest.mark.parametrize(
    "payload, code",
    [
        ({"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}}, None),
        ({"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
        ({"reason": "Sunburn", "chargingStation": {"model": "m", "vendorName": "v"}}, "PropertyConstraintViolation"),
        ({"reason": 1, "chargingStation": {"model": "m", "vendorName": "v"}}, "TypeConstraintViolation"),
        ({"reason": "PowerUp", "chargingStation": {"model": "m" * 21, "vendorName": "v"}}, "TypeConstraintViolation"),
        ({"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}, "x": 1}, "FormatViolation"),
    ],
)  # fmt: skip
def test_schema_error_codes(payload: dict, code: str | None) -> None:
    for version in ("2.0.1", "2.1"):
        got = rpc.schema_error(rpc.CALL, "BootNotification", payload, version)
        assert (got[0] if got else None) == code
