"""SetVariableMonitoring / ClearVariableMonitoring and NotifyEvent (N04, N05, N07)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from ocpp.messages import get_validator

from host.ocpp.devmodel import Component, Variable
from host.ocpp.machine import StationConnection

from .helpers import T0, accepted, answer, make_station, sent

VERSIONS = [("ocpp2.0.1", "2.0.1"), ("ocpp2.1", "2.1")]
IDS = itertools.count(1)
EVSE1 = {"name": "EVSE", "evse": {"id": 1}}
POWER = {"name": "Power"}


def csms(st: StationConnection, action: str, payload: dict, version: str = "2.0.1") -> dict:
    """The answer to a CSMS request; any NotifyEvent it caused is left in ``st.caused``."""
    msg_id = f"csms-{next(IDS)}"
    st.receive(json.dumps([2, msg_id, action, payload]), T0)
    frame, *rest = sent(st)
    assert frame[:2] == [3, msg_id], frame
    get_validator(3, action, version).validate(frame[2])
    caused = []
    while rest:  # one CALL at a time, after the answer
        (call,) = rest
        assert call[2] == "NotifyEvent"
        get_validator(2, "NotifyEvent", version).validate(call[3])
        caused.append(call[3])
        answer(st, call, {}, T0)
        rest = sent(st)
    st.caused = caused  # type: ignore[attr-defined]
    return frame[2]


def monitor(kind: str, value: float, severity: int = 5, **kw) -> dict:
    return {"value": value, "type": kind, "severity": severity, "component": kw.pop("component", EVSE1),
            "variable": kw.pop("variable", POWER), **kw}  # fmt: skip


def statuses(result: dict) -> list[str]:
    return [r["status"] for r in result["setMonitoringResult"]]


def power(st: StationConnection, watts: float, now: float) -> list[dict]:
    """The station's update path; the NotifyEvents it caused (each answered)."""
    st.model.set_own(Component("EVSE", evse=1), Variable("Power"), f"{watts:g}", now=now)
    out = []
    frames = sent(st)
    while frames:  # one CALL outstanding at a time
        (frame,) = frames
        assert frame[2] == "NotifyEvent", frame
        out.append(frame[3])
        answer(st, frame, {}, now)
        frames = sent(st)
    return out


@pytest.mark.parametrize("subprotocol, version", VERSIONS)
def test_answers_per_monitor(tmp_path: Path, subprotocol: str, version: str) -> None:
    st = accepted(tmp_path, subprotocol)
    req = {"setMonitoringData": [
        monitor("UpperThreshold", 11000),
        monitor("UpperThreshold", 10000),  # same variable, type and severity
        monitor("LowerThreshold", 100, component={"name": "NoSuchCtrlr"}),
        monitor("LowerThreshold", 100, variable={"name": "Voltage"}),
        monitor("Periodic", 60),
        monitor("Delta", 1, component={"name": "TxCtrlr"}, variable={"name": "TxStartPoint"}),
        monitor("Delta", 0),  # not positive
        monitor("Delta", 1, id=999),  # no such monitor to replace
        monitor("LowerThreshold", 1, transaction=True),
        monitor("UpperThreshold", 5, component={"name": "OCPPCommCtrlr"},
                variable={"name": "HeartbeatInterval"}, severity=2),  # minLimit 1: fine
        monitor("LowerThreshold", 0, component={"name": "OCPPCommCtrlr"},
                variable={"name": "HeartbeatInterval"}),  # below minLimit
    ]}  # fmt: skip
    get_validator(2, "SetVariableMonitoring", version).validate(req)
    result = csms(st, "SetVariableMonitoring", req, version)
    assert statuses(result) == ["Accepted", "Duplicate", "UnknownComponent", "UnknownVariable",
                                "UnsupportedMonitorType", "UnsupportedMonitorType", "Rejected",
                                "Rejected", "Rejected", "Accepted", "Rejected"]  # fmt: skip
    # HeartbeatInterval is 300, above 5 already: reported once the monitor is set
    (event,) = st.caused  # type: ignore[attr-defined]
    assert event["eventData"][0]["actualValue"] == "300"
    assert event["eventData"][0]["variableMonitoringId"] == result["setMonitoringResult"][9]["id"]
    first, dup = result["setMonitoringResult"][:2]
    assert isinstance(first["id"], int) and "id" not in dup
    # kept on disk: a restarted station has the same monitors
    again = make_station(tmp_path)
    assert [(m["id"], m["type"], m["value"]) for m in again.monitoring.monitors()] == [
        (first["id"], "UpperThreshold", 11000), (result["setMonitoringResult"][9]["id"], "UpperThreshold", 5)]


