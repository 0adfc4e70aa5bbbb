"""What the DIN 70121 and ISO 15118-2 EVCCs share: events, failure reasons and the sans-I/O
plumbing (timers, V2GTP framing, the supportedAppProtocol handshake, response checks).

A subclass names its schema module, SAP protocol and tables as class attributes and keeps
only what the car says and how it answers each response.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from host.exi import codec
from host.exi.runtime import ExiError
from host.v2g import constants as vc
from host.v2g import sap
from host.v2g.errors import RemoteProtocolError
from host.v2g.v2gtp import PayloadType, V2gtpReader, frame

from .ev import EvModel


class Failure(StrEnum):
    NO_NEGOTIATION = "supportedAppProtocol failed"
    MSG_TIMEOUT = "V2G_EVCC_Msg_Timeout"
    SETUP_TIMEOUT = "V2G_EVCC_CommunicationSetup_Timeout"
    ONGOING_TIMEOUT = "ongoing timeout"
    FAILED_CODE = "FAILED response"
    UNEXPECTED = "unexpected response"
    SESSION_ID = "SessionID changed"
    ISOLATION = "isolation not valid"
    SIGNATURE = "signature or certificate not valid"  # PnC
    CONNECTION_LOST = "connection lost"


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    name: str
    response_code: str
    at: float


@dataclass(frozen=True, slots=True)
class SessionStopped:
    """SessionStopRes OK: the session ended as it should."""

    session_id: bytes
    at: float


@dataclass(frozen=True, slots=True)
class SessionFailed:
    reason: Failure
    detail: str
    at: float


class EvccBase:
    """``start(now)``, ``receive(data, now)`` (TCP bytes), ``handle_timer(now)``,
    ``get_timer()``, ``next_event()``, ``data_to_send() -> [bytes]`` (V2GTP frames).
    ``done`` says the driver may close the connection (the EVCC closes it after
    SessionStopRes)."""

    schema: Any  # the generated schema module (V2G_Message, SessionSetupReq, ...)
    sap_protocol: ClassVar[sap.AppProtocol]  # offered in supportedAppProtocolReq
    schema_id: ClassVar[int] = 1
    setup_timeout: ClassVar[float]  # V2G_EVCC_CommunicationSetup_Timeout
    ok_codes: ClassVar[set[Any]]
    answers: ClassVar[dict[type, type]]  # request class -> response class
    handlers: ClassVar[dict[type, str]]  # response class -> the method handling it

    config: Any
    # `now` + this = seconds since 1970 (-20's TimeStamp and TimeAnchor); the asyncio
    # driver sets it from the wall clock, fake-clock tests leave it 0
    clock_offset: float = 0.0

    def __init__(self, ev: EvModel, session_id: bytes) -> None:
        self.ev = ev
        self.session_id = session_id
        self.reader = V2gtpReader((PayloadType.EXI,))
        self.done = False
        self.result: SessionStopped | SessionFailed | None = None
        self.awaiting: type | None = None  # the response class we wait for
        self.sent: list[str] = []  # request names in order, for tests and the log
        self._charging = False
        self._welding_tries = 0
        self._handshake = True
        self._timers: dict[str, float] = {}
        self._phase_started: dict[type, float] = {}
        self._pending: Callable[[float], Any] | None = None  # the next request, paced
        self._out: list[bytes] = []
        self.header: Any = None  # of the last response (PnC reads its Signature)
        self._events: deque[object] = deque()

    # --- surface ------------------------------------------------------------------------

    def start(self, now: float) -> None:
        self._timers["setup"] = now + self.setup_timeout
        offer = sap.push_request([(self.sap_protocol, self.schema_id, 1)])
        self._out.append(frame(PayloadType.EXI, offer))
        self._timers["msg"] = now + vc.SAP_RESPONSE_TIMEOUT

    def receive(self, data: bytes, now: float) -> None:
        if self.done:
            return
        if not data:
            self._fail(Failure.CONNECTION_LOST, "", now)
            return
        self.reader.feed(data)
        while not self.done:
            try:
                message = self.reader.maybe_read_message()
            except RemoteProtocolError as exc:
                self._fail(Failure.UNEXPECTED, str(exc), now)
                return
            if message is None:
                return
            self._timers.pop("msg", None)
            if self._handshake:
                self._on_handshake(message.payload, now)
            else:
                self._on_message(message.payload, now)

    def handle_timer(self, now: float) -> None:
        for name, deadline in list(self._timers.items()):
            if self.done or self._timers.get(name) != deadline or now < deadline:
                continue
            del self._timers[name]
            if name == "send" and self._pending is not None:
                build, self._pending = self._pending, None
                self._send(build(now), now)
            elif name == "setup":
                self._fail(Failure.SETUP_TIMEOUT, "", now)
            elif name == "msg":
                self._fail(Failure.MSG_TIMEOUT, f"no answer to {self.sent[-1:]}", now)

    def get_timer(self) -> float | None:
        return None if self.done or not self._timers else min(self._timers.values())

    def next_event(self) -> object | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    # --- plumbing -----------------------------------------------------------------------

    def _msg_timeout(self, request: Any) -> float:
        """V2G_EVCC_Msg_Timeout for ``request`` (the protocols differ for the loop)."""
        raise NotImplementedError

    def _on_code(self, code: Any) -> None:
        """Each response code, before it is checked (ISO 15118-2 keeps them)."""

    def _send(self, request: Any, now: float, signature: Any = None) -> None:
        s = self.schema
        message = s.V2G_Message(Header=s.MessageHeaderType(SessionID=self.session_id,
                                                           Signature=signature),
                                Body=s.BodyType(BodyElement=request))
        self._out.append(frame(PayloadType.EXI, codec.encode(message, s.NAMESPACE)))
        self.awaiting = self.answers[type(request)]
        self.sent.append(type(request).__name__)
        self._timers["msg"] = now + self._msg_timeout(request)

    def _later(self, build: Callable[[float], Any], now: float) -> None:
        """Send what ``build(now)`` makes after the loop interval."""
        self._pending = build
        self._timers["send"] = now + self.config.loop_interval

    def _fail(self, reason: Failure, detail: str, now: float) -> None:
        self.done = True
        self._timers.clear()
        self.result = SessionFailed(reason, detail, now)
        self._events.append(self.result)

    def _on_handshake(self, payload: bytes, now: float) -> None:
        self._handshake = False
        try:
            res = sap.pull_response(payload)
        except RemoteProtocolError as exc:
            self._fail(Failure.NO_NEGOTIATION, str(exc), now)
            return
        if res.SchemaID != self.schema_id or not res.ResponseCode.value.startswith("OK"):
            self._fail(Failure.NO_NEGOTIATION, res.ResponseCode.value, now)
            return
        self._send(self.schema.SessionSetupReq(EVCCID=self.config.evcc_id), now)

    def _on_message(self, payload: bytes, now: float) -> None:
        s = self.schema
        try:
            message = codec.decode(s.NAMESPACE, payload)
        except (ExiError, ValueError, IndexError) as exc:
            self._fail(Failure.UNEXPECTED, f"does not decode: {exc}", now)
            return
        body: Any = message.Body.BodyElement if isinstance(message, s.V2G_Message) else None
        if body is None or type(body) is not self.awaiting:
            self._fail(Failure.UNEXPECTED, f"{type(body).__name__}, expected "
                       f"{getattr(self.awaiting, '__name__', None)}", now)  # fmt: skip
            return
        self.header = message.Header
        self._answered(body, message.Header.SessionID, s.SessionSetupRes, now)

    def _answered(self, body: Any, session_id: bytes, setup: type, now: float) -> None:
        """A decoded response of the awaited type, for every protocol: its code, the
        SessionID (taken from ``setup``, the protocol's SessionSetupRes, checked on every
        other), then its handler."""
        code = body.ResponseCode
        self._on_code(code)
        self._events.append(ResponseReceived(type(body).__name__, code.value, now))
        if code not in self.ok_codes and not self._tolerated(body):
            self._fail(Failure.FAILED_CODE, f"{type(body).__name__} {code.value}", now)
            return
        if isinstance(body, setup):
            self.session_id = session_id
        elif session_id != self.session_id:
            self._fail(Failure.SESSION_ID, session_id.hex(), now)
            return
        getattr(self, self.handlers[type(body)])(body, now)

    def _tolerated(self, body: Any) -> bool:
        """A WARNING the session goes on after, in this response (none by default)."""
        return False

    def _ongoing(self, request: type, limit: float, now: float) -> bool:
        """True while the phase of ``request`` is within its limit (fails it otherwise)."""
        started = self._phase_started.setdefault(request, now)
        if now - started > limit:
            self._fail(Failure.ONGOING_TIMEOUT, request.__name__, now)
            return False
        return True

    def _on_session_stop(self, res: Any, now: float) -> None:
        self.done = True
        self._timers.clear()
        self.result = SessionStopped(self.session_id, now)
        self._events.append(self.result)
