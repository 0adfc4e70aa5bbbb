"""The session core every SECC machine shares (DIN 70121 now, ISO 15118-2 and -20 next).

A protocol machine is a subclass that supplies
- ``TABLE``: the message sequence as data, ``{(state, request class): Step}``; a request
  that has no entry for the current state is out of sequence;
- ``decode(payload) -> (session_id, request)`` and ``encode(session_id, response) -> bytes``;
- ``failure(request, code_name, now) -> response``: the response to ``request`` carrying a
  FAILED code, with the mandatory fields filled from the station's present state;
- one handler method per Step, which returns a ``Reply`` (response, next state).

The core does what is the same in every protocol: the communication setup and sequence
timers, the sequence check (FAILED_SequenceError), the SessionID check
(FAILED_UnknownSession), ending the session after any FAILED response, the events, and the
``host.v2g.protocol.V2gProtocol`` surface that ``SeccServer`` drives. It is sans-I/O: time
comes in as ``now``; nothing here reads a clock or a socket.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, ClassVar

from host.v2g.errors import LocalProtocolError, RemoteProtocolError
from host.v2g.protocol import SessionContext
from host.v2g.v2gtp import PayloadType


class EndReason(StrEnum):
    """Why a session machine finished (the communication log's reason)."""

    STOPPED = "SessionStop"
    SEQUENCE_ERROR = "FAILED_SequenceError"
    UNKNOWN_SESSION = "FAILED_UnknownSession"
    FAILED = "FAILED response"  # any other FAILED_* code we answered
    SETUP_TIMEOUT = "V2G_SECC_CommunicationSetup_Timeout"
    SEQUENCE_TIMEOUT = "V2G_SECC_Sequence_Timeout"
    ONGOING_TIMEOUT = "ongoing timeout"  # an EVSEProcessing=Ongoing phase took too long
    UNDECODABLE = "message does not decode"
    CONNECTION_LOST = "connection lost"


class Timer(StrEnum):
    COMMUNICATION_SETUP = "V2G_SECC_CommunicationSetup_Timeout"
    SEQUENCE = "V2G_SECC_Sequence_Timeout"


@dataclass(frozen=True, slots=True)
class Step:
    """One row of a sequence table: the handler method's name and the states it may lead
    to (the core refuses a handler that goes elsewhere: the table stays the truth)."""

    handler: str
    next: frozenset[Any]


def step(handler: str, *next_states: Any) -> Step:
    """A TABLE entry: ``handler`` and the states it may lead to."""
    return Step(handler, frozenset(next_states))


@dataclass(frozen=True, slots=True)
class Reply:
    response: Any
    next: Any  # the next state


# --- events (past tense, frozen) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionStarted:
    session_id: bytes
    ev_id: str


@dataclass(frozen=True, slots=True)
class RequestAnswered:
    request: str  # the message name, e.g. "CableCheckReq"
    response_code: str
    state: str  # the state after the answer
    at: float
    # the decoded messages, for the communication log's key fields (host.v2g.commlog)
    request_body: Any = field(default=None, compare=False, repr=False)
    response_body: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SessionEnded:
    reason: EndReason
    detail: str
    at: float


class SessionCore:
    """Base class; see the module docstring for what a subclass provides."""

    payload_types: frozenset[int] = frozenset({PayloadType.EXI})
    TABLE: ClassVar[Mapping[tuple[Any, type], Step]]
    INITIAL: ClassVar[Any]  # the state before SessionSetupReq
    FINAL: ClassVar[Any]  # the state after SessionStopRes
    SETUP_REQUEST: ClassVar[type]  # SessionSetupReq of the protocol
    REQUEST_TYPES: ClassVar[tuple[type, ...]]  # every request the protocol has
    SEQUENCE_TIMEOUT: ClassVar[float]
    SETUP_TIMEOUT: ClassVar[float]

    def __init__(self, context: SessionContext, *, new_session_id: Callable[[], bytes]) -> None:
        self.context = context
        self.state = self.INITIAL
        self.session_id = b""
        self.new_session_id = new_session_id
        self.end: SessionEnded | None = None
        # set by a handler whose FAILED answer is a timer running out (an Ongoing phase past
        # its limit), so the session ends for that rather than as a plain FAILED
        self.failed_because: EndReason | None = None
        self._out: list[tuple[int, bytes]] = []
        self._events: deque[object] = deque()
        self.timers: dict[Timer | str, float] = {
            Timer.COMMUNICATION_SETUP: context.connected_at + self.SETUP_TIMEOUT,
        }

    # --- V2gProtocol --------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.end is not None

    def receive(self, payload_type: int, payload: bytes, now: float) -> None:
        if self.end is not None:
            return
        try:
            session_id, request = self.decode(payload)
        except RemoteProtocolError as exc:
            # nothing to answer with: the response type is unknown ([V2G-DC-116] close)
            self._finish(EndReason.UNDECODABLE, f"{exc.code}: {exc}", now)
            return
        if not isinstance(request, self.REQUEST_TYPES):
            self._finish(EndReason.UNDECODABLE, f"{type(request).__name__} is no request",
                         now)  # fmt: skip
            return
        # A request inside an established session is judged by its SessionID first: from
        # a session that is not ours no message can be "in sequence". SessionSetupReq
        # itself is never an unknown session (out of sequence once established).
        established = self.state != self.INITIAL
        if (established and not isinstance(request, self.SETUP_REQUEST)
                and session_id != self.session_id):  # fmt: skip
            self._refuse(request, EndReason.UNKNOWN_SESSION, f"SessionID {session_id.hex()} "
                         f"is not {self.session_id.hex()}", now)  # fmt: skip
            return
        step = self.TABLE.get((self.state, type(request)))
        if step is None:
            self._refuse(request, EndReason.SEQUENCE_ERROR,
                         f"{type(request).__name__} in {self._state_name()}", now)  # fmt: skip
            return
        if isinstance(request, self.SETUP_REQUEST):
            self.timers.pop(Timer.COMMUNICATION_SETUP, None)
        reply: Reply = getattr(self, step.handler)(request, now)
        if reply.next not in step.next:
            # our bug, not the EV's: end the session safely first, then say so (h2 style)
            self._finish(EndReason.FAILED, f"{step.handler} left the table", now)
            raise LocalProtocolError(f"{step.handler} went to {reply.next}, not in the table")
        self._answer(request, reply.response, reply.next, now)
        code = _code_name(reply.response)
        if code.startswith("FAILED"):
            # DIN [V2G-DC-665] (as EVerest cites it): answer FAILED, then close the TCP
            # connection; -2 and -20 end the session the same way
            self._finish(self.failed_because or EndReason.FAILED,
                         f"{type(reply.response).__name__} {code}", now)  # fmt: skip
        elif reply.next == self.FINAL:
            self._finish(EndReason.STOPPED, "", now)
        else:
            self.timers[Timer.SEQUENCE] = now + self.SEQUENCE_TIMEOUT

    def handle_timer(self, now: float) -> None:
        # a snapshot: a handler may re-arm or clear timers while we iterate
        for name, deadline in list(self.timers.items()):
            if self.end is not None:
                return
            if self.timers.get(name) == deadline and now >= deadline:
                del self.timers[name]
                self.on_timeout(name, now)

    def get_timer(self) -> float | None:
        if self.end is not None or not self.timers:
            return None
        return min(self.timers.values())

    def next_event(self) -> object | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[tuple[int, bytes]]:
        out, self._out = self._out, []
        return out

    def connection_lost(self, now: float) -> None:
        """The connection went away under us (the EV closed it, or a V2GTP error)."""
        if self.end is None:
            self._finish(EndReason.CONNECTION_LOST, "", now)

    # --- for subclasses -----------------------------------------------------------------

    def decode(self, payload: bytes) -> tuple[bytes, Any]:
        raise NotImplementedError

    def encode(self, session_id: bytes, response: Any) -> bytes:
        raise NotImplementedError

    def failure(self, request: Any, code_name: str, now: float) -> Any:
        raise NotImplementedError

    def on_timeout(self, name: Timer | str, now: float) -> None:
        reasons: dict[Timer | str, EndReason] = {
            Timer.COMMUNICATION_SETUP: EndReason.SETUP_TIMEOUT,
            Timer.SEQUENCE: EndReason.SEQUENCE_TIMEOUT}
        reason = reasons.get(name, EndReason.ONGOING_TIMEOUT)
        self._finish(reason, str(name), now)

    def on_end(self, reason: EndReason, now: float) -> None:
        """Make the station safe; called once, whatever ended the session."""

    def payload_type_of(self, response: Any) -> int:
        """The V2GTP payload type ``response`` goes out with (-20 has one per schema)."""
        return PayloadType.EXI

    def start_session(self, request: Any, now: float) -> None:
        """For the SessionSetup handler: a fresh SessionID."""
        self.session_id = self.new_session_id()

    def emit(self, event: object) -> None:
        self._events.append(event)

    # --- internals ----------------------------------------------------------------------

    def _refuse(self, request: Any, reason: EndReason, detail: str, now: float) -> None:
        """Answer with the FAILED code named like ``reason`` and end the session."""
        self._answer(request, self.failure(request, reason.value, now), self.state, now)
        self._finish(reason, detail, now)

    def _answer(self, request: Any, response: Any, next_state: Any, now: float) -> None:
        self._out.append((self.payload_type_of(response), self.encode(self.session_id, response)))
        self.state = next_state
        self._events.append(RequestAnswered(type(request).__name__, _code_name(response),
                                            self._state_name(), now, request, response))

    def _state_name(self) -> str:
        return self.state.name if isinstance(self.state, Enum) else str(self.state)

    def _finish(self, reason: EndReason, detail: str, now: float) -> None:
        self.end = SessionEnded(reason, detail, now)
        self.timers.clear()
        self.on_end(reason, now)
        self._events.append(self.end)


def _code_name(response: Any) -> str:
    code = getattr(response, "ResponseCode", None)
    return code.value if isinstance(code, Enum) else str(code)
