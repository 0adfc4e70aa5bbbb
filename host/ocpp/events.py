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


Event = (BootAnswered | HeartbeatAnswered | TransactionEventDelivered
         | TransactionEventAbandoned | CallFailed | RequestRefused | VariablesChanged)  # fmt: skip
