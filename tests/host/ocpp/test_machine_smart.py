"""Smart charging through the connection machine with fake time: the four K actions as
the CSMS sends them, every answer schema-valid, and the limit published with its expiry."""

from __future__ import annotations

import json
from pathlib import Path

from host.ocpp import rpc
from host.ocpp.events import ChargingLimitChanged, RequestRefused
from host.ocpp.store import iso_time

from .helpers import T0, accepted, answer, events, sent


def call(st, msg_id: str, action: str, payload: dict, now: float = T0) -> list:
    """Send a CSMS CALL; return our CALLRESULT's payload (checked against the schema)."""
    st.receive(json.dumps([2, msg_id, action, payload]), now)
    frames = sent(st)
    assert frames[0][:2] == [3, msg_id], frames
    assert rpc.schema_error(rpc.CALLRESULT, action, frames[0][2], st.version) is None
    return frames


def tx_default(pid: int, limit: float, **extra) -> dict:
    return {"id": pid, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": pid, "chargingRateUnit": "W", "startSchedule": iso_time(T0),
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
                                  **extra}]}  # fmt: skip


def limits(st) -> list[ChargingLimitChanged]:
    return [e for e in events(st) if isinstance(e, ChargingLimitChanged)]


def test_set_profile_publishes_the_limit_and_its_expiry(tmp_path: Path) -> None:
    st = accepted(tmp_path, smart=True)
    st.publish_limits(T0)
    assert [(e.evse_id, e.limit_w, e.expires_at) for e in limits(st)] == [(1, 11000, None), (2, 11000, None)]
    frames = call(st, "c1", "SetChargingProfile",
                  {"evseId": 1, "chargingProfile": tx_default(1, 4000, duration=900)})  # fmt: skip
    assert frames[0][2] == {"status": "Accepted"}
    assert limits(st) == [ChargingLimitChanged(1, 4000, 0, None, "ChargingOnly", 3, T0 + 900)]
    st.handle_timer(T0 + 899.9)
    assert limits(st) == []
    st.handle_timer(T0 + 900)
    assert limits(st) == [ChargingLimitChanged(1, 11000, 0, None, "ChargingOnly", 3, None)]


def test_refused_profile_says_why(tmp_path: Path) -> None:
    st = accepted(tmp_path, smart=True)
    profile = dict(tx_default(1, 4000), chargingProfilePurpose="TxProfile", transactionId="nope")
    frames = call(st, "c1", "SetChargingProfile", {"evseId": 1, "chargingProfile": profile})
    assert frames[0][2]["status"] == "Rejected"
    assert frames[0][2]["statusInfo"]["reasonCode"] == "TxNotFound"


def test_tx_profile_during_a_transaction_and_gone_after(tmp_path: Path) -> None:
    st = accepted(tmp_path, smart=True)
    st.transaction_started("tx1", now=T0, trigger_reason="Authorized", evse_id=2)
    sent(st)
    events(st)
    profile = dict(tx_default(5, 2000), chargingProfilePurpose="TxProfile", transactionId="tx1")
    frames = call(st, "c1", "SetChargingProfile", {"evseId": 2, "chargingProfile": profile})
    assert frames[0][2] == {"status": "Accepted"}
    assert [(e.evse_id, e.limit_w) for e in limits(st)] == [(2, 2000)]
    st.transaction_ended("tx1", now=T0 + 5, trigger_reason="StopAuthorized", stopped_reason="Local")
    assert [(e.evse_id, e.limit_w) for e in limits(st)] == [(2, 11000)]
    assert st.smart is not None and st.smart.profiles() == []


def test_get_charging_profiles_reports_after_answering(tmp_path: Path) -> None:
    st = accepted(tmp_path, smart=True)
    call(st, "c1", "SetChargingProfile", {"evseId": 1, "chargingProfile": tx_default(1, 4000)})
    call(st, "c2", "SetChargingProfile", {"evseId": 2, "chargingProfile": tx_default(2, 5000)})
    frames = call(st, "c3", "GetChargingProfiles",
                  {"requestId": 7, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}})  # fmt: skip
    assert frames[0][2] == {"status": "Accepted"}
    report = frames[1]
    assert report[2] == "ReportChargingProfiles"
    assert rpc.schema_error(rpc.CALL, "ReportChargingProfiles", report[3], "2.0.1") is None
    assert (report[3]["evseId"], report[3]["tbc"], report[3]["chargingProfile"]) == (1, True, [tx_default(1, 4000)])
    answer(st, report, {"status": "Accepted"}, T0)
    second = sent(st)[0]
    assert (second[3]["evseId"], "tbc" in second[3], second[3]["requestId"]) == (2, False, 7)
    frames = call(st, "c4", "GetChargingProfiles",
                  {"requestId": 8, "evseId": 1, "chargingProfile": {"stackLevel": 3}})  # fmt: skip
    assert frames == [[3, "c4", {"status": "NoProfiles"}]]


def test_clear_and_composite(tmp_path: Path) -> None:
    st = accepted(tmp_path, smart=True)
    call(st, "c1", "SetChargingProfile", {"evseId": 0, "chargingProfile": tx_default(1, 6900)})
    frames = call(st, "c2", "GetCompositeSchedule", {"duration": 600, "evseId": 1, "chargingRateUnit": "A"})
    assert frames[0][2] == {"status": "Accepted", "schedule": {
        "evseId": 1, "duration": 600, "scheduleStart": iso_time(T0), "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0, "numberPhases": 3}]}}  # fmt: skip
    frames = call(st, "c3", "GetCompositeSchedule", {"duration": 600, "evseId": 9})
    assert frames[0][2] == {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEVSE"}}
    assert call(st, "c4", "ClearChargingProfile", {"chargingProfileId": 2})[0][2] == {"status": "Unknown"}
    assert call(st, "c5", "ClearChargingProfile",
                {"chargingProfileCriteria": {"evseId": 0}})[0][2] == {"status": "Accepted"}  # fmt: skip


def test_v2x_setpoint_on_a_2_1_connection(tmp_path: Path) -> None:
    st = accepted(tmp_path, "ocpp2.1", smart=True)
    st.transaction_started("tx1", now=T0, trigger_reason="Authorized", evse_id=1)
    sent(st)
    events(st)
    profile = dict(tx_default(3, 11000), chargingProfilePurpose="TxProfile", transactionId="tx1")
    profile["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(
        operationMode="CentralSetpoint", setpoint=-6000, dischargeLimit=-8000)
    assert call(st, "c1", "SetChargingProfile",
                {"evseId": 1, "chargingProfile": profile})[0][2] == {"status": "Accepted"}  # fmt: skip
    assert limits(st) == [ChargingLimitChanged(1, 11000, -8000, -6000, "CentralSetpoint", 3, None)]
    frames = call(st, "c2", "GetCompositeSchedule", {"duration": 60, "evseId": 1})
    period = frames[0][2]["schedule"]["chargingSchedulePeriod"][0]
    assert (period["operationMode"], period["setpoint"], period["dischargeLimit"]) == ("CentralSetpoint", -6000, -8000)


def test_without_smart_charging_the_actions_are_not_supported(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    st.receive(json.dumps([2, "c1", "GetCompositeSchedule", {"duration": 60, "evseId": 1}]), T0)
    assert sent(st)[0][:3] == [4, "c1", "NotSupported"]
    assert isinstance(events(st)[0], RequestRefused)
