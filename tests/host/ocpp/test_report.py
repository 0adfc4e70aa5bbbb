"""GetBaseReport / GetReport → NotifyReport (B07, B08) through the connection machine."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from ocpp.messages import get_validator

from host.ocpp.devmodel import Component, SetVariableData, Variable
from host.ocpp.machine import StationConnection

from .helpers import T0, accepted, answer, sent

VERSIONS = [("ocpp2.0.1", "2.0.1"), ("ocpp2.1", "2.1")]
IDS = itertools.count(1)


def request(st: StationConnection, action: str, payload: dict) -> tuple[dict, list[dict]]:
    """Send a CSMS request; its answer and every NotifyReport it caused (each answered)."""
    msg_id = f"csms-{next(IDS)}"
    st.receive(json.dumps([2, msg_id, action, payload]), T0)
    frames = sent(st)
    assert frames[0][:2] == [3, msg_id], frames
    result, calls = frames[0][2], frames[1:]
    parts = []
    while calls:
        assert len(calls) == 1, calls  # one CALL outstanding at a time
        (call,) = calls
        assert call[2] == "NotifyReport"
        parts.append(call[3])
        answer(st, call, {}, T0)
        calls = sent(st)
    return result, parts


def entries(parts: list[dict]) -> list[dict]:
    return [e for p in parts for e in p.get("reportData", [])]


def names(parts: list[dict]) -> set[tuple]:
    return {(e["component"]["name"], e["component"].get("evse", {}).get("id"),
             e["variable"]["name"], e["variable"].get("instance")) for e in entries(parts)}  # fmt: skip


@pytest.mark.parametrize("subprotocol, version", VERSIONS)
def test_full_inventory_in_parts_schema_valid(tmp_path: Path, subprotocol: str,
                                              version: str) -> None:  # fmt: skip
    st = accepted(tmp_path, subprotocol)
    result, parts = request(st, "GetBaseReport", {"requestId": 7, "reportBase": "FullInventory"})
    get_validator(3, "GetBaseReport", version).validate(result)
    assert result == {"status": "Accepted"}
    total = len(st.model.definitions())
    assert len(parts) == -(-total // 20) > 1  # ItemsPerMessage[GetReport] = 20
    for seq, part in enumerate(parts):
        get_validator(2, "NotifyReport", version).validate(part)
        assert part["requestId"] == 7 and part["seqNo"] == seq
        assert part["tbc"] is (seq < len(parts) - 1)
        assert len(part["reportData"]) <= 20
    assert len(entries(parts)) == total
    by_name = {(e["component"]["name"], e["variable"]["name"], e["variable"].get("instance")): e
               for e in entries(parts) if "evse" not in e["component"]}  # fmt: skip
    hb = by_name[("OCPPCommCtrlr", "HeartbeatInterval", None)]
    assert hb["variableAttribute"] == [{"type": "Actual", "value": "300", "mutability": "ReadWrite",
                                        "persistent": True, "constant": False}]  # fmt: skip
    assert hb["variableCharacteristics"] == {"dataType": "integer", "unit": "s", "minLimit": 1,
                                             "supportsMonitoring": True}  # fmt: skip
    # a WriteOnly attribute is listed without its value
    (pw,) = by_name[("SecurityCtrlr", "BasicAuthPassword", None)]["variableAttribute"]
    assert pw["mutability"] == "WriteOnly" and "value" not in pw
    tx = by_name[("TxCtrlr", "TxStartPoint", None)]["variableCharacteristics"]
    assert tx["dataType"] == "MemberList" and "PowerPathClosed" in tx["valuesList"].split(",")
    assert tx["supportsMonitoring"] is False  # numeric variables only


def test_report_shows_current_values(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    st.model.set_variables([SetVariableData(Component("OCPPCommCtrlr"),
                                            Variable("HeartbeatInterval"), "45")])  # fmt: skip
    _, parts = request(st, "GetReport", {"requestId": 1, "componentVariable": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]})
    (entry,) = entries(parts)
    assert entry["variableAttribute"][0]["value"] == "45"
    assert parts[0]["tbc"] is False and parts[0]["seqNo"] == 0


def test_configuration_and_summary_inventories(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    _, config = request(st, "GetBaseReport", {"requestId": 2, "reportBase": "ConfigurationInventory"})
    assert ("OCPPCommCtrlr", None, "HeartbeatInterval", None) in names(config)
    assert ("SecurityCtrlr", None, "BasicAuthPassword", None) in names(config)  # WriteOnly
    for e in entries(config):  # nothing read-only only
        assert any(a["mutability"] != "ReadOnly" for a in e["variableAttribute"]), e
    _, summary = request(st, "GetBaseReport", {"requestId": 3, "reportBase": "SummaryInventory"})
    assert names(summary) == {
        ("ChargingStation", None, "AvailabilityState", None), ("ChargingStation", None, "Available", None),
        ("SmartChargingCtrlr", None, "Available", None),
        ("EVSE", 1, "AvailabilityState", None), ("EVSE", 1, "Available", None),
        ("EVSE", 2, "AvailabilityState", None), ("EVSE", 2, "Available", None),
        ("Connector", 1, "AvailabilityState", None), ("Connector", 2, "AvailabilityState", None),
    }  # fmt: skip


def test_get_report_filters(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    # a component without evse matches every EVSE; without a variable, all its variables
    _, parts = request(st, "GetReport", {"requestId": 4, "componentVariable": [
        {"component": {"name": "evse"}, "variable": {"name": "AvailabilityState"}},
        {"component": {"name": "DeviceDataCtrlr"}}]})
    assert names(parts) == {("EVSE", 1, "AvailabilityState", None), ("EVSE", 2, "AvailabilityState", None)} | {
        ("DeviceDataCtrlr", None, "ItemsPerMessage", i) for i in ("GetVariables", "SetVariables", "GetReport")
    } | {("DeviceDataCtrlr", None, "BytesPerMessage", i) for i in ("GetVariables", "SetVariables", "GetReport")}  # fmt: skip
    _, parts = request(st, "GetReport", {"requestId": 5, "componentVariable": [
        {"component": {"name": "EVSE", "evse": {"id": 2}}}]})
    assert {n[1] for n in names(parts)} == {2}
    # componentCriteria: components with Enabled = true (AuthCtrlr, SmartChargingCtrlr, ...)
    _, parts = request(st, "GetReport", {"requestId": 6, "componentCriteria": ["Enabled"]})
    assert {n[0] for n in names(parts)} == {"AuthCtrlr", "LocalAuthListCtrlr", "AuthCacheCtrlr",
                                            "SmartChargingCtrlr"}  # fmt: skip
    st.model.set_variables([SetVariableData(Component("AuthCacheCtrlr"), Variable("Enabled"), "false")])
    _, parts = request(st, "GetReport", {"requestId": 6, "componentCriteria": ["Enabled"],
                                         "componentVariable": [{"component": {"name": "AuthCacheCtrlr"}}]})  # fmt: skip
    assert parts == []  # no longer enabled, nothing else asked for


@pytest.mark.parametrize("subprotocol, version", VERSIONS)
def test_nothing_matches_is_an_empty_result_set(tmp_path: Path, subprotocol: str,
                                                version: str) -> None:  # fmt: skip
    st = accepted(tmp_path, subprotocol)
    for payload in ({"requestId": 8, "componentVariable": [{"component": {"name": "NoSuchCtrlr"}}]},
                    {"requestId": 9, "componentCriteria": ["Problem"]}):  # fmt: skip
        result, parts = request(st, "GetReport", payload)
        get_validator(3, "GetReport", version).validate(result)
        assert result == {"status": "EmptyResultSet"} and parts == []


def test_too_many_component_variables_refused(tmp_path: Path) -> None:
    st = accepted(tmp_path)
    many = [{"component": {"name": "TxCtrlr"}}] * 21
    st.receive(json.dumps([2, "csms-1", "GetReport", {"requestId": 1, "componentVariable": many}]), T0)
    (frame,) = sent(st)
    assert frame[:3] == [4, "csms-1", "OccurrenceConstraintViolation"]
