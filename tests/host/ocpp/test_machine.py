"""The station connection machine with fake time: boot, heartbeat, one CALL at a time,
the transaction queue over connection loss, retries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocpp.messages import get_validator

from host.ocpp.events import (
    BootAnswered,
    CallFailed,
    HeartbeatAnswered,
    TransactionEventAbandoned,
    TransactionEventDelivered,
    VariablesChanged,
)
from host.ocpp.machine import DEFAULT_BOOT_RETRY, LocalProtocolError, Registration, Route
from host.ocpp.txqueue import MeterValue, SampledValue

from .helpers import T0, accepted, answer, boot_ok, events, make_station, one, sent


def start_tx(st, tx: str = "t1", now: float = T0):
    mv = MeterValue(now, (SampledValue(100.0, context="Transaction.Begin"),))
    return st.transaction_started(tx, now=now, trigger_reason="Authorized", evse_id=1,
                                  meter_values=[mv])  # fmt: skip


def update_tx(st, tx: str = "t1", now: float = T0):
    mv = MeterValue(now, (SampledValue(now - T0, context="Sample.Periodic"),))
    return st.transaction_updated(tx, now=now, trigger_reason="MeterValuePeriodic", meter_values=[mv])


def test_boot_first_valid_and_alone(tmp_path: Path) -> None:
    st = make_station(tmp_path)
    start_tx(st)  # recorded before any connection: offline
    st.connection_made("ocpp2.0.1", T0)
    frame = one(st)
    assert frame[:3] == [2, "m1", "BootNotification"]
    get_validator(2, "BootNotification", "2.0.1").validate(frame[3])
    assert frame[3]["chargingStation"] == {"model": "v2gate-test", "vendorName": "v2gate", "serialNumber": "SN1"}
    update_tx(st, now=T0 + 1)
    assert sent(st) == []  # one CALL outstanding, and nothing before the boot is accepted


def test_accepted_sets_heartbeat_interval_and_heartbeats(tmp_path: Path) -> None:
    st = make_station(tmp_path)
    st.connection_made("ocpp2.1", T0)
    frame = one(st)
    answer(st, frame, boot_ok(frame, interval=60), T0 + 0.5)
    assert events(st) == [BootAnswered("Accepted", 60, "2027-01-15T08:00:00.000Z")]
    assert st.registration is Registration.ACCEPTED
    assert st.model.integer("OCPPCommCtrlr", "HeartbeatInterval") == 60
    assert st.get_timer() == T0 + 60.5
    st.handle_timer(T0 + 60.4)
    assert sent(st) == []
    st.handle_timer(T0 + 60.5)
    hb = one(st)
    assert hb[2:] == ["Heartbeat", {}]
    answer(st, hb, {"currentTime": "2027-01-15T08:01:00.000Z"}, T0 + 61)
    assert events(st) == [HeartbeatAnswered("2027-01-15T08:01:00.000Z")]
    assert st.get_timer() == T0 + 120.5


def test_pending_retries_boot_and_sends_nothing_else(tmp_path: Path) -> None:
    st = make_station(tmp_path)
    st.connection_made("ocpp2.0.1", T0)
    frame = one(st)
    answer(st, frame, boot_ok(frame, interval=20, status="Pending"), T0)
    start_tx(st, now=T0 + 1)
    st.handle_timer(T0 + 19.9)
    assert sent(st) == []
    # the CSMS may configure a Pending station
    st.receive(json.dumps([2, "c1", "GetVariables", {"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}]), T0 + 5)  # fmt: skip
    reply = one(st)
    assert reply[0] == 3 and reply[2]["getVariableResult"][0]["attributeValue"] == "300"
    st.handle_timer(T0 + 20)
    again = one(st)
    assert again[2] == "BootNotification" and again[1] != frame[1]
    answer(st, again, boot_ok(again), T0 + 21)
    tx = one(st)
    assert tx[2] == "TransactionEvent" and tx[3]["seqNo"] == 0
    assert "offline" not in tx[3]  # recorded while connected (though not yet accepted)


def test_rejected_waits_the_interval(tmp_path: Path) -> None:
    st = make_station(tmp_path)
    st.connection_made("ocpp2.0.1", T0)
    frame = one(st)
    answer(st, frame, boot_ok(frame, interval=0, status="Rejected"), T0)
    assert st.registration is Registration.REJECTED
    st.connection_lost(T0 + 1)
    st.connection_made("ocpp2.0.1", T0 + 2)  # a reconnect does not cut the wait short
    assert sent(st) == []
    st.handle_timer(T0 + DEFAULT_BOOT_RETRY)
    assert one(st)[2] == "BootNotification"


@pytest.mark.parametrize("how", ["timeout", "callerror", "invalid"])
def test_boot_failure_is_retried(tmp_path: Path, how: str) -> None:
    st = make_station(tmp_path)
    st.connection_made("ocpp2.0.1", T0)
    frame = one(st)
    if how == "timeout":
        st.handle_timer(T0 + 30)
    elif how == "callerror":
        st.receive(json.dumps([4, frame[1], "InternalError", "boom", {}]), T0 + 1)
    else:
        st.receive(json.dumps([3, frame[1], {"status": "Maybe"}]), T0 + 1)
    (failed,) = events(st)
    assert isinstance(failed, CallFailed) and failed.action == "BootNotification"
    assert sent(st) == []
    st.handle_timer(st.get_timer() or 0)
    assert one(st)[2] == "BootNotification"


def test_transaction_events_flow_one_at_a_time_in_order(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    a = start_tx(st)
    b = update_tx(st, now=T0 + 1)
    first = one(st)
    assert first[1] == a.msg_id and first[3] == a.payload
    get_validator(2, "TransactionEvent", "2.0.1").validate(first[3])
    answer(st, first, {}, T0 + 2)
    assert events(st) == [TransactionEventDelivered("t1", 0, {})]
    second = one(st)
    assert second[1] == b.msg_id and second[3]["seqNo"] == 1
    answer(st, second, {"idTokenInfo": {"status": "Accepted"}}, T0 + 3)
    assert events(st) == [TransactionEventDelivered("t1", 1, {"idTokenInfo": {"status": "Accepted"}})]
    assert st.queue.head() is None


def test_offline_events_are_flagged_and_replayed_after_reconnect_without_boot(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    start_tx(st)
    inflight = one(st)
    st.connection_lost(T0 + 1)  # the CALLRESULT never came
    update_tx(st, now=T0 + 2)
    st.transaction_ended("t1", now=T0 + 3, trigger_reason="EVCommunicationLost", stopped_reason="EVDisconnected")
    assert sent(st) == []
    st.connection_made("ocpp2.1", T0 + 10)
    seen = []
    while frames := sent(st):
        (f,) = frames
        seen.append(f)
        answer(st, f, {}, T0 + 11)
    assert [f[2] for f in seen] == ["TransactionEvent"] * 3  # no BootNotification again
    assert seen[0][1] == inflight[1]  # resent with its MessageId: the CSMS can spot the repeat
    assert [(f[3]["seqNo"], f[3].get("offline")) for f in seen] == [(0, None), (1, True), (2, True)]


def test_callerror_retries_then_abandons(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    st.model.set_own(*_comm("MessageAttemptsTransactionEvent"), "3")
    st.model.set_own(*_comm("MessageAttemptIntervalTransactionEvent"), "10")
    start_tx(st)
    update_tx(st, now=T0 + 1)
    now = T0
    for attempt in (1, 2):
        f = one(st)
        assert f[3]["seqNo"] == 0
        st.receive(json.dumps([4, f[1], "InternalError", "db down", {}]), now)
        assert sent(st) == []
        assert st.get_timer() == now + 10 * attempt  # the interval times the attempts so far
        now += 10 * attempt
        st.handle_timer(now)
    f = one(st)
    st.handle_timer(now + 30)  # third attempt times out
    evs = events(st)
    assert TransactionEventAbandoned("t1", 0, "Timeout: no response within MessageTimeout") in evs
    assert one(st)[3]["seqNo"] == 1


def test_unmatched_and_late_responses_are_ignored(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    start_tx(st)
    f = one(st)
    st.receive(json.dumps([3, "other", {}]), T0 + 1)
    assert st.ignored == 1 and st.queue.head() is not None
    st.handle_timer(T0 + 30)  # timeout: retried later, the late answer no longer counts
    st.receive(json.dumps([3, f[1], {}]), T0 + 31)
    assert st.ignored == 2 and st.queue.pending_count() == 1


def test_invalid_result_is_not_an_acknowledgement(tmp_path: Path) -> None:
    st = accepted(tmp_path, subprotocol="ocpp2.1")
    start_tx(st)
    f = one(st)
    st.receive(json.dumps([3, f[1], {"totalCost": "free"}]), T0 + 1)
    reply = one(st)  # 2.1: CALLRESULTERROR
    assert reply[:3] == [5, f[1], "TypeConstraintViolation"]
    assert st.queue.pending_count() == 1


def test_set_variables_from_csms_changes_the_heartbeat(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    st.receive(json.dumps([2, "c1", "SetVariables", {"setVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "15"},
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"}, "attributeValue": "3"}]}]), T0)  # fmt: skip
    reply = one(st)
    assert [r["attributeStatus"] for r in reply[2]["setVariableResult"]] == ["Accepted", "Rejected"]
    assert events(st) == [VariablesChanged((("OCPPCommCtrlr", "HeartbeatInterval"),))]
    st.handle_timer(T0 + 300)
    hb = one(st)
    answer(st, hb, {"currentTime": "2027-01-15T08:01:00.000Z"}, T0 + 300)
    assert st.get_timer() == T0 + 315


def test_calls_wait_for_registration(tmp_path: Path) -> None:
    st = make_station(tmp_path)
    payload = {"timestamp": "2027-01-15T08:00:00.000Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    st.call("StatusNotification", payload, T0)
    st.connection_made("ocpp2.0.1", T0)
    boot = one(st)
    answer(st, boot, boot_ok(boot), T0)
    f = one(st)
    assert f[2:] == ["StatusNotification", payload]


def test_a_call_lost_with_the_connection_is_reported(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    payload = {"timestamp": "2027-01-15T08:00:00.000Z", "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
    st.call("StatusNotification", payload, T0)
    assert one(st)[2] == "StatusNotification"
    st.connection_lost(T0 + 1)
    assert events(st) == [CallFailed("StatusNotification", "ConnectionLost", "no response before the loss")]
    st.connection_made("ocpp2.0.1", T0 + 2)
    assert sent(st) == []  # not resent by the machine


def test_an_invalid_call_of_ours_is_reported_not_sent(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    st.call("StatusNotification", {"evseId": "one"}, T0)
    assert sent(st) == []
    (failed,) = events(st)
    assert isinstance(failed, CallFailed) and failed.action == "StatusNotification"


def test_unknown_subprotocol_is_refused(tmp_path: Path) -> None:
    st = make_station(tmp_path)
    with pytest.raises(LocalProtocolError):
        st.connection_made("ocpp1.6", T0)
    with pytest.raises(LocalProtocolError):
        st.receive("[]", T0)


def _comm(name: str):
    from host.ocpp.devmodel import Component, Variable

    return Component("OCPPCommCtrlr"), Variable(name)


def test_reset_on_idle_waits_for_the_transaction_immediate_does_not(tmp_path: Path) -> None:
    from host.ocpp.events import ResetRequested

    st = accepted(tmp_path)
    st.receive(json.dumps([2, "r1", "Reset", {"type": "OnIdle"}]), T0)
    assert sent(st) == [[3, "r1", {"status": "Accepted"}]]
    assert events(st) == [ResetRequested("OnIdle", False)]
    start_tx(st)
    sent(st)
    st.receive(json.dumps([2, "r2", "Reset", {"type": "OnIdle"}]), T0)
    st.receive(json.dumps([2, "r3", "Reset", {"type": "Immediate"}]), T0)
    st.receive(json.dumps([2, "r4", "Reset", {"type": "Immediate", "evseId": 1}]), T0)
    frames = sent(st)
    assert [f[2]["status"] for f in frames] == ["Scheduled", "Accepted", "Rejected"]
    assert events(st) == [ResetRequested("OnIdle", True), ResetRequested("Immediate", False)]


def test_a_waited_call_from_a_handler_follows_its_answer_and_a_callerror_reaches_both(tmp_path: Path) -> None:
    """The merged machine: call_with_result made while a CSMS request is handled goes out
    after that request's answer (the _answering hold-back); its CALLERROR reaches the
    waiter and is a CallFailed event carrying the request."""
    st = accepted(tmp_path, "ocpp2.1")
    got: list = []
    status = {"ocspRequestData": {"hashAlgorithm": "SHA256", "issuerNameHash": "aa", "issuerKeyHash": "bb",
                                  "serialNumber": "1", "responderURL": "http://ocsp.example/"}}  # fmt: skip

    def handle(req: dict, now: float) -> dict:
        st.call_with_result("GetCertificateStatus", status, now, lambda res, why: got.append((res, why)))
        return {"status": "Accepted"}

    st.add_routes({"ClearCache": Route(lambda obj: obj, handle)})
    st.receive(json.dumps([2, "c1", "ClearCache", {}]), T0)
    answer_frame, call = sent(st)
    assert answer_frame == [3, "c1", {"status": "Accepted"}]
    assert call[2] == "GetCertificateStatus" and call[3] == status
    st.receive(json.dumps([4, call[1], "InternalError", "responder down", {}]), T0)
    assert got == [(None, "InternalError: responder down")]
    assert [e for e in events(st) if isinstance(e, CallFailed)] == [
        CallFailed("GetCertificateStatus", "InternalError", "responder down", status)]
