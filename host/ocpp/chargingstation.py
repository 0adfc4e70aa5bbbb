"""The charging station's OCPP logic between the orchestrator (``station.StationPort``,
events from ``station``) and the connection machine, sans-I/O.

It owns what OCPP says about each EVSE: plugged, authorized, the running transaction,
faults and availability, and the connector status derived from them; it turns station
events into TransactionEvents and StatusNotifications, and CSMS requests into commands.

Rules it keeps, and where they come from (OCPP 2.0.1 Part 2):
- a transaction starts once the EV is plugged and its token authorized, in either order
  (E02/E03 with TxStartPoint at the power path); the token that started it stops it (E07);
  an unplug ends it with EVCommunicationLost / EVDisconnected (E10); a fault with
  AbnormalCondition and the fault's reason;
- authorization decisions come from ``auth.Authorization``; a refused token is logged as
  ``OCPP-IdToken-Rejected`` with its status and who decided (our code for it);
- connector status (G01): Faulted > Unavailable (unless a transaction runs) > Occupied
  (plugged or in a transaction) > Available; a change is sent as StatusNotification when
  connected, and all connectors after every accepted BootNotification; a change made
  offline is sent on the first answer from the CSMS after the reconnect;
- ChangeAvailability to Inoperative is Scheduled while a transaction runs on the EVSE and
  done when it ends (G03/G04); availability persists in the device model (EVSE Available);
- Reset Immediate ends running transactions (ImmediateReset) and resets; OnIdle waits for
  the last transaction to end (B11/B12, answered by the machine);
- DER control (2.1, ``der.DerControls`` with the StationPort as its ``GridConfig``): its
  SetConfig commands go out through ``StationPort.set_config`` and again after every
  LinkUp (the firmware may have restarted); scheduled controls start and end on the
  station's alarm; the link's GridStatus / Fault reports feed ``deralarm.DerAlarms``
  (NotifyDERAlarm, the OCPP-01 drift log).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from . import stationactions
from .auth import Authorization, Decision
from .certificates import CertificateManager
from .der import DerControls
from .der import attach as der_attach
from .der import tick as der_tick
from .deralarm import DerAlarms
from .devmodel import Component, Variable
from .events import (
    AlarmDue,
    BootAnswered,
    CallAnswered,
    CallFailed,
    ChargingLimitChanged,
    Event,
    HeartbeatAnswered,
    ResetRequested,
    TransactionEventDelivered,
)
from .machine import Registration, StationConnection
from .smartcharging import Rejected
from .station import (
    ChargingStarted,
    ChargingStopped,
    EvPlugged,
    EvUnplugged,
    FaultCleared,
    FaultRaised,
    IdToken,
    MeterSampled,
    StationEvent,
    StationPort,
    TokenPresented,
)
from .store import iso_time
from .txqueue import MeterValue

log = logging.getLogger("v2gate.ocpp")
REJECTED_CODE = "OCPP-IdToken-Rejected"


@dataclass
class Evse:
    evse_id: int
    plugged: bool = False
    fault: str | None = None
    operative: bool = True
    scheduled_operative: bool | None = None  # ChangeAvailability waiting for the tx to end
    tx_id: str | None = None
    token: IdToken | None = None  # authorized for this EVSE (before or during the tx)
    asking: IdToken | None = None  # Authorize outstanding
    remote_start_id: int | None = None
    profile: dict | None = None  # RequestStartTransaction's TxProfile, set when the tx starts
    status: str | None = None  # the connector status last sent (None: not sent yet)
    plug_deadline: float | None = None  # authorized, waiting for the EV (EVConnectionTimeOut)
    last_meter: MeterValue | None = field(default=None, repr=False)


class ChargingStation:
    def __init__(self, conn: StationConnection, port: StationPort, auth: Authorization, *,
                 evses: Iterable[int] = (1,), vendors: Iterable[str] = (),
                 certificates: CertificateManager | None = None,
                 der: DerControls | None = None, der_alarms: DerAlarms | None = None,
                 new_tx_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:  # fmt: skip
        self.conn = conn
        self.port = port
        self.auth = auth
        self.vendors = frozenset(vendors)  # DataTransfer vendorIds we answer
        self.certificates = certificates
        self.der = der
        self.der_alarms = der_alarms
        self.new_tx_id = new_tx_id
        self.model = conn.model
        self.evses = {n: Evse(n, operative=self.model.boolean("EVSE", "Available", evse=n))
                      for n in evses}  # fmt: skip
        self.station_operative = self.model.boolean("ChargingStation", "Available")
        self.reset_pending = False
        self._dirty = False  # a status changed while no CSMS could hear it
        self.station_scheduled = False  # station-wide Inoperative waits for the transactions
        for tx in conn.queue.open_transactions():  # a restart: the transaction goes on
            if tx.evse_id in self.evses:
                e = self.evses[tx.evse_id]
                e.tx_id, e.plugged = tx.tx_id, True
                started = conn.queue.started_payload(tx.tx_id) or {}
                if "idToken" in started:  # so the same card still stops it
                    e.token = IdToken.from_json(started["idToken"])
        conn.add_routes(stationactions.routes(self))
        if der is not None:
            der_attach(conn, der, after=lambda now: self._set_alarm())
            self._set_alarm()  # a scheduled control stored before a restart
        self._refresh(0.0, send=False)

    # --- events from the station -------------------------------------------------------

    def handle(self, event: StationEvent, now: float) -> None:
        e = self.evses[event.evse_id]
        if isinstance(event, EvPlugged):
            e.plugged = True
            if e.token is not None and e.tx_id is None:
                self._start(e, now, "CablePluggedIn")
        elif isinstance(event, EvUnplugged):
            e.plugged = False
            if e.tx_id is not None:
                self._end(e, now, "EVCommunicationLost", "EVDisconnected")
        elif isinstance(event, TokenPresented):
            self._token(e, event.token, now)
        elif isinstance(event, ChargingStarted | ChargingStopped):
            state = ("Charging" if isinstance(event, ChargingStarted)
                     else "SuspendedEV" if event.by_ev else "SuspendedEVSE")  # fmt: skip
            if e.tx_id is not None:
                self.conn.transaction_updated(e.tx_id, now=now, trigger_reason="ChargingStateChanged",
                                              charging_state=state)  # fmt: skip
        elif isinstance(event, MeterSampled):
            e.last_meter = event.meter
            if e.tx_id is not None:
                self.conn.transaction_updated(e.tx_id, now=now, trigger_reason="MeterValuePeriodic",
                                              meter_values=[event.meter])  # fmt: skip
            elif self.conn.connected:
                self.conn.call("MeterValues", self._meter_values(e), now)
        elif isinstance(event, FaultRaised):
            e.fault = event.info
            if e.tx_id is not None:
                self._end(e, now, "AbnormalCondition", event.stopped_reason)
        elif isinstance(event, FaultCleared):
            e.fault = None
        self._refresh(now)

    def link_event(self, event: object, now: float) -> None:
        """Any ``host.link`` event: LinkUp sends the DER settings again; GridStatus and
        Fault reports raise and end NotifyDERAlarm and log OCPP-01."""
        if self.der is not None:
            self.der.link_event(event, now)
        if self.der_alarms is not None:
            self.der_alarms.link_event(event, now)
            for action, payload in self.der_alarms.take_calls():
                self.conn.call(action, payload, now)

    # --- events from the connection machine --------------------------------------------

    def on_event(self, event: Event, now: float) -> None:
        """Feed every event of the machine here (the driver's ``on_event``)."""
        if isinstance(event, BootAnswered) and event.status == "Accepted":
            for e in self.evses.values():
                e.status = None  # B01: every connector's status after a boot
            self._dirty = True
        elif isinstance(event, CallAnswered) and event.action == "Authorize":
            self._authorize_answered(event.request, event.response["idTokenInfo"], now)
        elif isinstance(event, CallFailed) and event.action == "Authorize":
            token = IdToken.from_json(event.request["idToken"])
            log.warning("Authorize failed (%s: %s): deciding offline", event.code, event.description)
            self._asked(token, self.auth.decide(token, online=False, now=now), now)
        elif isinstance(event, TransactionEventDelivered):
            self._transaction_answered(event, now)
        elif isinstance(event, ChargingLimitChanged):
            self.port.apply_limit(event)
        elif isinstance(event, ResetRequested):
            self._reset(event, now)
        elif isinstance(event, AlarmDue):
            due = self.der.get_timer() if self.der is not None else None
            if self.der is not None and due is not None and due <= now:
                der_tick(self.conn, self.der, now)  # scheduled controls start / end
            self._plug_timeouts(now)
        if isinstance(event, BootAnswered | HeartbeatAnswered | CallAnswered
                      | TransactionEventDelivered) and self._dirty:  # fmt: skip
            self._refresh(now)

    def poll(self, now: float) -> list[Event]:
        """Drain the machine's events through ``on_event`` (sans-I/O use, tests)."""
        out = []
        while (event := self.conn.next_event()) is not None:
            self.on_event(event, now)
            out.append(event)
        return out

    # --- authorization -----------------------------------------------------------------

    def _online(self) -> bool:
        return self.conn.connected and self.conn.registration is Registration.ACCEPTED

    def _token(self, e: Evse, token: IdToken, now: float) -> None:
        if e.tx_id is not None:
            if e.token == token:  # E07: the same token stops
                self._end(e, now, "StopAuthorized", "Local")
            else:
                self._rejected(e, token, Decision("Invalid", "not the transaction's token"))
            return
        if e.fault is not None or not self._operative(e):
            self._rejected(e, token, Decision("Invalid", "EVSE unavailable"))
            return
        decision = self.auth.decide(token, online=self._online(), now=now)
        if decision.status is None:
            e.asking = token
            self.conn.call("Authorize", {"idToken": token.to_json()}, now)
        else:
            self._asked(token, decision, now, e)

    def _authorize_answered(self, request: dict, info: dict, now: float) -> None:
        token = IdToken.from_json(request["idToken"])
        self.auth.remember(token, info, now)
        status = info["status"]
        for e in self.evses.values():
            allowed = info.get("evseId")
            if e.asking == token and allowed and e.evse_id not in allowed:
                status = "NotAllowedTypeEVSE"
        self._asked(token, Decision(status, "csms", info), now)

    def _asked(self, token: IdToken, decision: Decision, now: float, e: Evse | None = None) -> None:
        evse = e or next((x for x in self.evses.values() if x.asking == token), None)
        if evse is None:
            return  # the EVSE moved on (a fault, a remote start) while the CSMS thought
        evse.asking = None
        if decision.accepted:
            evse.token = token
            if evse.plugged and evse.tx_id is None:
                self._start(evse, now, "Authorized")
            elif evse.tx_id is None:  # E03: the EV has EVConnectionTimeOut to arrive
                evse.plug_deadline = now + self.model.integer("TxCtrlr", "EVConnectionTimeOut")
                self._set_alarm()
        else:
            self._rejected(evse, token, decision)
            evse.remote_start_id = evse.profile = None

    def _rejected(self, e: Evse, token: IdToken, decision: Decision) -> None:
        log.warning("%s: idToken %s (%s) refused on EVSE %d: %s (decided by %s)", REJECTED_CODE,
                    token.value, token.type, e.evse_id, decision.status, decision.source)  # fmt: skip

    def _transaction_answered(self, event: TransactionEventDelivered, now: float) -> None:
        info = event.response.get("idTokenInfo")
        e = next((x for x in self.evses.values() if x.tx_id == event.tx_id), None)
        if info is None or e is None or e.token is None:
            return
        self.auth.remember(e.token, info, now)
        if info["status"] != "Accepted" and self.model.boolean("TxCtrlr", "StopTxOnInvalidId"):
            self._rejected(e, e.token, Decision(info["status"], "csms", info))  # C12: deauthorized
            self._end(e, now, "Deauthorized", "DeAuthorized")
            self._refresh(now)

    def _set_alarm(self) -> None:
        deadlines = [e.plug_deadline for e in self.evses.values() if e.plug_deadline is not None]
        if self.der is not None and (edge := self.der.get_timer()) is not None:
            deadlines.append(edge)
        self.conn.set_alarm(min(deadlines, default=None))

    def _plug_timeouts(self, now: float) -> None:
        for e in self.evses.values():
            if e.plug_deadline is not None and e.plug_deadline <= now:
                e.plug_deadline = None
                if e.tx_id is None and e.token is not None:
                    log.info("EVSE %d: no EV within EVConnectionTimeOut, authorization of %s "
                             "dropped", e.evse_id, e.token.value)  # fmt: skip
                    e.token = e.remote_start_id = e.profile = None
        self._set_alarm()

    # --- transactions ------------------------------------------------------------------

    def _start(self, e: Evse, now: float, trigger: str) -> None:
        assert e.token is not None
        if e.plug_deadline is not None:
            e.plug_deadline = None
            self._set_alarm()
        e.tx_id = tx_id = self.new_tx_id()
        if e.remote_start_id is not None:
            trigger = "RemoteStart"
        meter = [e.last_meter] if e.last_meter is not None else []
        self.conn.transaction_started(tx_id, now=now, trigger_reason=trigger, evse_id=e.evse_id,
                                      id_token=e.token.to_json(), meter_values=meter,
                                      charging_state="EVConnected",
                                      remote_start_id=e.remote_start_id)  # fmt: skip
        if e.profile is not None and self.conn.smart is not None:
            try:
                self.conn.smart.set_profile(e.evse_id, dict(e.profile, transactionId=tx_id))
                self.conn.publish_limits(now)
            except Rejected as err:
                log.warning("RequestStartTransaction's charging profile refused: %s", err.info)
        e.remote_start_id = e.profile = None
        self.port.start_charging(e.evse_id, tx_id)

    def _end(self, e: Evse, now: float, trigger: str, reason: str) -> None:
        assert e.tx_id is not None
        meter = [e.last_meter] if e.last_meter is not None else []
        self.conn.transaction_ended(e.tx_id, now=now, trigger_reason=trigger,
                                    stopped_reason=reason, meter_values=meter)  # fmt: skip
        self.port.stop_charging(e.evse_id, reason)
        e.tx_id = e.token = None
        if e.scheduled_operative is not None:
            self._set_operative(e, e.scheduled_operative)
        if self.station_scheduled and not any(x.tx_id for x in self.evses.values()):
            self.station_scheduled = False
            self.port.set_available(0, False)
        if self.reset_pending and not any(x.tx_id for x in self.evses.values()):
            self.reset_pending = False
            self._do_reset("OnIdle", now)

    # --- status ------------------------------------------------------------------------

    def _operative(self, e: Evse) -> bool:
        return e.operative and self.station_operative

    def connector_status(self, e: Evse) -> str:
        if e.fault is not None:
            return "Faulted"
        if not self._operative(e) and e.tx_id is None:
            return "Unavailable"
        return "Occupied" if e.plugged or e.tx_id is not None else "Available"

    def _refresh(self, now: float, send: bool = True) -> None:
        """Bring the AvailabilityState variables up to date and tell the CSMS what changed."""
        can_send = send and self._online()
        self._dirty = False
        for e in self.evses.values():
            status = self.connector_status(e)
            for comp in (Component("Connector", evse=e.evse_id, connector=1),
                         Component("EVSE", evse=e.evse_id)):  # fmt: skip
                self.model.set_own(comp, Variable("AvailabilityState"), status)
            if status == e.status:
                continue
            if not can_send:
                self._dirty = send
                continue
            e.status = status
            self.conn.call("StatusNotification", self._status_notification(e, now), now)

    def _status_notification(self, e: Evse, now: float) -> dict:
        return {"timestamp": iso_time(now), "connectorStatus": self.connector_status(e),
                "evseId": e.evse_id, "connectorId": 1}  # fmt: skip

    def _meter_values(self, e: Evse) -> dict:
        assert e.last_meter is not None
        return {"evseId": e.evse_id, "meterValue": [e.last_meter.to_json()]}

    def _set_operative(self, e: Evse, operative: bool) -> None:
        e.scheduled_operative = None
        e.operative = operative
        self.model.set_own(Component("EVSE", evse=e.evse_id), Variable("Available"),
                           "true" if operative else "false")  # fmt: skip
        self.port.set_available(e.evse_id, operative)

    def _reset(self, event: ResetRequested, now: float) -> None:
        if event.kind == "Immediate":
            for e in self.evses.values():
                if e.tx_id is not None:
                    self._end(e, now, "ResetCommand", "ImmediateReset")
            self._refresh(now)
            self._do_reset("Immediate", now)
        elif event.scheduled:
            self.reset_pending = True
        else:
            self._do_reset(event.kind, now)

    def _do_reset(self, kind: str, now: float) -> None:
        # on disk before the port restarts us: sent after the reboot (A04, critical)
        self.conn.security_event("ResetOrReboot", now, f"Reset {kind} requested by the CSMS")
        self.port.reset(kind)
