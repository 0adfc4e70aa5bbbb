"""A stand-in protocol machine for the connection tests: echoes each payload, finishes on
b"stop" or when its 60 s sequence timer runs out. The DIN / -2 machines replace it. And
the ways a byte stream arrives over TCP, for the reader and connection tests."""

from __future__ import annotations

import random

from host.v2g.protocol import SessionContext
from host.v2g.v2gtp import PayloadType

SEQUENCE_TIMEOUT = 60.0


def arrivals(splits: int) -> list[str]:
    """The parameters of `chunked`: whole, byte by byte, and `splits` seeded random cuts."""
    return ["whole", "bytewise", *[f"split{i}" for i in range(splits)]]


def chunked(data: bytes, how: str, cuts: int | None = None) -> list[bytes]:
    """`data` as it may arrive: in one piece, byte by byte, or cut at random places (seeded
    by the number in "splitN"; `cuts` of them, or 1 to 6)."""
    if how == "whole":
        return [data]
    if how == "bytewise":
        return [data[i:i + 1] for i in range(len(data))]
    rng = random.Random(int(how[5:]))
    at = sorted(rng.sample(range(1, len(data)), rng.randint(1, 6) if cuts is None else cuts))
    return [data[a:b] for a, b in zip([0, *at], [*at, len(data)], strict=True)]


class EchoProtocol:
    payload_types = frozenset({PayloadType.EXI})

    def __init__(self, context: SessionContext) -> None:
        self.context = context
        self.received: list[bytes] = []
        self.finished = False
        self._out: list[tuple[int, bytes]] = []
        self._events: list[object] = []
        self._deadline: float | None = context.negotiated_at + SEQUENCE_TIMEOUT

    def receive(self, payload_type: int, payload: bytes, now: float) -> None:
        self.received.append(payload)
        self._out.append((payload_type, b"echo:" + payload))
        self._events.append(("echoed", payload))
        self._deadline = now + SEQUENCE_TIMEOUT
        if payload == b"stop":
            self.finished = True

    def handle_timer(self, now: float) -> None:
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            self._events.append(("timeout", now))
            self.finished = True

    def get_timer(self) -> float | None:
        return self._deadline

    def next_event(self) -> object | None:
        return self._events.pop(0) if self._events else None

    def data_to_send(self) -> list[tuple[int, bytes]]:
        out, self._out = self._out, []
        return out


class Iso20Echo(EchoProtocol):
    payload_types = frozenset({PayloadType.ISO20_MAIN, PayloadType.ISO20_DC})
