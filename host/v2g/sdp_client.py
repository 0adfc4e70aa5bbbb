"""Sans-I/O SDP client (the EVCC side of ISO 15118-2 §7.10.1).

Sends a SECC Discovery Request, waits SDP_RESPONSE_TIMEOUT for a response and resends,
SDP_MAX_REQUESTS requests in all ([V2G2-157], [V2G2-160]); after the last one it gives up
([V2G2-161]: the EV then falls back or restarts, its own choice). The first valid response
wins; malformed ones are ignored and counted.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from . import constants as c
from .errors import LocalProtocolError, RemoteProtocolError
from .sdp import SdpRequest, SdpResponse, pull_response, push_request


@dataclass(frozen=True, slots=True)
class SeccDiscovered:
    response: SdpResponse
    requests: int  # how many requests it took


@dataclass(frozen=True, slots=True)
class SdpFailed:
    requests: int


class SdpClient:
    """``start(now)``, ``receive(data, now)``, ``handle_timer(now)``, ``get_timer()``,
    ``next_event()``, ``data_to_send()`` (datagrams for ff02::1 port 15118)."""

    def __init__(self, security: int = c.SECURITY_NO_TLS, *,
                 timeout: float = c.SDP_RESPONSE_TIMEOUT,
                 max_requests: int = c.SDP_MAX_REQUESTS) -> None:  # fmt: skip
        self.request = SdpRequest(security, c.TRANSPORT_TCP)
        self.timeout = timeout
        self.max_requests = max_requests
        self.sent = 0
        self.ignored: Counter[str] = Counter()
        self.done = False
        self._deadline: float | None = None
        self._out: list[bytes] = []
        self._events: deque[SeccDiscovered | SdpFailed] = deque()

    def start(self, now: float) -> None:
        if self.sent or self.done:
            raise LocalProtocolError("this SDP client already ran; make a new one")
        self._send(now)

    def _send(self, now: float) -> None:
        self._out.append(push_request(self.request))
        self.sent += 1
        self._deadline = now + self.timeout

    def receive(self, data: bytes, now: float) -> None:
        if self.done or not self.sent:
            self.ignored["unexpected"] += 1
            return
        try:
            response = pull_response(data)
        except RemoteProtocolError as exc:
            self.ignored[exc.code] += 1
            return
        self.done = True
        self._deadline = None
        self._events.append(SeccDiscovered(response, self.sent))

    def handle_timer(self, now: float) -> None:
        if self._deadline is None or now < self._deadline:
            return
        if self.sent >= self.max_requests:
            self.done = True
            self._deadline = None
            self._events.append(SdpFailed(self.sent))
            return
        self._send(now)

    def get_timer(self) -> float | None:
        return self._deadline

    def next_event(self) -> SeccDiscovered | SdpFailed | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out
