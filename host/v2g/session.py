"""One V2G connection, sans-I/O: V2GTP framing in and out, the SupportedAppProtocol
handshake, then the chosen protocol's machine (host.v2g.protocol).

Closes (``closed`` set, ``ConnectionClosed`` emitted) when the V2GTP header check fails
(-2 §7.8.3.2: the message is discarded and the connection closed), when the handshake
fails (after sending Failed_NoNegotiation), when V2G_SECC_CommunicationSetup_Timeout runs
out before a protocol is chosen, or when the protocol machine finishes.

Which protocols a connection may negotiate depends on its transport (-20 §7.7.3.2 Table 5):
DIN only without TLS ([V2G-DC-618]); ISO 15118-20 only over TLS 1.3 or later: [V2G20-1235]
(TLS always for -20) and [V2G20-2356] (the SECC shall not select -20 when TLS 1.2 or lower
was negotiated). The SECC does that by not offering -20 on such a connection, so the EV's
list decides as usual: its next protocol we offer (-2, say) is chosen, and with none left
the answer is Failed_NoNegotiation and the connection closes (-2 §8.2.4.2).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from . import constants as c
from . import sap
from .errors import LocalProtocolError, RemoteProtocolError
from .protocol import ProtocolFactory, SessionContext, V2gProtocol
from .tls import TlsInfo
from .v2gtp import PayloadType, V2gtpReader, frame

ISO20_PREFIX = "urn:iso:std:iso:15118:-20:"


def allowed_on(offer: sap.AppProtocol, tls: TlsInfo | None, tls_used: bool) -> bool:
    """May ``offer`` be negotiated on this transport? (see the module docstring)"""
    if offer.namespace.startswith(ISO20_PREFIX):
        return tls is not None and tls.tls13  # [V2G20-1235], [V2G20-2356]
    if offer is sap.DIN:
        return not tls_used  # [V2G-DC-618]
    return True


class CloseReason(StrEnum):
    BAD_HEADER = "V2GTP header refused"
    BAD_HANDSHAKE = "supportedAppProtocolReq malformed"
    NO_NEGOTIATION = "no common protocol (Failed_NoNegotiation)"
    SETUP_TIMEOUT = "V2G_SECC_CommunicationSetup_Timeout"
    FINISHED = "session finished"
    PEER_CLOSED = "EV closed the connection"
    SHUTDOWN = "SECC server closed"


@dataclass(frozen=True, slots=True)
class ProtocolNegotiated:
    negotiation: sap.Negotiation
    withheld: tuple[str, ...] = ()  # offered, but not on this transport (see allowed_on)


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    reason: CloseReason
    detail: str = ""


# ProtocolNegotiated, ConnectionClosed, or whatever the protocol machine reports
Event = object


class V2gConnection:
    """``receive(data, now)``, ``handle_timer(now)``, ``get_timer()``, ``next_event()``,
    ``data_to_send() -> [bytes]``; ``closed`` says the driver should close the socket once
    it has sent what ``data_to_send()`` gave."""

    def __init__(self, offers: Sequence[sap.AppProtocol],
                 protocols: Mapping[str, ProtocolFactory], now: float, *, tls: bool = False,
                 peer: str = "", prefer: Literal["ev", "secc"] = "ev",
                 max_payload: int = c.V2GTP_DEFAULT_MAX_PAYLOAD,
                 setup_timeout: float = c.COMMUNICATION_SETUP_TIMEOUT,
                 tls_info: TlsInfo | None = None) -> None:  # fmt: skip
        """``tls``: the connection runs over TLS; ``tls_info``: what its handshake settled
        (the server always passes it; without it -20 is never offered)."""
        tls = tls or tls_info is not None
        self.offers = [o for o in offers if allowed_on(o, tls_info, tls)]
        # offered but not here: said in the log, an EV asking for -20 over TLS 1.2 is a
        # misconfiguration someone has to find
        self.withheld = [o.name for o in offers if o not in self.offers]
        self.protocols = dict(protocols)
        self.tls = tls
        self.tls_info = tls_info
        self.peer = peer
        self.prefer = prefer
        self.connected_at = now
        self.reader = V2gtpReader((PayloadType.EXI,), max_payload=max_payload)
        self.machine: V2gProtocol | None = None
        self.negotiation: sap.Negotiation | None = None
        self.closed: ConnectionClosed | None = None
        self._setup_deadline: float | None = now + setup_timeout
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()

    # --- the sans-I/O surface --------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        if self.closed is not None:
            return  # late bytes after we decided to close: dropped
        if not data:
            self._close(CloseReason.PEER_CLOSED, now=now)
            return
        self.reader.feed(data)
        while self.closed is None:
            try:
                message = self.reader.maybe_read_message()
            except RemoteProtocolError as exc:
                self._close(CloseReason.BAD_HEADER, f"{exc.code}: {exc}", now=now)
                return
            if message is None:
                return
            if self.machine is None:
                self._handshake(message.payload, now)
            else:
                self.machine.receive(message.payload_type, message.payload, now)
                self._pump()

    def handle_timer(self, now: float) -> None:
        if self.closed is not None:
            return
        if self._setup_deadline is not None and now >= self._setup_deadline:
            self._close(CloseReason.SETUP_TIMEOUT)
            return
        if self.machine is not None:
            self.machine.handle_timer(now)
            self._pump()

    def shutdown(self, now: float) -> None:
        """The server is closing under this connection: the machine makes the station safe
        (``connection_lost``) and the connection closes with SHUTDOWN."""
        if self.closed is None:
            self._close(CloseReason.SHUTDOWN, now=now)

    def get_timer(self) -> float | None:
        if self.closed is not None:
            return None
        if self.machine is None:
            return self._setup_deadline
        return self.machine.get_timer()

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    # --- internals ---------------------------------------------------------------------

    def _handshake(self, payload: bytes, now: float) -> None:
        try:
            request = sap.pull_request(payload)
        except RemoteProtocolError as exc:
            self._close(CloseReason.BAD_HANDSHAKE, str(exc))
            return
        offers = [o for o in self.offers if o.namespace in self.protocols]
        negotiation = sap.negotiate(request, offers, self.prefer)
        self.negotiation = negotiation
        self._out.append(frame(PayloadType.EXI, sap.push_response(negotiation)))
        self._events.append(ProtocolNegotiated(negotiation, tuple(self.withheld)))
        if negotiation.chosen is None or negotiation.schema_id is None:
            self._close(CloseReason.NO_NEGOTIATION)
            return
        context = SessionContext(negotiation.chosen, negotiation.schema_id, self.tls,
                                 self.peer, self.connected_at, now, self.tls_info)  # fmt: skip
        self.machine = self.protocols[negotiation.chosen.namespace](context)
        # the protocol machine owns the session timers from here (its own copy of the
        # communication setup deadline from ``connected_at``)
        self._setup_deadline = None
        self.reader.accept = self.machine.payload_types
        self._pump()

    def _pump(self) -> None:
        machine = self.machine
        if machine is None:
            raise LocalProtocolError("no protocol machine yet")
        for payload_type, payload in machine.data_to_send():
            self._out.append(frame(payload_type, payload))
        while (event := machine.next_event()) is not None:
            self._events.append(event)
        if machine.finished:
            self._close(CloseReason.FINISHED)

    def _close(self, reason: CloseReason, detail: str = "", *, now: float | None = None) -> None:
        # A machine that did not finish itself is told the connection is gone (if it has
        # the optional ``connection_lost``), so it can make the station safe: an EV that
        # drops the TCP connection mid-charge must not leave the power stage on.
        machine = self.machine
        lost = getattr(machine, "connection_lost", None)
        if machine is not None and not machine.finished and lost is not None and now is not None:
            lost(now)
            while (event := machine.next_event()) is not None:
                self._events.append(event)
        self.closed = ConnectionClosed(reason, detail)
        self._events.append(self.closed)
