"""GetBaseReport / GetReport answered with NotifyReport (OCPP 2.0.1 B07, B08).

The station answers the request first (Accepted, EmptyResultSet when nothing matches), then
sends the report as NotifyReport CALLs: seqNo from 0, ``tbc`` true on every part but the
last, at most DeviceDataCtrlr.ItemsPerMessage[GetReport] entries a part.

What each report holds (our reading of B07/B08 where the text leaves room):
- FullInventory: every variable; ConfigurationInventory: those with an attribute the CSMS
  may write (ReadWrite, WriteOnly); SummaryInventory: the state a CSMS shows at a glance
  (AvailabilityState, Available, Problem, Active of every component).
- GetReport componentVariable: a component without evse / instance in the request matches
  every evse / instance of that name; a componentVariable without a variable matches all
  of the component's variables. componentCriteria: a component matches a criterion when it
  has a variable of that name (Active, Available, Enabled, Problem) whose Actual value is
  true. Both given: an entry must pass both.
- A WriteOnly attribute is reported without its value (the schema allows that only there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .devmodel import (
    Attribute,
    Component,
    DeviceModel,
    Mutability,
    Variable,
    VariableDef,
)
from .store import iso_time

SUMMARY = ("availabilitystate", "available", "problem", "active")


@dataclass(frozen=True)
class GetReportRequest:
    request_id: int
    items: tuple[tuple[Component, Variable | None], ...]  # componentVariable
    criteria: tuple[str, ...]

    @classmethod
    def from_json(cls, obj: dict) -> GetReportRequest:
        items = tuple((Component.from_json(cv["component"]),
                       Variable.from_json(cv["variable"]) if "variable" in cv else None)
                      for cv in obj.get("componentVariable", ()))  # fmt: skip
        return cls(obj["requestId"], items, tuple(obj.get("componentCriteria", ())))


def base_report(model: DeviceModel, base: str) -> list[VariableDef]:
    defs = model.definitions()
    if base == "FullInventory":
        return defs
    if base == "ConfigurationInventory":
        writable = (Mutability.READ_WRITE, Mutability.WRITE_ONLY)
        return [d for d in defs if any(a.mutability in writable for a in d.attributes)]
    return [d for d in defs if d.variable.name.lower() in SUMMARY]  # SummaryInventory


def _matches(want: Component, have: Component) -> bool:
    if want.name.lower() != have.name.lower():
        return False
    if want.instance is not None and (have.instance or "").lower() != want.instance.lower():
        return False
    if want.evse is not None and want.evse != have.evse:
        return False
    return want.connector is None or want.connector == have.connector


def _meets(model: DeviceModel, component: Component, criterion: str) -> bool:
    d = model.find(component, Variable(criterion))
    if d is None or not any(a.type is Attribute.ACTUAL for a in d.attributes):
        return False
    return model.attribute_value(d, Attribute.ACTUAL) == "true"


def get_report(model: DeviceModel, req: GetReportRequest) -> list[VariableDef]:
    out = []
    for d in model.definitions():
        if req.items and not any(
            _matches(c, d.component) and (v is None or v.key() == d.variable.key())
            for c, v in req.items
        ):
            continue
        if req.criteria and not any(_meets(model, d.component, c) for c in req.criteria):
            continue
        out.append(d)
    return out


def report_data(model: DeviceModel, d: VariableDef,
                supports_monitoring: Callable[[VariableDef], bool]) -> dict:  # fmt: skip
    attributes = []
    for a in d.attributes:
        attr: dict[str, Any] = {"type": str(a.type), "mutability": str(a.mutability),
                                "persistent": True, "constant": d.constant}  # fmt: skip
        if a.mutability is not Mutability.WRITE_ONLY:
            attr["value"] = model.attribute_value(d, a.type)
        attributes.append(attr)
    chars: dict[str, Any] = {"dataType": str(d.data_type),
                             "supportsMonitoring": supports_monitoring(d)}  # fmt: skip
    if d.unit is not None:
        chars["unit"] = d.unit
    if d.min_limit is not None:
        chars["minLimit"] = d.min_limit
    if d.max_limit is not None:
        chars["maxLimit"] = d.max_limit
    if d.values_list:
        chars["valuesList"] = ",".join(d.values_list)
    return {"component": d.component.to_json(), "variable": d.variable.to_json(),
            "variableAttribute": attributes, "variableCharacteristics": chars}  # fmt: skip


def notify_parts(request_id: int, entries: list[dict], per_part: int, now: float) -> list[dict]:
    """The NotifyReport payloads for one report (an empty report is one part without data)."""
    per_part = max(1, per_part)
    chunks = [entries[i:i + per_part] for i in range(0, len(entries), per_part)] or [[]]
    parts = []
    for seq, chunk in enumerate(chunks):
        part: dict[str, Any] = {"requestId": request_id, "generatedAt": iso_time(now),
                                "seqNo": seq, "tbc": seq < len(chunks) - 1}  # fmt: skip
        if chunk:
            part["reportData"] = chunk
        parts.append(part)
    return parts


def routes(conn: Any, supports_monitoring: Callable[[VariableDef], bool] = lambda d: False) -> dict:
    """GetBaseReport and GetReport for a StationConnection (``add_routes``)."""
    from .machine import Route  # the machine registers these routes itself

    def send(request_id: int, defs: Iterable[VariableDef], now: float) -> dict:
        defs = list(defs)
        if not defs:
            return {"status": "EmptyResultSet"}
        entries = [report_data(conn.model, d, supports_monitoring) for d in defs]
        per = conn.model.integer("DeviceDataCtrlr", "ItemsPerMessage", instance="GetReport")
        for part in notify_parts(request_id, entries, per, now):
            conn.call("NotifyReport", part, now)  # sent after this answer
        return {"status": "Accepted"}

    def on_base(req: dict, now: float) -> dict:
        return send(req["requestId"], base_report(conn.model, req["reportBase"]), now)

    def on_report(req: GetReportRequest, now: float) -> dict:
        return send(req.request_id, get_report(conn.model, req), now)

    return {"GetBaseReport": Route(lambda obj: obj, on_base),
            "GetReport": Route(GetReportRequest.from_json, on_report, "GetReport")}  # fmt: skip
