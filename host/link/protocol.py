"""The host's side of the UART link, sans-I/O (STYLE.md: bytes and `now` in,
bytes, events and timers out).

    client = LinkClient()
    client.connect(now)                 # queues HostHello
    client.receive(data, now)           # bytes from the port
    client.send(SetPilot(...), now)     # -> seq; retransmitted until Ack/Nack
    client.handle_timer(now)            # at client.get_timer()
    client.next_event(); client.data_to_send()

Heartbeats go out every `heartbeat_s` once the firmware said Hello, so the firmware's
fail-safe never fires while the host is alive. A command unanswered after
`ack_timeout_s` is sent again with the same seq (the firmware answers a repeat but
does not re-apply it), up to `retries` times, then CommandTimedOut. If nothing at all
arrives from the firmware for `silence_s`, the link is declared down.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from firmware.link import frame
from firmware.link import messages as m
from host.link import events as ev


class LocalProtocolError(Exception):
    """We misused the API (e.g. sent a firmware->host message)."""


@dataclass
class _Pending:
    seq: int
    command: m.Message
    wire: bytes
    deadline: float
    attempts: int
    acked: bool = False  # Ack seen, waiting for the Status that follows it


class LinkClient:
    def __init__(
        self,
        heartbeat_s: float = 0.1,
        ack_timeout_s: float = 0.05,
        retries: int = 3,
        silence_s: float = 1.5,
    ) -> None:
        self.heartbeat_s = heartbeat_s
        self.ack_timeout_s = ack_timeout_s
        self.retries = retries
        self.silence_s = silence_s
        self.reader = frame.FrameReader()
        self.hello: m.FirmwareHello | None = None
        self.status: m.Status | None = None
        self._seq = 0
        self._pending: dict[int, _Pending] = {}
        self._events: deque[ev.Event] = deque()
        self._out: list[bytes] = []
        self._next_heartbeat: float | None = None
        self._last_rx: float | None = None
        self.connected = False
        self.undecodable = 0  # good frames whose payload was not a valid message

    # ------------------------------------------------------------ API

    def connect(self, now: float) -> int:
        self._last_rx = now
        return self._say_hello(now)

    def _say_hello(self, now: float) -> int:
        """Send HostHello unless one is already waiting for its answer."""
        for p in self._pending.values():
            if p.command.TYPE == m.HostHello.TYPE:
                return p.seq  # one Hello at a time
        return self.send(m.HostHello(m.PROTOCOL_VERSION, m.PROTOCOL_VERSION), now)

    def send(self, command: m.Message, now: float) -> int:
        if command.TYPE >= 0x80:
            raise LocalProtocolError(f"{type(command).__name__} is a firmware->host message")
        self._seq = (self._seq + 1) & 0xFFFF
        wire = frame.pack(command.encode(self._seq))
        self._pending[self._seq] = _Pending(self._seq, command, wire, now + self.ack_timeout_s, 1)
        self._out.append(wire)
        return self._seq

    def data_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> ev.Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        times = [p.deadline for p in self._pending.values()]
        if self._next_heartbeat is not None:
            times.append(self._next_heartbeat)
        if self.connected and self._last_rx is not None:
            times.append(self._last_rx + self.silence_s)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        for p in list(self._pending.values()):
            if now < p.deadline:
                continue
            if p.acked:  # applied, but the Status after the Ack was lost
                del self._pending[p.seq]
                self._events.append(ev.CommandAcked(p.seq, p.command, None))
                continue
            if p.attempts > self.retries:
                del self._pending[p.seq]
                self._events.append(ev.CommandTimedOut(p.seq, p.command, p.attempts))
                continue
            p.attempts += 1
            p.deadline = now + self.ack_timeout_s
            self._out.append(p.wire)
        if self._next_heartbeat is not None and now >= self._next_heartbeat:
            self._seq = (self._seq + 1) & 0xFFFF
            self._out.append(frame.pack(m.Heartbeat(int(now * 1000) & 0xFFFFFFFF).encode(self._seq)))
            self._next_heartbeat = now + self.heartbeat_s
        if self.connected and self._last_rx is not None and now - self._last_rx >= self.silence_s:
            self.lost("firmware silent for %.1f s" % (now - self._last_rx))

    def lost(self, reason: str) -> None:
        """The port went away or the firmware went silent."""
        if self.connected:
            self._events.append(ev.LinkDown(reason))
        self.connected = False
        self._next_heartbeat = None
        self._pending.clear()

    # ------------------------------------------------------------ input

    def receive(self, data: bytes, now: float) -> None:
        self.reader.feed(data)
        while (payload := self.reader.next_payload()) is not None:
            try:
                seq, msg = m.decode(payload)
            except m.LinkDecodeError:
                self.undecodable += 1  # the reader counts CRC and COBS drops itself
                continue
            self._last_rx = now
            self._on_message(seq, msg, now)

    def _on_message(self, seq: int, msg: m.Message, now: float) -> None:
        if isinstance(msg, m.FirmwareHello):
            self.hello = msg
            if self.connected or not self._hello_pending():
                # unasked: the firmware (re)booted; the link must be opened again
                self.connected = False
                self._next_heartbeat = None
                self._say_hello(now)
                self._events.append(ev.FirmwareReported(seq, msg))
            return
        if isinstance(msg, m.Ack) and msg.acked_type == m.HostHello.TYPE:
            p = self._pending.pop(msg.acked_seq, None)
            if p is not None and self.hello is not None:
                self.connected = True
                self._next_heartbeat = now + self.heartbeat_s
                self._events.append(ev.LinkUp(self.hello))
            return
        if isinstance(msg, m.Ack):
            p = self._pending.get(msg.acked_seq)
            if p is not None and p.command.TYPE == msg.acked_type:
                p.acked = True  # done when the Status that follows it arrives
                p.deadline = now + self.ack_timeout_s
        elif isinstance(msg, m.Nack):
            p = self._pending.pop(msg.acked_seq, None)
            if p is not None and p.command.TYPE == msg.acked_type:
                self._events.append(ev.CommandRejected(p.seq, p.command, msg.reason, msg.field))
            else:
                self._events.append(ev.FirmwareReported(seq, msg))
        else:
            if isinstance(msg, m.Status):
                self.status = msg
                p = self._pending.get(msg.last_seq)
                if p is not None and p.acked:
                    del self._pending[p.seq]
                    self._events.append(ev.CommandAcked(p.seq, p.command, msg))
            self._events.append(ev.FirmwareReported(seq, msg))

    def _hello_pending(self) -> bool:
        return any(p.command.TYPE == m.HostHello.TYPE for p in self._pending.values())
