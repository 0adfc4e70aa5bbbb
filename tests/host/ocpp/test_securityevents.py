"""SecurityEventNotification (A04): raised where the station detects the condition, kept on
disk until acknowledged, sent in order after the TransactionEvents recorded before it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from host.ocpp import rpc
from host.ocpp.events import CallAnswered
from host.ocpp.securityevents import notification
from host.ocpp.txqueue import PENDING, SENT

from .helpers import T0, accepted, answer, boot_ok, events, make_station, one, sent


@pytest.mark.parametrize("sub", ["ocpp2.0.1", "ocpp2.1"])
def test_event_kept_offline_and_sent_after_boot_schema_valid(tmp_path: Path, sub: str) -> None:
    st = make_station(tmp_path)
    st.security_event("FailedToAuthenticateAtCsms", T0, "HTTP 401 at the websocket upgrade")
    assert st.queue.messages("SecurityEventNotification")[0][1] == PENDING
    st.connection_made(sub, T0 + 5)
    boot = one(st)
    assert boot[2] == "BootNotification"  # nothing before the boot is accepted
    answer(st, boot, boot_ok(boot), T0 + 5)
    frame = one(st)
    assert frame[2] == "SecurityEventNotification"
    assert frame[3] == {"type": "FailedToAuthenticateAtCsms", "timestamp": "2027-01-15T08:00:00.000Z",
                        "techInfo": "HTTP 401 at the websocket upgrade"}  # fmt: skip
    version = rpc.VERSION_OF[sub]
    assert rpc.schema_error(rpc.CALL, frame[2], frame[3], version) is None
    answer(st, frame, {}, T0 + 6)
    assert st.queue.messages("SecurityEventNotification")[0][1] == SENT
    assert any(isinstance(e, CallAnswered) and e.action == "SecurityEventNotification"
               for e in events(st))  # fmt: skip
    assert sent(st) == []


def test_event_survives_a_restart_and_keeps_its_place_among_transaction_events(tmp_path: Path) -> None:
    st = make_station(tmp_path)
    st.transaction_started("tx-1", now=T0, trigger_reason="Authorized", evse_id=1)
    st.security_event("InvalidCsmsCertificate", T0 + 1, "certificate has expired")
    st.transaction_updated("tx-1", now=T0 + 2, trigger_reason="MeterValuePeriodic")
    st.queue.db.close()  # the process dies; a new one opens the same file
    st = make_station(tmp_path)
    st.connection_made("ocpp2.0.1", T0 + 10)
    boot = one(st)
    answer(st, boot, boot_ok(boot), T0 + 10)
    order = []
    for _ in range(3):
        frame = one(st)
        order.append((frame[2], frame[3].get("type") or frame[3]["seqNo"]))
        answer(st, frame, {}, T0 + 11)
    assert order == [("TransactionEvent", 0), ("SecurityEventNotification", "InvalidCsmsCertificate"),
                     ("TransactionEvent", 1)]  # fmt: skip
    assert st.queue.pending_count() == 0


def test_lost_connection_resends_the_event(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    st.security_event("InvalidTLSVersion", T0 + 1)
    first = one(st)
    st.connection_lost(T0 + 2)
    st.connection_made("ocpp2.0.1", T0 + 3)
    again = one(st)
    assert again[1:] == first[1:]  # same MessageId and payload
    assert "techInfo" not in again[3]


def test_security_variables_changed_raise_reconfiguration(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    items = [{"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
              "attributeValue": "a-new-password-0123"},
             {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
              "attributeValue": "60"}]  # fmt: skip
    st.receive(json.dumps([2, "s1", "SetVariables", {"setVariableData": items}]), T0 + 1)
    frames = sent(st)
    assert [r["attributeStatus"] for r in frames[0][2]["setVariableResult"]] == ["Accepted"] * 2
    assert frames[1][3]["type"] == "ReconfigurationOfSecurityParameters"
    assert "BasicAuthPassword" in frames[1][3]["techInfo"]
    assert "a-new-password" not in json.dumps(frames[1])  # never the secret itself


def test_other_variables_raise_nothing(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    items = [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
              "attributeValue": "60"}]  # fmt: skip
    st.receive(json.dumps([2, "s1", "SetVariables", {"setVariableData": items}]), T0 + 1)
    assert [f[0] for f in sent(st)] == [3]


def test_unknown_kind_and_long_tech_info() -> None:
    with pytest.raises(ValueError):
        notification("SomethingHappened", T0)
    assert len(notification("InvalidMessages", T0, "x" * 400)["techInfo"]) == 255


def test_rejected_boot_is_logged_and_raises_no_event(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    st = make_station(tmp_path)
    st.connection_made("ocpp2.0.1", T0)
    boot = one(st)
    answer(st, boot, boot_ok(boot, interval=120, status="Rejected"), T0)
    assert "OCPP BootNotification Rejected by the CSMS: only the boot is sent, again in 120 s" in caplog.text
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert st.queue.messages("SecurityEventNotification") == []
