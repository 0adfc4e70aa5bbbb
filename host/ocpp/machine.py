"""The station's side of one OCPP-J connection, sans-I/O.

Surface: ``connection_made(subprotocol, now)``, ``connection_lost(now)``,
``receive(text, now)``, ``handle_timer(now)``, ``get_timer()``, ``next_event()``,
``data_to_send()``. ``now`` is epoch seconds (the driver passes ``time.time()``): the same
clock stamps TransactionEvents, so tests with fake time get fake timestamps.

Rules it keeps:
- one CALL of ours outstanding at a time (Part 4 §4.1.1), with a response timeout
  (OCPPCommCtrlr.MessageTimeout);
- BootNotification first; while Pending or Rejected nothing else of ours is sent, and the
  boot is retried after the response's interval (B02, B03); it is not resent on a reconnect
  once Accepted (Part 4 §5.4);
- TransactionEvents come from the on-disk queue, oldest first, and are acknowledged only
  by a schema-valid CALLRESULT; a CALLERROR or timeout is retried after
  MessageAttemptIntervalTransactionEvent x attempts, up to MessageAttemptsTransactionEvent
  (E13); a lost connection is not an attempt: the event is resent after reconnecting;
- every CSMS frame is answered as Part 4 says or, for SEND, dropped; never an exception.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from . import monitoring, profileroutes, report, rpc, securityevents
from .devmodel import Component, DeviceModel, SetStatus, Variable
from .events import (
    AlarmDue,
    BootAnswered,
    CallAnswered,
    CallFailed,
    ChargingLimitChanged,
    Event,
    HeartbeatAnswered,
    RequestRefused,
    ResetRequested,
    TransactionEventAbandoned,
    TransactionEventDelivered,
    VariablesChanged,
)
from .messages import (
    BootNotificationResponse,
    GetVariablesRequest,
    ResetRequest,
    SetVariablesRequest,
    StationInfo,
)
from .smartcharging import SmartCharging
from .txqueue import MeterValue, QueuedMessage, TxQueue

DEFAULT_BOOT_RETRY = 30.0  # local choice: when a boot response gives interval 0, or none came
DEFAULT_MAX_FRAME = 1 << 20  # local choice: largest frame we parse (1 MiB)
log = logging.getLogger("v2gate.ocpp")
SEEN_IDS = 1024  # CSMS MessageIds remembered per connection, to refuse duplicates


class LocalProtocolError(Exception):
    """The station used the machine wrongly."""


class Registration(StrEnum):
    NEW = "new"  # no BootNotification answered in this run
    PENDING = "Pending"
    REJECTED = "Rejected"
    ACCEPTED = "Accepted"


class Timer(StrEnum):
    RESPONSE = "response"
    BOOT = "boot"
    HEARTBEAT = "heartbeat"
    TX_RETRY = "tx_retry"
    LIMIT = "limit"  # the published charging limit expires
    ALARM = "alarm"  # the station logic's own deadline (set_alarm)


@dataclass(frozen=True)
class _Outstanding:
    msg_id: str
    action: str
    queued: QueuedMessage | None = None
    payload: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Route:
    """A CSMS request we handle: its parser to a typed request, and its handler."""

    parse: Callable[[dict], Any]
    handle: Callable[[Any, float], dict]
    limits: str | None = None  # DeviceDataCtrlr ItemsPerMessage/BytesPerMessage instance


class StationConnection:
    def __init__(self, *, queue: TxQueue, model: DeviceModel, station: StationInfo,
                 boot_reason: str = "PowerUp", max_frame: int = DEFAULT_MAX_FRAME,
                 smart: SmartCharging | None = None,
                 new_msg_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:  # fmt: skip
        self.queue = queue
        self.model = model
        self.station = station
        self.boot_reason = boot_reason
        self.max_frame = max_frame
        self.new_msg_id = new_msg_id
        self.smart = smart
        self._limits: dict[int, ChargingLimitChanged] = {}
        self.registration = Registration.NEW
        self.version: str | None = None  # "2.0.1" / "2.1" while connected
        self.ignored = 0  # responses matching no outstanding CALL
        self._out: list[str] = []
        self._events: deque[Event] = deque()
        self._timers: dict[Timer, float] = {}
        self._outstanding: _Outstanding | None = None
        self._calls: deque[tuple[str, dict]] = deque()
        # call_with_result: callbacks by id() of the queued payload, and the outstanding one's
        self._waiters: dict[int, Callable[[dict | None, str], None]] = {}
        self._waiter: Callable[[dict | None, str], None] | None = None
        self._heartbeat_due = False
        self._answering = False  # a CSMS CALL is being handled: its answer goes out first
        self._seen: deque[str] = deque(maxlen=SEEN_IDS)
        self._routes: dict[str, Route] = {
            "GetVariables": Route(GetVariablesRequest.from_json, self._on_get_variables,
                                  "GetVariables"),
            "SetVariables": Route(SetVariablesRequest.from_json, self._on_set_variables,
                                  "SetVariables"),
            "Reset": Route(ResetRequest.from_json, self._on_reset),
        }
        # a NotifyEvent waits on disk like a SecurityEventNotification: an alert (or its
        # clearing) raised offline or just before a restart still reaches the CSMS
        self.monitoring = monitoring.Monitoring(model, self._notify_event)
        self._routes |= monitoring.routes(self.monitoring)  # Set/ClearVariableMonitoring
        self._routes |= report.routes(self, monitoring.supports)  # Get(Base)Report -> NotifyReport
        if smart is not None:  # without it these stay NotSupported
            self._routes |= profileroutes.routes(self, smart)

    # --- the sans-I/O surface --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.version is not None

    def connection_made(self, subprotocol: str | None, now: float) -> None:
        version = rpc.VERSION_OF.get(subprotocol or "")
        if version is None:
            raise LocalProtocolError(f"subprotocol {subprotocol!r} is not one we offered")
        self.version = version
        self._seen.clear()
        if self.registration is Registration.ACCEPTED:
            self._timers[Timer.HEARTBEAT] = now + self._heartbeat_interval()
        self._pump(now)

    def connection_lost(self, now: float) -> None:
        out, self._outstanding = self._outstanding, None
        self._answered(None, "ConnectionLost")
        if out is not None and out.queued is None and out.action not in ("BootNotification",
                                                                         "Heartbeat"):  # fmt: skip
            # the station decides whether to ask again; a TransactionEvent is resent anyway
            self._events.append(CallFailed(out.action, "ConnectionLost", "no response before the loss",
                                           out.payload))  # fmt: skip
        self.version = None
        self._out.clear()
        self._heartbeat_due = False
        for t in (Timer.RESPONSE, Timer.HEARTBEAT, Timer.TX_RETRY):
            self._timers.pop(t, None)

    def receive(self, data: str | bytes, now: float) -> None:
        if self.version is None:
            raise LocalProtocolError("receive() while not connected")
        try:
            frame = rpc.parse_frame(data, self.version, max_size=self.max_frame)
        except rpc.RpcError as e:
            if e.kind not in (rpc.CALLRESULT, rpc.CALLERROR, rpc.CALLRESULTERROR):
                self._refuse("", e.code, e.description, e.msg_id)
            else:  # a CALLERROR answers only a CALL: a broken response is dropped
                if e.kind == rpc.CALLRESULT and self.version == "2.1":
                    self._out.append(rpc.push_error(e.msg_id, e.code, e.description,
                                                    kind=rpc.CALLRESULTERROR))  # fmt: skip
                self._events.append(RequestRefused("", e.code, e.description))
            return
        if isinstance(frame, rpc.Send):
            # 2.1 §4.2.4: never answered; we handle no SEND action yet
            self._events.append(RequestRefused(frame.action, "NotImplemented", "SEND dropped"))
        elif isinstance(frame, rpc.Call):
            self._on_call(frame, now)
        elif isinstance(frame, rpc.CallResultError):
            self._events.append(CallFailed("", frame.code, f"CALLRESULTERROR: {frame.description}"))
        else:
            self._on_response(frame, now)
        self._pump(now)

    def get_timer(self) -> float | None:
        return min(self._timers.values(), default=None)

    def handle_timer(self, now: float) -> None:
        for key, deadline in list(self._timers.items()):
            if self._timers.get(key) != deadline or deadline > now:
                continue
            del self._timers[key]
            if key is Timer.RESPONSE and self._outstanding is not None:
                out, self._outstanding = self._outstanding, None
                self._failed(out, "Timeout", "no response within MessageTimeout", now)
            elif key is Timer.HEARTBEAT:
                self._heartbeat_due = True
            elif key is Timer.LIMIT:
                self.publish_limits(now)
            elif key is Timer.ALARM:
                self._events.append(AlarmDue(now))
        self._pump(now)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[str]:
        out, self._out = self._out, []
        return out

    # --- what the station asks for ---------------------------------------------------

    def add_routes(self, routes: dict[str, Route]) -> None:
        """CSMS requests handled outside this class (the station logic's actions, DER
        control, certificates) join the dispatch."""
        self._routes |= routes

    def has_route(self, action: str) -> bool:
        return action in self._routes

    def set_alarm(self, deadline: float | None) -> None:
        """Wake the station logic (an ``AlarmDue`` event) at ``deadline``, online or not;
        None: no alarm. One alarm: the logic sets its earliest deadline."""
        if deadline is None:
            self._timers.pop(Timer.ALARM, None)
        else:
            self._timers[Timer.ALARM] = deadline

    def boot_now(self, now: float) -> None:
        """Send the BootNotification without waiting for the retry interval (F06: the CSMS
        triggered it while we are Pending)."""
        if self.registration is not Registration.ACCEPTED:
            self._timers.pop(Timer.BOOT, None)
            self._pump(now)

    def call(self, action: str, payload: dict, now: float) -> None:
        """Queue a CALL that is not a TransactionEvent (kept in memory, sent once
        registered)."""
        self._calls.append((action, payload))
        self._pump(now)

    def call_with_result(self, action: str, payload: dict, now: float,
                         done: Callable[[dict | None, str], None]) -> None:  # fmt: skip
        """``call``, and ``done(response, "")`` with the CSMS's schema-valid response, or
        ``done(None, why)`` on a CALLERROR, an invalid response, a timeout or a lost
        connection."""
        self._waiters[id(payload)] = done
        self.call(action, payload, now)

    def _answered(self, payload: dict | None, why: str) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter(payload, why)

    def security_event(self, kind: str, now: float, tech_info: str = "") -> None:
        """Log a security event and keep its SecurityEventNotification on disk until the CSMS
        acknowledges it (``securityevents``)."""
        log.warning("security event %s%s", kind, f": {tech_info}" if tech_info else "")
        self.queue.enqueue("SecurityEventNotification",
                           securityevents.notification(kind, now, tech_info))  # fmt: skip
        self._pump(now)

    def _notify_event(self, payload: dict, now: float) -> None:
        self.queue.enqueue("NotifyEvent", payload)
        self._pump(now)

    def transaction_started(self, tx_id: str, *, now: float, trigger_reason: str, evse_id: int,
                            connector_id: int = 1, meter_values: Iterable[MeterValue] = (),
                            id_token: dict | None = None, charging_state: str | None = None,
                            remote_start_id: int | None = None) -> QueuedMessage:  # fmt: skip
        msg = self.queue.started(tx_id, now=now, trigger_reason=trigger_reason, evse_id=evse_id,
                                 connector_id=connector_id, offline=not self.connected,
                                 meter_values=meter_values, id_token=id_token,
                                 charging_state=charging_state,
                                 remote_start_id=remote_start_id)  # fmt: skip
        if self.smart is not None:
            self.smart.tx_started(evse_id, tx_id, now)
            self.publish_limits(now)
        self._pump(now)
        return msg

    def transaction_updated(self, tx_id: str, *, now: float, trigger_reason: str,
                            meter_values: Iterable[MeterValue] = (),
                            charging_state: str | None = None) -> QueuedMessage:  # fmt: skip
        msg = self.queue.updated(tx_id, now=now, trigger_reason=trigger_reason,
                                 offline=not self.connected, meter_values=meter_values,
                                 charging_state=charging_state)  # fmt: skip
        self._pump(now)
        return msg

    def transaction_ended(self, tx_id: str, *, now: float, trigger_reason: str,
                          stopped_reason: str,
                          meter_values: Iterable[MeterValue] = ()) -> QueuedMessage:  # fmt: skip
        msg = self.queue.ended(tx_id, now=now, trigger_reason=trigger_reason,
                               stopped_reason=stopped_reason, offline=not self.connected,
                               meter_values=meter_values)  # fmt: skip
        if self.smart is not None:
            self.smart.tx_ended(tx_id)
            self.publish_limits(now)
        self._pump(now)
        return msg

    def publish_limits(self, now: float) -> None:
        """Report each EVSE's composite limit where it changed, and wake when the first
        one expires. The station calls this once at start; profile changes, transactions
        and the expiry timer call it after that."""
        if self.smart is None:
            return
        self._timers.pop(Timer.LIMIT, None)
        for evse_id in sorted(self.smart.evses):
            level, expires = self.smart.limit_at(evse_id, now)
            event = ChargingLimitChanged(evse_id, level.limit, level.discharge_limit,
                                         level.setpoint, level.operation_mode, level.phases,
                                         expires)  # fmt: skip
            if self._limits.get(evse_id) != event:
                self._limits[evse_id] = event
                self._events.append(event)
            if expires is not None:
                self._timers[Timer.LIMIT] = min(expires, self._timers.get(Timer.LIMIT, expires))

    # --- sending ---------------------------------------------------------------------

    def _heartbeat_interval(self) -> float:
        return float(self.model.integer("OCPPCommCtrlr", "HeartbeatInterval"))

    def _pump(self, now: float) -> None:
        if self.version is None or self._outstanding is not None or self._answering:
            return
        if self.registration is not Registration.ACCEPTED:
            if Timer.BOOT not in self._timers:
                payload = {"reason": self.boot_reason, "chargingStation": self.station.to_json()}
                self._send("BootNotification", payload, now)
            return
        if self._calls:
            action, payload = self._calls.popleft()
            self._send(action, payload, now)
            return
        head = self.queue.head() if Timer.TX_RETRY not in self._timers else None
        if head is not None:
            self._send(head.action, head.payload, now, head)
        elif self._heartbeat_due:
            self._heartbeat_due = False
            self._timers[Timer.HEARTBEAT] = now + self._heartbeat_interval()
            self._send("Heartbeat", {}, now)

    def _send(self, action: str, payload: dict, now: float,
              queued: QueuedMessage | None = None) -> None:  # fmt: skip
        assert self.version is not None
        self._waiter = self._waiters.pop(id(payload), None)
        problem = rpc.schema_error(rpc.CALL, action, payload, self.version)
        if problem is not None:  # our bug: report it and go on with the next message
            out = _Outstanding("", action, queued)
            self._failed(out, problem[0], f"not sent: {problem[1]}", now, final=True)
            self._pump(now)
            return
        msg_id = queued.msg_id if queued is not None else self.new_msg_id()
        self._outstanding = _Outstanding(msg_id, action, queued, payload)
        timeout = self.model.integer("OCPPCommCtrlr", "MessageTimeout", instance="Default")
        self._timers[Timer.RESPONSE] = now + timeout
        self._out.append(rpc.push_call(msg_id, action, payload))

    # --- responses to our CALLs ------------------------------------------------------

    def _on_response(self, frame: rpc.CallResult | rpc.CallError, now: float) -> None:
        out = self._outstanding
        if out is None or frame.msg_id != out.msg_id:
            self.ignored += 1  # late (after a timeout) or not ours
            return
        self._outstanding = None
        self._timers.pop(Timer.RESPONSE, None)
        if isinstance(frame, rpc.CallError):
            self._failed(out, frame.code, frame.description, now)
            return
        assert self.version is not None
        problem = rpc.schema_error(rpc.CALLRESULT, out.action, frame.payload, self.version)
        if problem is not None:
            if self.version == "2.1":
                self._out.append(rpc.push_error(frame.msg_id, problem[0], problem[1],
                                                kind=rpc.CALLRESULTERROR))  # fmt: skip
            self._failed(out, problem[0], f"invalid response: {problem[1]}", now)
            return
        self._succeeded(out, frame.payload, now)

    def _succeeded(self, out: _Outstanding, payload: dict, now: float) -> None:
        if out.queued is None:
            self._answered(payload, "")
        if out.queued is not None and out.queued.tx_id is None:  # SecurityEventNotification, NotifyEvent
            self.queue.acknowledge(out.queued.row)
            self._events.append(CallAnswered(out.action, out.queued.payload, payload))
        elif out.queued is not None:
            self.queue.acknowledge(out.queued.row)
            self._events.append(TransactionEventDelivered(out.queued.tx_id or "",
                                                          out.queued.seq_no or 0, payload))  # fmt: skip
        elif out.action == "BootNotification":
            self._on_boot_response(BootNotificationResponse.from_json(payload), now)
        elif out.action == "Heartbeat":
            self._events.append(HeartbeatAnswered(payload["currentTime"]))
        else:
            self._events.append(CallAnswered(out.action, out.payload, payload))

    def _on_boot_response(self, res: BootNotificationResponse, now: float) -> None:
        self.registration = Registration(res.status)
        self._events.append(BootAnswered(res.status, res.interval, res.current_time))
        if self.registration is Registration.ACCEPTED:
            if res.interval > 0:  # B01: the heartbeat interval the CSMS wants
                self.model.set_own(Component("OCPPCommCtrlr"), Variable("HeartbeatInterval"),
                                   str(res.interval), now=now)  # fmt: skip
            self._timers[Timer.HEARTBEAT] = now + self._heartbeat_interval()
        else:  # B02/B03: retry after the interval, sending nothing else meanwhile
            retry = res.interval or DEFAULT_BOOT_RETRY
            self._timers[Timer.BOOT] = now + retry
            # B03 asks for no security event here: the CSMS knows; the log says what we do
            log.log(logging.ERROR if self.registration is Registration.REJECTED else logging.INFO,
                    "OCPP BootNotification %s by the CSMS: only the boot is sent, again in %g s",
                    res.status, retry)  # fmt: skip

    def _failed(self, out: _Outstanding, code: str, description: str, now: float,
                final: bool = False) -> None:  # fmt: skip
        q = out.queued
        if q is None:
            self._answered(None, f"{code}: {description}")
            self._events.append(CallFailed(out.action, code, description, out.payload))
            if out.action == "BootNotification":
                self._timers[Timer.BOOT] = now + DEFAULT_BOOT_RETRY
            return
        attempts = self.queue.attempt_failed(q.row)
        limit = self.model.integer("OCPPCommCtrlr", "MessageAttemptsTransactionEvent")
        if final or attempts >= limit:
            self.queue.give_up(q.row)
            if q.tx_id is None:
                self._events.append(CallFailed(out.action, code, description, q.payload))
                return
            self._events.append(TransactionEventAbandoned(q.tx_id or "", q.seq_no or 0,
                                                          f"{code}: {description}"))  # fmt: skip
            return
        interval = self.model.integer("OCPPCommCtrlr", "MessageAttemptIntervalTransactionEvent")
        self._timers[Timer.TX_RETRY] = now + interval * attempts

    # --- CSMS requests ---------------------------------------------------------------

    def _refuse(self, action: str, code: str, description: str, msg_id: str) -> None:
        self._out.append(rpc.push_error(msg_id, code, description))
        self._events.append(RequestRefused(action, code, description))

    def _on_call(self, call: rpc.Call, now: float) -> None:
        assert self.version is not None
        if call.msg_id in self._seen:
            self._refuse(call.action, "RpcFrameworkError", "duplicate MessageId", call.msg_id)
            return
        self._seen.append(call.msg_id)
        # an action of the other version is unknown on this connection (no schema here)
        route = self._routes.get(call.action) if call.action in rpc.known_actions(self.version) else None
        if route is None:
            if call.action in rpc.known_actions(self.version):
                self._refuse(call.action, "NotSupported", f"{call.action} is not supported",
                             call.msg_id)  # fmt: skip
            else:
                self._refuse(call.action, "NotImplemented", f"unknown action {call.action!r}",
                             call.msg_id)  # fmt: skip
            return
        problem = rpc.schema_error(rpc.CALL, call.action, call.payload, self.version)
        if problem is not None:
            self._refuse(call.action, problem[0], problem[1], call.msg_id)
            return
        self._answering = True  # what the handler records is sent after its answer (F03, F06)
        try:
            request = route.parse(call.payload)
            if route.limits is not None:
                self._check_limits(route.limits, len(request.items), call.payload)
            response = route.handle(request, now)
        except rpc.RpcError as e:
            self._refuse(call.action, e.code, e.description, call.msg_id)
            return
        finally:
            self._answering = False
        problem = rpc.schema_error(rpc.CALLRESULT, call.action, response, self.version)
        if problem is not None:  # our bug; the CSMS must still get an answer
            self._refuse(call.action, "InternalError", problem[1], call.msg_id)
            return
        self._out.append(rpc.push_result(call.msg_id, response))

    def _check_limits(self, instance: str, items: int, payload: object) -> None:
        """DeviceDataCtrlr ItemsPerMessage / BytesPerMessage (B05, B06)."""
        most = self.model.integer("DeviceDataCtrlr", "ItemsPerMessage", instance=instance)
        if items > most:
            raise rpc.RpcError("OccurrenceConstraintViolation", f"more than {most} items")
        size = len(json.dumps(payload, separators=(",", ":")))
        most = self.model.integer("DeviceDataCtrlr", "BytesPerMessage", instance=instance)
        if size > most:
            raise rpc.RpcError("FormatViolation", f"more than {most} bytes")

    def _on_get_variables(self, req: GetVariablesRequest, now: float) -> dict:
        results = self.model.get_variables(req.items)
        return {"getVariableResult": [r.to_json() for r in results]}

    def _on_set_variables(self, req: SetVariablesRequest, now: float) -> dict:
        results = self.model.set_variables(req.items, now)
        changed = tuple((r.component.name, r.variable.name) for r in results
                        if r.status is SetStatus.ACCEPTED)  # fmt: skip
        if changed:
            self._events.append(VariablesChanged(changed))
            security = sorted({v for c, v in changed if c == "SecurityCtrlr"})
            if security:
                self.security_event("ReconfigurationOfSecurityParameters", now,
                                    "SetVariables: SecurityCtrlr " + ", ".join(security))  # fmt: skip
        return {"setVariableResult": [r.to_json() for r in results]}

    def _on_reset(self, req: ResetRequest, now: float) -> dict:
        """B11/B12. Resetting one EVSE is not offered (local choice: an EVSE of ours has
        nothing to restart apart from the station)."""
        if req.evse_id is not None:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnsupportedParam",
                                                         "additionalInfo": "no EVSE reset"}}  # fmt: skip
        if req.kind not in ("Immediate", "OnIdle"):
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnsupportedParam"}}
        scheduled = req.kind == "OnIdle" and bool(self.queue.open_transactions())
        self._events.append(ResetRequested(req.kind, scheduled))
        return {"status": "Scheduled" if scheduled else "Accepted"}
