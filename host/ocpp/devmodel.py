"""The device model (OCPP 2.0.1 Part 1 §4, Part 2 B05/B06), persisted in SQLite.

A variable is addressed by component (name, instance, evse id, connector id) and variable
(name, instance); names compare case-insensitively (ComponentType.name: "Case Insensitive").
Each variable has one or more attributes (Actual, Target, MinSet, MaxSet), each with its own
mutability. Values live as strings, as on the wire; the data type decides what SetVariables
accepts. A variable whose change needs a reboot stores the new value at once but keeps the
old one in force until the next start, and SetVariables answers RebootRequired.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

SCHEMA = """
CREATE TABLE IF NOT EXISTS variables (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class DataType(StrEnum):
    STRING = "string"
    DECIMAL = "decimal"
    INTEGER = "integer"
    DATE_TIME = "dateTime"
    BOOLEAN = "boolean"
    OPTION_LIST = "OptionList"
    SEQUENCE_LIST = "SequenceList"
    MEMBER_LIST = "MemberList"


class Mutability(StrEnum):
    READ_ONLY = "ReadOnly"
    WRITE_ONLY = "WriteOnly"
    READ_WRITE = "ReadWrite"


class Attribute(StrEnum):
    ACTUAL = "Actual"
    TARGET = "Target"
    MIN_SET = "MinSet"
    MAX_SET = "MaxSet"


class GetStatus(StrEnum):
    """GetVariableStatusEnumType."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_COMPONENT = "UnknownComponent"
    UNKNOWN_VARIABLE = "UnknownVariable"
    NOT_SUPPORTED_ATTRIBUTE_TYPE = "NotSupportedAttributeType"


class SetStatus(StrEnum):
    """SetVariableStatusEnumType."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_COMPONENT = "UnknownComponent"
    UNKNOWN_VARIABLE = "UnknownVariable"
    NOT_SUPPORTED_ATTRIBUTE_TYPE = "NotSupportedAttributeType"
    REBOOT_REQUIRED = "RebootRequired"


@dataclass(frozen=True)
class Component:
    name: str
    instance: str | None = None
    evse: int | None = None
    connector: int | None = None

    def key(self) -> tuple:
        inst = self.instance.lower() if self.instance is not None else None
        return (self.name.lower(), inst, self.evse, self.connector)

    @classmethod
    def from_json(cls, obj: dict) -> Component:
        evse = obj.get("evse")
        return cls(obj["name"], obj.get("instance"),
                   evse["id"] if evse else None, evse.get("connectorId") if evse else None)  # fmt: skip

    def to_json(self) -> dict:
        out: dict = {"name": self.name}
        if self.instance is not None:
            out["instance"] = self.instance
        if self.evse is not None:
            out["evse"] = {"id": self.evse}
            if self.connector is not None:
                out["evse"]["connectorId"] = self.connector
        return out


@dataclass(frozen=True)
class Variable:
    name: str
    instance: str | None = None

    def key(self) -> tuple:
        return (self.name.lower(), self.instance.lower() if self.instance is not None else None)

    @classmethod
    def from_json(cls, obj: dict) -> Variable:
        return cls(obj["name"], obj.get("instance"))

    def to_json(self) -> dict:
        out: dict = {"name": self.name}
        if self.instance is not None:
            out["instance"] = self.instance
        return out


@dataclass(frozen=True)
class AttributeDef:
    type: Attribute
    mutability: Mutability
    default: str


@dataclass(frozen=True)
class VariableDef:
    """One variable the station has, with its characteristics (VariableCharacteristicsType)."""

    component: Component
    variable: Variable
    data_type: DataType
    attributes: tuple[AttributeDef, ...]
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None  # for strings: the longest value
    values_list: tuple[str, ...] = ()
    reboot_required: bool = False
    constant: bool = False  # reported as VariableAttribute.constant: never changes


@dataclass(frozen=True)
class GetVariableData:
    component: Component
    variable: Variable
    attribute: Attribute = Attribute.ACTUAL

    @classmethod
    def from_json(cls, obj: dict) -> GetVariableData:
        return cls(Component.from_json(obj["component"]), Variable.from_json(obj["variable"]),
                   Attribute(obj.get("attributeType", "Actual")))  # fmt: skip


@dataclass(frozen=True)
class SetVariableData:
    component: Component
    variable: Variable
    value: str
    attribute: Attribute = Attribute.ACTUAL

    @classmethod
    def from_json(cls, obj: dict) -> SetVariableData:
        return cls(Component.from_json(obj["component"]), Variable.from_json(obj["variable"]),
                   obj["attributeValue"], Attribute(obj.get("attributeType", "Actual")))  # fmt: skip


@dataclass(frozen=True)
class GetVariableResult:
    status: GetStatus
    component: Component
    variable: Variable
    attribute: Attribute
    value: str | None = None

    def to_json(self) -> dict:
        out = {"attributeStatus": str(self.status), "attributeType": str(self.attribute),
               "component": self.component.to_json(), "variable": self.variable.to_json()}  # fmt: skip
        if self.value is not None:
            out["attributeValue"] = self.value
        return out


@dataclass(frozen=True)
class SetVariableResult:
    status: SetStatus
    component: Component
    variable: Variable
    attribute: Attribute
    reason: str | None = None  # attributeStatusInfo.reasonCode

    def to_json(self) -> dict:
        out: dict = {"attributeStatus": str(self.status), "attributeType": str(self.attribute),
                     "component": self.component.to_json(), "variable": self.variable.to_json()}  # fmt: skip
        if self.reason is not None:
            out["attributeStatusInfo"] = {"reasonCode": self.reason}
        return out


_INTEGER = re.compile(r"[+-]?\d{1,18}")


def check_value(d: VariableDef, value: str) -> str | None:
    """None if ``value`` fits the variable's data type and characteristics, else the
    reasonCode to answer with."""
    if d.data_type is DataType.INTEGER or d.data_type is DataType.DECIMAL:
        if d.data_type is DataType.INTEGER and not _INTEGER.fullmatch(value):
            return "InvalidValue"
        try:
            number = float(value)
        except ValueError:
            return "InvalidValue"
        if not math.isfinite(number):
            return "InvalidValue"
        if (d.min_limit is not None and number < d.min_limit) or (
            d.max_limit is not None and number > d.max_limit
        ):
            return "ValueOutOfRange"
    elif d.data_type is DataType.BOOLEAN:
        if value not in ("true", "false"):
            return "InvalidValue"
    elif d.data_type is DataType.DATE_TIME:
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return "InvalidValue"
    elif d.data_type is DataType.STRING:
        if d.max_limit is not None and len(value) > d.max_limit:
            return "ValueTooLarge"
    elif d.data_type is DataType.OPTION_LIST:
        if value not in d.values_list:
            return "InvalidValue"
    else:  # MemberList / SequenceList: comma-separated, each from the list when there is one
        items = value.split(",") if value else []
        if d.values_list and any(i not in d.values_list for i in items):
            return "InvalidValue"
        if d.data_type is DataType.MEMBER_LIST and len(set(items)) != len(items):
            return "InvalidValue"
        if d.max_limit is not None and len(value) > d.max_limit:
            return "ValueTooLarge"
    return None


class DeviceModel:
    """The station's variables: definitions from code, values from the database."""

    def __init__(self, db: sqlite3.Connection, definitions: Iterable[VariableDef]) -> None:
        self.db = db
        with db:
            db.executescript(SCHEMA)
        self._defs: dict[tuple, dict[tuple, VariableDef]] = {}
        for d in definitions:
            self._defs.setdefault(d.component.key(), {})[d.variable.key()] = d
        stored = dict(db.execute("SELECT key, value FROM variables").fetchall())
        # values in force for this run; a reboot-required change shows only after a restart
        self._values: dict[str, str] = {}
        for comp in self._defs.values():
            for d in comp.values():
                for a in d.attributes:
                    k = _key(d.component, d.variable, a.type)
                    self._values[k] = stored.get(k, a.default)
        # told of every value that comes into force (monitoring): (definition, attribute,
        # value, now); ``now`` is None when the caller had no clock at hand
        self.listeners: list[Callable[[VariableDef, Attribute, str, float | None], None]] = []

    def definitions(self) -> list[VariableDef]:
        return [d for comp in self._defs.values() for d in comp.values()]

    def find(self, component: Component, variable: Variable) -> VariableDef | None:
        return self._defs.get(component.key(), {}).get(variable.key())

    def attribute_value(self, d: VariableDef, attribute: Attribute) -> str:
        return self._values[_key(d.component, d.variable, attribute)]

    # --- for the station's own code ----------------------------------------------------

    def value(self, component: str, variable: str, *, instance: str | None = None,
              evse: int | None = None, connector: int | None = None,
              attribute: Attribute = Attribute.ACTUAL) -> str:  # fmt: skip
        k = _key(Component(component, None, evse, connector), Variable(variable, instance),
                 attribute)  # fmt: skip
        return self._values[k]

    def integer(self, component: str, variable: str, **kw) -> int:
        return int(self.value(component, variable, **kw))

    def boolean(self, component: str, variable: str, **kw) -> bool:
        return self.value(component, variable, **kw) == "true"

    def set_own(self, component: Component, variable: Variable, value: str,
                attribute: Attribute = Attribute.ACTUAL, now: float | None = None) -> None:  # fmt: skip
        """The station records a value it owns (AvailabilityState, ...), whatever the
        attribute's mutability towards the CSMS."""
        k = _key(component, variable, attribute)
        if k not in self._values:
            raise KeyError(k)
        self._store({k: value})
        self._values[k] = value
        d = self.find(component, variable)
        if d is not None:
            self._tell(d, attribute, value, now)

    def _tell(self, d: VariableDef, attribute: Attribute, value: str, now: float | None) -> None:
        for listener in self.listeners:
            listener(d, attribute, value, now)

    # --- GetVariables / SetVariables (OCPP 2.0.1 B06 / B05) ---------------------------

    def get_variables(self, items: Iterable[GetVariableData]) -> list[GetVariableResult]:
        return [self._get_one(i) for i in items]

    def _get_one(self, item: GetVariableData) -> GetVariableResult:
        def answer(status: GetStatus, value: str | None = None) -> GetVariableResult:
            return GetVariableResult(status, item.component, item.variable, item.attribute, value)

        if item.component.key() not in self._defs:
            return answer(GetStatus.UNKNOWN_COMPONENT)
        d = self.find(item.component, item.variable)
        if d is None:
            return answer(GetStatus.UNKNOWN_VARIABLE)
        attr = _attribute(d, item.attribute)
        if attr is None:
            return answer(GetStatus.NOT_SUPPORTED_ATTRIBUTE_TYPE)
        if attr.mutability is Mutability.WRITE_ONLY:
            return answer(GetStatus.REJECTED)  # never read back a password
        return answer(GetStatus.ACCEPTED, self._values[_key(d.component, d.variable, attr.type)])

    def set_variables(self, items: Iterable[SetVariableData],
                      now: float | None = None) -> list[SetVariableResult]:  # fmt: skip
        results: list[SetVariableResult] = []
        stored: dict[str, str] = {}
        live: dict[str, tuple[str, SetVariableData]] = {}
        for item in items:
            status, reason, k = self._check_set(item)
            if status in (SetStatus.ACCEPTED, SetStatus.REBOOT_REQUIRED):
                stored[k] = item.value
                if status is SetStatus.ACCEPTED:
                    live[k] = (item.value, item)
            results.append(SetVariableResult(status, item.component, item.variable,
                                             item.attribute, reason))  # fmt: skip
        self._store(stored)  # one commit for the whole request, before it is answered
        for k, (value, item) in live.items():
            self._values[k] = value
            d = self.find(item.component, item.variable)
            assert d is not None  # _check_set found it
            self._tell(d, item.attribute, value, now)
        return results

    def _check_set(self, item: SetVariableData) -> tuple[SetStatus, str | None, str]:
        if item.component.key() not in self._defs:
            return SetStatus.UNKNOWN_COMPONENT, None, ""
        d = self.find(item.component, item.variable)
        if d is None:
            return SetStatus.UNKNOWN_VARIABLE, None, ""
        attr = _attribute(d, item.attribute)
        if attr is None:
            return SetStatus.NOT_SUPPORTED_ATTRIBUTE_TYPE, None, ""
        if attr.mutability is Mutability.READ_ONLY:
            return SetStatus.REJECTED, "ReadOnly", ""
        reason = check_value(d, item.value)
        if reason is not None:
            return SetStatus.REJECTED, reason, ""
        k = _key(d.component, d.variable, attr.type)
        return (SetStatus.REBOOT_REQUIRED if d.reboot_required else SetStatus.ACCEPTED), None, k

    def _store(self, values: dict[str, str]) -> None:
        if not values:
            return
        with self.db:
            self.db.executemany(
                "INSERT INTO variables (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )


def _attribute(d: VariableDef, attribute: Attribute) -> AttributeDef | None:
    for a in d.attributes:
        if a.type is attribute:
            return a
    return None


def _key(component: Component, variable: Variable, attribute: Attribute) -> str:
    parts = (*component.key(), *variable.key(), str(attribute))
    return "|".join("" if p is None else str(p) for p in parts)
