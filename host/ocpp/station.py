"""The interface between the station orchestrator and its OCPP side.

Events in (the station tells OCPP what happened): frozen dataclasses in the past tense,
handed to ``ChargingStation.handle(event, now)``. Commands out (OCPP tells the station what
to do): the ``StationPort`` protocol, which the orchestrator implements (until it exists,
``tests/host/ocpp/scripted.py`` does). Commands are plain calls that return at once; what
the hardware then does comes back as events (a started charge as ``ChargingStarted``,
a fault as ``FaultRaised``). The firmware link's own events (``host.link.events``: LinkUp,
GridStatus and Fault reports) go to ``ChargingStation.link_event`` as they are, for DER
control and its alarms. The one exception is ``unlock``, whose result the CSMS waits
for in the UnlockConnectorResponse (F05), so it answers synchronously.

EVSE ids count from 1; 0 means the whole station (ChangeAvailability, limits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .events import ChargingLimitChanged
from .txqueue import MeterValue


@dataclass(frozen=True)
class IdToken:
    """IdTokenType: the value and its type (ISO14443, eMAID, Central, Local, ...)."""

    value: str
    type: str = "ISO14443"

    def to_json(self) -> dict:
        return {"idToken": self.value, "type": self.type}

    @classmethod
    def from_json(cls, obj: dict) -> IdToken:
        return cls(obj["idToken"], obj["type"])

    @property
    def key(self) -> str:
        """Where the local list and the cache file it: case matters for idToken."""
        return f"{self.type}:{self.value}"


# --- events in -------------------------------------------------------------------------


@dataclass(frozen=True)
class EvPlugged:
    evse_id: int
    connector_id: int = 1


@dataclass(frozen=True)
class EvUnplugged:
    evse_id: int
    connector_id: int = 1


@dataclass(frozen=True)
class TokenPresented:
    """A card, an app or ISO 15118 (eMAID) asks to start, or to stop what it started."""

    evse_id: int
    token: IdToken


@dataclass(frozen=True)
class ChargingStarted:
    """The power path closed and energy flows (after ``start_charging``)."""

    evse_id: int


@dataclass(frozen=True)
class ChargingStopped:
    """Energy stopped flowing without the transaction ending (the EV paused, or the
    station did after ``stop_charging``). ``by_ev``: SuspendedEV rather than SuspendedEVSE."""

    evse_id: int
    by_ev: bool = False


@dataclass(frozen=True)
class MeterSampled:
    evse_id: int
    meter: MeterValue


@dataclass(frozen=True)
class FaultRaised:
    """The EVSE cannot charge. ``stopped_reason`` ends a running transaction
    (ReasonEnumType: EmergencyStop, GroundFault, OvercurrentFault, PowerLoss, Other ...)."""

    evse_id: int
    info: str
    stopped_reason: str = "Other"
    connector_id: int = 1


@dataclass(frozen=True)
class FaultCleared:
    evse_id: int
    connector_id: int = 1


StationEvent = (EvPlugged | EvUnplugged | TokenPresented | ChargingStarted | ChargingStopped
                | MeterSampled | FaultRaised | FaultCleared)  # fmt: skip


# --- commands out ----------------------------------------------------------------------


class StationPort(Protocol):
    def start_charging(self, evse_id: int, tx_id: str) -> None:
        """The transaction is authorized: energy may flow (report ``ChargingStarted``)."""

    def stop_charging(self, evse_id: int, reason: str) -> None:
        """Stop energy flow and open the power path; ``reason`` is the stoppedReason."""

    def apply_limit(self, limit: ChargingLimitChanged) -> None:
        """Hold this limit until ``limit.expires_at``; the next one comes before then."""

    def set_available(self, evse_id: int, available: bool) -> None:
        """Take an EVSE (0: the whole station) out of service or back (G03)."""

    def unlock(self, evse_id: int, connector_id: int) -> bool:
        """Release the cable lock now; False when the lock did not move (F05)."""

    def reset(self, kind: str) -> None:
        """Restart the station (Immediate, or OnIdle once the last transaction ended)."""

    def set_config(self, key: int, value: int) -> None:
        """Send a link SetConfig (docs/link.md; DER control's grid-function settings, in
        the order given: the firmware takes each one as it comes)."""