@pytest.mark.parametrize("subprotocol, version", VERSIONS)
def test_threshold_alerts_once_and_clears_with_hysteresis(tmp_path: Path, subprotocol: str,
                                                          version: str) -> None:  # fmt: skip
    st = accepted(tmp_path, subprotocol)
    (res,) = csms(st, "SetVariableMonitoring",
                  {"setMonitoringData": [monitor("UpperThreshold", 11000)]}, version)["setMonitoringResult"]
    assert power(st, 5000, T0 + 1) == []
    (alert,) = power(st, 11500, T0 + 2)
    get_validator(2, "NotifyEvent", version).validate(alert)
    (data,) = alert["eventData"]
    assert data["trigger"] == "Alerting" and data["actualValue"] == "11500"
    assert data["variableMonitoringId"] == res["id"] and "cleared" not in data
    assert data["component"] == EVSE1 and data["variable"] == POWER
    assert data["eventNotificationType"] == "CustomMonitor"
    # hovering around the threshold, within the 1 % hysteresis: no flood
    for w in (12000, 10990, 11001, 10900, 11200):
        assert power(st, w, T0 + 3) == []
    (clear,) = power(st, 10800, T0 + 4)
    get_validator(2, "NotifyEvent", version).validate(clear)
    (cdata,) = clear["eventData"]
    assert cdata["cleared"] is True and cdata["cause"] == data["eventId"]
    assert cdata["eventId"] != data["eventId"]
    assert power(st, 10500, T0 + 5) == []
    (again,) = power(st, 11100, T0 + 6)  # a new crossing is a new event
    assert again["eventData"][0]["eventId"] not in (data["eventId"], cdata["eventId"])


def test_lower_threshold_and_delta(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    csms(st, "SetVariableMonitoring", {"setMonitoringData": [monitor("LowerThreshold", 1000),
                                                             monitor("Delta", 3000)]})  # fmt: skip
    # Power starts at 0, already below 1000: reported when the monitor is set
    (first,) = st.caused  # type: ignore[attr-defined]
    assert first["eventData"][0]["trigger"] == "Alerting" and first["eventData"][0]["actualValue"] == "0"
    events = power(st, 2000, T0 + 1)  # back above 1010: cleared
    assert [(e["eventData"][0]["trigger"], e["eventData"][0].get("cleared")) for e in events] == [
        ("Alerting", True)]
    assert power(st, 3000, T0 + 2) == []  # 3000 from the reference 0, not more than it
    (delta,) = power(st, 3001, T0 + 3)
    assert delta["eventData"][0]["trigger"] == "Delta"
    assert power(st, 5000, T0 + 4) == []  # the reference moved to 3001
    (low, d2) = power(st, 0, T0 + 5)
    assert low["eventData"][0]["trigger"] == "Alerting" and d2["eventData"][0]["trigger"] == "Delta"


def test_tripped_state_survives_a_restart(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    csms(st, "SetVariableMonitoring", {"setMonitoringData": [monitor("UpperThreshold", 11000)]})
    assert len(power(st, 12000, T0 + 1)) == 1
    st = accepted(tmp_path)  # the same database
    assert power(st, 12500, T0 + 2) == []  # no second alert for the same excursion
    (clear,) = power(st, 100, T0 + 3)
    assert clear["eventData"][0]["cleared"] is True


def test_clear_variable_monitoring(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    (res,) = csms(st, "SetVariableMonitoring",
                  {"setMonitoringData": [monitor("UpperThreshold", 11000)]})["setMonitoringResult"]
    result = csms(st, "ClearVariableMonitoring", {"id": [res["id"], 4242]})
    assert result == {"clearMonitoringResult": [{"id": res["id"], "status": "Accepted"},
                                                {"id": 4242, "status": "NotFound"}]}  # fmt: skip
    assert power(st, 12000, T0 + 1) == []  # gone
    assert st.monitoring.monitors() == []


def test_an_alert_raised_offline_is_sent_after_a_restart(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    csms(st, "SetVariableMonitoring", {"setMonitoringData": [monitor("UpperThreshold", 11000)]})
    st.connection_lost(T0 + 1)
    st.model.set_own(Component("EVSE", evse=1), Variable("Power"), "12000", now=T0 + 2)
    st = make_station(tmp_path)  # restarted before the connection came back
    st.connection_made("ocpp2.0.1", T0 + 3)
    boot = sent(st)[0]
    answer(st, boot, {"currentTime": "2027-01-15T08:00:00.000Z", "interval": 300,
                      "status": "Accepted"}, T0 + 3)  # fmt: skip
    (frame,) = sent(st)
    assert frame[2] == "NotifyEvent" and frame[3]["eventData"][0]["actualValue"] == "12000"


def test_a_crash_before_the_alert_is_queued_leaves_the_monitor_untripped(tmp_path: Path) -> None:
    """The alert is on disk before the monitor counts as tripped: a process that dies in
    between raises it again after the restart (a duplicate at worst), never loses it."""
    st = accepted(tmp_path)
    csms(st, "SetVariableMonitoring", {"setMonitoringData": [monitor("UpperThreshold", 11000)]})

    def crash(payload: dict, now: float) -> None:
        raise RuntimeError("killed while queueing")

    st.monitoring.notify = crash
    with pytest.raises(RuntimeError):
        st.model.set_own(Component("EVSE", evse=1), Variable("Power"), "12000", now=T0 + 2)
    st = make_station(tmp_path)  # restarted
    st.connection_made("ocpp2.0.1", T0 + 3)
    boot = sent(st)[0]
    answer(st, boot, {"currentTime": "2027-01-15T08:00:00.000Z", "interval": 300,
                      "status": "Accepted"}, T0 + 3)  # fmt: skip
    alerts = power(st, 12500, T0 + 4)
    assert [a["eventData"][0]["trigger"] for a in alerts] == ["Alerting"]
