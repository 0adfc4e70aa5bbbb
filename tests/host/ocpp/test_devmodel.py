"""Device model: GetVariables/SetVariables statuses, attribute semantics, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocpp.messages import get_validator

from host.ocpp.devmodel import (
    Attribute,
    Component,
    DataType,
    DeviceModel,
    GetStatus,
    GetVariableData,
    SetStatus,
    SetVariableData,
    Variable,
    VariableDef,
    check_value,
)
from host.ocpp.store import open_db
from host.ocpp.variables import station_variables

COMM = Component("OCPPCommCtrlr")
HB = Variable("HeartbeatInterval")


def make(tmp_path: Path, evses: int = 2) -> DeviceModel:
    return DeviceModel(open_db(tmp_path / "dm.db"), station_variables(evses=evses))


def get(dm: DeviceModel, comp: Component, var: Variable, attr: Attribute = Attribute.ACTUAL):
    (result,) = dm.get_variables([GetVariableData(comp, var, attr)])
    return result


def put(dm: DeviceModel, comp: Component, var: Variable, value: str,
        attr: Attribute = Attribute.ACTUAL):  # fmt: skip
    (result,) = dm.set_variables([SetVariableData(comp, var, value, attr)])
    return result


def test_the_required_components_exist(tmp_path: Path) -> None:
    dm = make(tmp_path)
    names = {(d.component.name, d.variable.name) for d in dm.definitions()}
    for need in [("OCPPCommCtrlr", "HeartbeatInterval"), ("OCPPCommCtrlr", "RetryBackOffRepeatTimes"),
                 ("OCPPCommCtrlr", "RetryBackOffRandomRange"), ("OCPPCommCtrlr", "RetryBackOffWaitMinimum"),
                 ("TxCtrlr", "TxStartPoint"), ("SampledDataCtrlr", "TxUpdatedMeasurands"),
                 ("AuthCtrlr", "Enabled"), ("SecurityCtrlr", "SecurityProfile"),
                 ("ChargingStation", "AvailabilityState"), ("EVSE", "AvailabilityState"),
                 ("Connector", "AvailabilityState")]:  # fmt: skip
        assert need in names
    for d in dm.definitions():  # every default is a value its own rules accept
        assert check_value(d, d.attributes[0].default) is None, d


@pytest.mark.parametrize(
    "comp, var, attr, status",
    [
        (COMM, HB, Attribute.ACTUAL, GetStatus.ACCEPTED),
        (Component("ocppcommctrlr"), Variable("heartbeatinterval"), Attribute.ACTUAL, GetStatus.ACCEPTED),
        (Component("NoSuchCtrlr"), HB, Attribute.ACTUAL, GetStatus.UNKNOWN_COMPONENT),
        (Component("EVSE", evse=3), Variable("AvailabilityState"), Attribute.ACTUAL, GetStatus.UNKNOWN_COMPONENT),
        (Component("OCPPCommCtrlr", instance="X"), HB, Attribute.ACTUAL, GetStatus.UNKNOWN_COMPONENT),
        (COMM, Variable("NoSuchVariable"), Attribute.ACTUAL, GetStatus.UNKNOWN_VARIABLE),
        (COMM, Variable("MessageTimeout"), Attribute.ACTUAL, GetStatus.UNKNOWN_VARIABLE),
        (COMM, HB, Attribute.TARGET, GetStatus.NOT_SUPPORTED_ATTRIBUTE_TYPE),
        (Component("SecurityCtrlr"), Variable("BasicAuthPassword"), Attribute.ACTUAL, GetStatus.REJECTED),
        (Component("EVSE", evse=2), Variable("Power"), Attribute.MAX_SET, GetStatus.ACCEPTED),
        (Component("Connector", evse=1, connector=1), Variable("AvailabilityState"), Attribute.ACTUAL, GetStatus.ACCEPTED),
    ],
)  # fmt: skip
def test_get_statuses(tmp_path: Path, comp, var, attr, status) -> None:
    result = get(make(tmp_path), comp, var, attr)
    assert result.status is status
    assert (result.value is not None) == (status is GetStatus.ACCEPTED)
    get_validator(3, "GetVariables", "2.0.1").validate({"getVariableResult": [result.to_json()]})


def test_get_returns_values_and_instances(tmp_path: Path) -> None:
    dm = make(tmp_path)
    assert get(dm, COMM, HB).value == "300"
    assert get(dm, COMM, Variable("MessageTimeout", "Default")).value == "30"
    assert get(dm, Component("EVSE", evse=1), Variable("Power"), Attribute.MAX_SET).value == "11000"


@pytest.mark.parametrize(
    "comp, var, value, attr, status, reason",
    [
        (COMM, HB, "60", Attribute.ACTUAL, SetStatus.ACCEPTED, None),
        (COMM, HB, "0", Attribute.ACTUAL, SetStatus.REJECTED, "ValueOutOfRange"),
        (COMM, HB, "6.5", Attribute.ACTUAL, SetStatus.REJECTED, "InvalidValue"),
        (COMM, HB, "abc", Attribute.ACTUAL, SetStatus.REJECTED, "InvalidValue"),
        (COMM, HB, "60", Attribute.MAX_SET, SetStatus.NOT_SUPPORTED_ATTRIBUTE_TYPE, None),
        (COMM, Variable("WebSocketPingInterval"), "-1", Attribute.ACTUAL, SetStatus.REJECTED, "ValueOutOfRange"),
        (COMM, Variable("NetworkConfigurationPriority"), "1,0", Attribute.ACTUAL, SetStatus.REBOOT_REQUIRED, None),
        (COMM, Variable("NetworkConfigurationPriority"), "7", Attribute.ACTUAL, SetStatus.REJECTED, "InvalidValue"),
        (Component("NoSuchCtrlr"), HB, "1", Attribute.ACTUAL, SetStatus.UNKNOWN_COMPONENT, None),
        (COMM, Variable("Nope"), "1", Attribute.ACTUAL, SetStatus.UNKNOWN_VARIABLE, None),
        (Component("SecurityCtrlr"), Variable("SecurityProfile"), "2", Attribute.ACTUAL, SetStatus.REJECTED, "ReadOnly"),
        (Component("SecurityCtrlr"), Variable("BasicAuthPassword"), "s3cret-s3cret-s3cret", Attribute.ACTUAL, SetStatus.ACCEPTED, None),
        (Component("SecurityCtrlr"), Variable("BasicAuthPassword"), "x" * 41, Attribute.ACTUAL, SetStatus.REJECTED, "ValueTooLarge"),
        (Component("EVSE", evse=1), Variable("Power"), "5000", Attribute.MAX_SET, SetStatus.REJECTED, "ReadOnly"),
        (Component("TxCtrlr"), Variable("TxStartPoint"), "EVConnected,Authorized", Attribute.ACTUAL, SetStatus.ACCEPTED, None),
        (Component("TxCtrlr"), Variable("TxStartPoint"), "EVConnected,EVConnected", Attribute.ACTUAL, SetStatus.REJECTED, "InvalidValue"),
        (Component("TxCtrlr"), Variable("TxStartPoint"), "Sunrise", Attribute.ACTUAL, SetStatus.REJECTED, "InvalidValue"),
        (Component("TxCtrlr"), Variable("StopTxOnInvalidId"), "false", Attribute.ACTUAL, SetStatus.ACCEPTED, None),
        (Component("TxCtrlr"), Variable("StopTxOnInvalidId"), "False", Attribute.ACTUAL, SetStatus.REJECTED, "InvalidValue"),
        (Component("ChargingStation"), Variable("AvailabilityState"), "Faulted", Attribute.ACTUAL, SetStatus.REJECTED, "ReadOnly"),
    ],
)  # fmt: skip
def test_set_statuses(tmp_path: Path, comp, var, value, attr, status, reason) -> None:
    dm = make(tmp_path)
    result = put(dm, comp, var, value, attr)
    assert (result.status, result.reason) == (status, reason)
    get_validator(3, "SetVariables", "2.0.1").validate({"setVariableResult": [result.to_json()]})


def test_accepted_sets_take_effect_and_persist(tmp_path: Path) -> None:
    dm = make(tmp_path)
    assert put(dm, Component("ocppcommctrlr"), Variable("HEARTBEATINTERVAL"), "42").status is SetStatus.ACCEPTED
    assert dm.integer("OCPPCommCtrlr", "HeartbeatInterval") == 42
    assert put(dm, COMM, HB, "-5").status is SetStatus.REJECTED
    assert dm.integer("OCPPCommCtrlr", "HeartbeatInterval") == 42
    dm.db.close()
    assert make(tmp_path).integer("OCPPCommCtrlr", "HeartbeatInterval") == 42


def test_reboot_required_value_is_stored_but_in_force_only_after_restart(tmp_path: Path) -> None:
    dm = make(tmp_path)
    nc = Variable("NetworkConfigurationPriority")
    assert put(dm, COMM, nc, "1,0").status is SetStatus.REBOOT_REQUIRED
    assert get(dm, COMM, nc).value == "0"
    dm.db.close()
    assert get(make(tmp_path), COMM, nc).value == "1,0"


def test_write_only_is_stored_and_never_read_back(tmp_path: Path) -> None:
    dm = make(tmp_path)
    pw = Variable("BasicAuthPassword")
    put(dm, Component("SecurityCtrlr"), pw, "0123456789abcdef")
    assert get(dm, Component("SecurityCtrlr"), pw).value is None
    assert dm.value("SecurityCtrlr", "BasicAuthPassword") == "0123456789abcdef"


def test_one_request_mixes_statuses_in_order(tmp_path: Path) -> None:
    dm = make(tmp_path)
    results = dm.set_variables([
        SetVariableData(COMM, HB, "10"),
        SetVariableData(Component("Nope"), HB, "10"),
        SetVariableData(COMM, Variable("RetryBackOffWaitMinimum"), "x"),
    ])  # fmt: skip
    assert [r.status for r in results] == [SetStatus.ACCEPTED, SetStatus.UNKNOWN_COMPONENT, SetStatus.REJECTED]


def test_set_own_bypasses_mutability(tmp_path: Path) -> None:
    dm = make(tmp_path)
    dm.set_own(Component("EVSE", evse=1), Variable("AvailabilityState"), "Occupied")
    assert get(dm, Component("evse", evse=1), Variable("availabilitystate")).value == "Occupied"
    with pytest.raises(KeyError):
        dm.set_own(Component("EVSE", evse=9), Variable("AvailabilityState"), "Occupied")


@pytest.mark.parametrize(
    "data_type, value, ok",
    [(DataType.DECIMAL, "1.5", True), (DataType.DECIMAL, "nan", False), (DataType.DECIMAL, "inf", False),
     (DataType.DATE_TIME, "2026-01-01T00:00:00Z", True), (DataType.DATE_TIME, "yesterday", False),
     (DataType.INTEGER, "+7", True), (DataType.INTEGER, "1e3", False), (DataType.SEQUENCE_LIST, "", True)],
)  # fmt: skip
def test_check_value(data_type: DataType, value: str, ok: bool) -> None:
    d = VariableDef(COMM, Variable("X"), data_type, ())
    assert (check_value(d, value) is None) is ok
