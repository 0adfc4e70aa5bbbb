"""The interface between a connection (host.v2g.session) and the session machine of the
protocol SupportedAppProtocol chose (DIN 70121, ISO 15118-2, later ISO 15118-20).

The connection owns the bytes: V2GTP framing, the handshake, closing. A protocol machine
sees whole payloads and answers with payloads; it is sans-I/O like everything here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .sap import AppProtocol
from .tls import TlsInfo


@dataclass(frozen=True, slots=True)
class SessionContext:
    """What a protocol machine is told when the connection hands over to it."""

    protocol: AppProtocol
    schema_id: int
    tls: bool  # True over TLS: DIN never is, -2 PnC must be
    peer: str  # the EV's address, for the log
    connected_at: float  # the TCP accept: V2G_SECC_CommunicationSetup runs from here
    negotiated_at: float
    # the TLS handshake's outcome (None over plain TCP): version, suite, and the EV's
    # verified certificate when -20 mutual TLS got one (host.v2g.tls)
    tls_info: TlsInfo | None = None


class V2gProtocol(Protocol):
    """One session machine for one connection. The connection feeds it every message of a
    payload type it takes and sends what it queues; when ``finished`` turns True the
    connection sends what is queued and closes (SessionStop, a timeout, a FAILED code).

    Optional: ``connection_lost(now)``, called when the connection closes under a machine
    that has not finished (the EV hung up, a bad V2GTP header), so it can make the
    station safe (host.secc.core.SessionCore has it)."""

    # V2GTP payload types the machine takes: {0x8001} for DIN and -2; -20 adds its own
    payload_types: frozenset[int]

    @property
    def finished(self) -> bool: ...

    def receive(self, payload_type: int, payload: bytes, now: float) -> None: ...

    def handle_timer(self, now: float) -> None: ...

    def get_timer(self) -> float | None: ...

    def next_event(self) -> object | None: ...

    def data_to_send(self) -> list[tuple[int, bytes]]:
        """Payloads to send, each with its V2GTP payload type."""
        ...


# what the server is configured with: one factory per negotiated namespace
ProtocolFactory = Callable[[SessionContext], V2gProtocol]
