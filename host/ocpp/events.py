"""What the station's OCPP connection machine reports to the station."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BootAnswered:
    """BootNotificationResponse (B01-B03): Accepted, Pending or Rejected."""

    status: str
    interval: int
    current_time: str


@dataclass(frozen=True)
class HeartbeatAnswered:
    current_time: str


@dataclass(frozen=True)
class TransactionEventDelivered:
    tx_id: str
    seq_no: int
    response: dict = field(hash=False)  # idTokenInfo, totalCost, ... for the station to act on


@dataclass(frozen=True)
class TransactionEventAbandoned:
    """MessageAttemptsTransactionEvent exhausted (E13); the event stays on disk."""

    tx_id: str
    seq_no: int
    reason: str


@dataclass(frozen=True)
class CallFailed:
    """A CALL of ours got a CALLERROR, an invalid response, or no response in time."""

    action: str
    code: str
    description: str
    request: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class CallAnswered:
    """A CALL of ours (other than BootNotification, Heartbeat and TransactionEvent, which
    have their own events) got a schema-valid CALLRESULT."""

    action: str
    request: dict = field(hash=False)
    response: dict = field(hash=False)


@dataclass(frozen=True)
class RequestRefused:
    """We answered a CSMS frame with a CALLERROR (or dropped it): for logs and counters."""

    action: str
    code: str
    description: str


@dataclass(frozen=True)
class VariablesChanged:
    """SetVariables put new values in force: (component name, variable name) pairs."""

    names: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ChargingLimitChanged:
    """The composite limit of an EVSE (K08) the station must hold until ``expires_at``
    (epoch seconds; None: no change known within a week), then expect the next one.
    Watts; a negative discharge limit or setpoint means power to the grid (2.1 V2X)."""

    evse_id: int
    limit_w: float
    discharge_limit_w: float
    setpoint_w: float | None
    operation_mode: str
    phases: int
    expires_at: float | None


@dataclass(frozen=True)
class ResetRequested:
    """B11/B12: reset now (Immediate: stop transactions first, stoppedReason
    ImmediateReset) or, when ``scheduled``, once no transaction is running (OnIdle)."""

    kind: str  # Immediate / OnIdle
    scheduled: bool


@dataclass(frozen=True)
class AlarmDue:
    """The deadline the station logic set with ``set_alarm`` has passed."""

    now: float


Event = (BootAnswered | HeartbeatAnswered | TransactionEventDelivered
         | TransactionEventAbandoned | CallFailed | CallAnswered | RequestRefused | VariablesChanged
         | ChargingLimitChanged | ResetRequested | AlarmDue)  # fmt: skip
