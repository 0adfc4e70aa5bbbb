"""Link-level events the host sees besides the firmware's own messages.

The firmware's reports (Status, CpStateChanged, ContactorChanged, Fault, Telemetry,
GridStatus, CableStatus, WearStatus, FirmwareHello) reach the host as the message classes of firmware.link.messages, the
one definition both sides share; these add what only the host side can know.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.link import messages as m


@dataclass(frozen=True)
class LinkUp:
    hello: m.FirmwareHello

    @property
    def board(self) -> str:
        return self.hello.board.rstrip(b"\0").decode("ascii", "replace")


@dataclass(frozen=True)
class LinkDown:
    reason: str


@dataclass(frozen=True)
class CommandAcked:
    """The firmware applied the command; `status` is the actual state it reported right
    after (None only if that Status frame was lost)."""

    seq: int
    command: m.Message
    status: m.Status | None = None


@dataclass(frozen=True)
class CommandRejected:
    seq: int
    command: m.Message
    reason: int
    field: int

    def describe(self) -> str:
        name = m.NACK_NAMES.get(self.reason, str(self.reason))
        if 0 <= self.field < len(self.command.FIELDS):
            return f"{name} ({type(self.command).__name__}.{self.command.FIELDS[self.field]})"
        return name


@dataclass(frozen=True)
class CommandTimedOut:
    seq: int
    command: m.Message
    attempts: int


@dataclass(frozen=True)
class CommandSuperseded:
    """A newer command of the same ordering class (`by_seq`) replaced this one before
    it was acknowledged: it is no longer sent, and the firmware may or may not have
    applied it before the newer one (never after)."""

    seq: int
    command: m.Message
    by_seq: int


@dataclass(frozen=True)
class FirmwareReported:
    """A firmware message that is not an answer to a command (events, telemetry)."""

    seq: int
    message: m.Message


Event = (
    LinkUp | LinkDown | CommandAcked | CommandRejected | CommandTimedOut | CommandSuperseded
    | FirmwareReported
)
