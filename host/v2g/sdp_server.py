"""Sans-I/O SDP server (the SECC side of ISO 15118-2 §7.10.1).

Answers each valid SECC Discovery Request with the SECC's link-local address, the TCP port
and the security it offers; ignores and counts malformed datagrams (no answer: the EVCC
resends). Which port answers which request: the port for the security the EV asked for
when we offer it, otherwise the one we do offer (the response says which security that
port speaks, and the EV decides whether it can live with it).
"""

from __future__ import annotations

import ipaddress
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import constants as c
from .errors import ConfigError, RemoteProtocolError
from .sdp import SdpResponse, pull_request, push_response

Address = Any  # the socket module's peer address tuple, handed back unchanged


@dataclass(frozen=True, slots=True)
class SdpAnswered:
    peer: Address
    requested: int
    security: int
    port: int


@dataclass(frozen=True, slots=True)
class SdpIgnored:
    peer: Address
    reason: str


def check_port(port: int) -> int:
    """The V2G ports live in the dynamic range so a firewall rule can name them."""
    if not c.DYNAMIC_PORT_MIN <= port <= c.DYNAMIC_PORT_MAX:
        raise ConfigError(
            f"port {port} is outside {c.DYNAMIC_PORT_MIN}-{c.DYNAMIC_PORT_MAX} (the V2G "
            "TCP/TLS server needs a fixed port from the dynamic range)"
        )
    return port


class SdpServer:
    """``receive(data, now, peer)``, ``data_to_send() -> [(datagram, peer)]``,
    ``next_event()``; no timers (``get_timer()`` is None)."""

    def __init__(self, address: ipaddress.IPv6Address | str, ports: Mapping[int, int]) -> None:
        """``ports``: security code (SECURITY_TLS / SECURITY_NO_TLS) -> TCP port offered."""
        if not ports:
            raise ConfigError("the SDP server needs at least one port to offer")
        for security, port in ports.items():
            if security not in (c.SECURITY_TLS, c.SECURITY_NO_TLS):
                raise ConfigError(f"security {security:#04x} is neither TLS nor no TLS")
            check_port(port)
        self.address = ipaddress.IPv6Address(address)
        if not self.address.is_link_local:
            raise ConfigError(f"{self.address} is not link-local (SDP answers with fe80::/10)")
        self.ports = dict(ports)
        self.answered = 0
        self.ignored: Counter[str] = Counter()
        self._out: list[tuple[bytes, Address]] = []
        self._events: deque[SdpAnswered | SdpIgnored] = deque()

    def receive(self, data: bytes, now: float, peer: Address) -> None:
        try:
            request = pull_request(data)
        except RemoteProtocolError as exc:
            self.ignored[exc.code] += 1
            self._events.append(SdpIgnored(peer, exc.code))
            return
        security = request.security if request.security in self.ports else next(iter(self.ports))
        port = self.ports[security]
        self._out.append((push_response(SdpResponse(self.address, port, security)), peer))
        self.answered += 1
        self._events.append(SdpAnswered(peer, request.security, security, port))

    def handle_timer(self, now: float) -> None:
        pass

    def get_timer(self) -> float | None:
        return None

    def next_event(self) -> SdpAnswered | SdpIgnored | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out
