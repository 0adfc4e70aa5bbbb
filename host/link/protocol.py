"""The host's side of the UART link, sans-I/O (STYLE.md: bytes and `now` in,
bytes, events and timers out).

    client = LinkClient()
    client.connect(now)                 # HostHello, again every hello_retry_s until up
    client.receive(data, now)           # bytes from the port
    client.send(SetPilot(...), now)     # -> seq; retransmitted until Ack/Nack
    client.handle_timer(now)            # at client.get_timer()
    client.next_event(); client.data_to_send()

The firmware answers HostHello with the epoch of this session (FirmwareHello.epoch);
every command goes out with that epoch and the next order of its ordering class
(firmware.link.messages), so the firmware can tell a newer command from an older one.
Only the newest command of a class is pending: sending another drops the older one
with CommandSuperseded. A pending command unanswered after `ack_timeout_s` is sent
again unchanged (the firmware answers a repeat but does not re-apply it), up to
`retries` times, then CommandTimedOut. A command sent while the link is not up waits
for it (its retries still run out); when a new epoch opens, the waiting and pending
ones go out again in it.

A Nack(stale) or Nack(no-hello) for a pending command means the firmware is in
another session (it rebooted, or a stray HostHello moved its epoch): the client opens
a new one and sends the command there instead of reporting a rejection. After a
Nack(no-hello) (a reboot whose FirmwareHello was lost) the new session opens with
LinkUp, as the firmware started afresh. A Nack that
does not match the pending command's frame and type is reported as FirmwareReported
and leaves the command pending. No command ends without an event.

Heartbeats go out every `heartbeat_s` once the link is up, so the firmware's
fail-safe never fires while the host is alive. If nothing at all arrives from the
firmware for `silence_s` the link is declared down, and HostHello goes out every
`hello_retry_s` until the firmware answers, however long that takes (every
`ack_timeout_s` while the firmware is talking and only the epoch is new). A firmware
that refuses HostHello (Nack no-entropy or version: CommandRejected for the Hello) is
asked again every `hello_retry_s`; after `retries` refusals the commands waiting for
the session end with CommandRejected carrying the firmware's reason.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from firmware.link import (
    dcmessages,  # registers the DC messages in the catalogue (DcContactor, ...)
    frame,
)
from firmware.link import messages as m
from host.link import events as ev


class LocalProtocolError(Exception):
    """We misused the API (e.g. sent a firmware->host message)."""


@dataclass
class _Pending:
    seq: int  # what send() returned; events carry it
    command: m.Message
    klass: int  # ordering class
    epoch: int = -1  # epoch and order of the copy on the wire; -1 while none is
    order: int = 0
    wire: bytes = b""
    deadline: float = 0.0
    attempts: int = 0
    acked: bool = False  # Ack seen, waiting for the Status that follows it


# Nacks that say the command was not applied because our session is not the
# firmware's (it rebooted, or a replayed HostHello moved its epoch): open a new one
# and send the command again there, rather than reporting a rejection.
_RESESSION = (m.NACK_STALE, m.NACK_NO_HELLO)
_REBOOT_CLASS = m.order_class(m.Reset(m.RESET_REBOOT))


class LinkClient:
    def __init__(
        self,
        heartbeat_s: float = 0.1,
        ack_timeout_s: float = 0.05,
        retries: int = 3,
        silence_s: float = 1.5,
        hello_retry_s: float = 0.5,
        seq: int | None = None,
    ) -> None:
        self.heartbeat_s = heartbeat_s
        self.ack_timeout_s = ack_timeout_s
        self.retries = retries
        self.silence_s = silence_s
        self.hello_retry_s = hello_retry_s
        self.reader = frame.FrameReader()
        self.hello: m.FirmwareHello | None = None
        self.status: m.Status | None = None
        self.dc_status: dcmessages.DcStatus | None = None  # the newest, on a DC board
        # frame numbers start anywhere, as after a restart; nothing depends on them
        self._seq = random.getrandbits(16) if seq is None else seq & 0xFFFF
        self.epoch: int | None = None  # the firmware's, for this session
        self._orders: dict[int, int] = {}  # last order sent per class in this epoch
        self._pending: dict[int, _Pending] = {}  # by ordering class
        self._events: deque[ev.Event] = deque()
        self._out: list[bytes] = []
        self._next_heartbeat: float | None = None
        self._last_rx: float | None = None
        self._ids = 0  # what send() returns: stays with a command across re-encodings
        self._hello_seq: int | None = None  # frame seq of the HostHello we are waiting on
        self._hello_at: float | None = None  # when to send it (again)
        self._answer: m.FirmwareHello | None = None  # FirmwareHello since that HostHello
        self._session = 0  # HostHello.session of the current attempt
        self._announce = True  # LinkUp when the session opens (else: a new epoch only)
        self._refusals = 0  # HostHellos the firmware refused since the last session opened
        self.connected = False
        self.undecodable = 0  # good frames whose payload was not a valid message

    # ------------------------------------------------------------ API

    def connect(self, now: float) -> int:
        """Open (or reopen) the link: HostHello now and every hello_retry_s until up."""
        self._last_rx = now
        self._announce = True
        return self._new_session(now)

    def send(self, command: m.Message, now: float) -> int:
        if command.TYPE >= 0x80:
            raise LocalProtocolError(f"{type(command).__name__} is a firmware->host message")
        if not command.ORDERED:
            raise LocalProtocolError(f"{type(command).__name__} is not a command (the client sends it)")
        klass = m.order_class(command)
        if klass < 0:
            raise LocalProtocolError(f"{command!r}: no such configuration key")
        command.encode(0)  # range check now, in the caller's frame
        self._ids = (self._ids + 1) & 0xFFFFFFFF
        seq = self._ids
        old = self._pending.pop(klass, None)
        if old is not None and old.acked:  # applied; only its Status was still to come
            self._events.append(ev.CommandAcked(old.seq, old.command, None))
        elif old is not None:
            self._events.append(ev.CommandSuperseded(old.seq, old.command, seq))
        p = _Pending(seq, command, klass, deadline=now + self.ack_timeout_s, attempts=1)
        self._pending[klass] = p
        if self.connected:
            self._transmit(p, now)
        return seq

    def data_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> ev.Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        times = [p.deadline for p in self._pending.values()]
        if self._next_heartbeat is not None:
            times.append(self._next_heartbeat)
        if self._hello_at is not None:
            times.append(self._hello_at)
        if self._watching() and self._last_rx is not None:
            times.append(self._last_rx + self.silence_s)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        for p in list(self._pending.values()):
            if now < p.deadline:
                continue
            if p.acked:  # applied, but the Status after the Ack was lost
                del self._pending[p.klass]
                self._events.append(ev.CommandAcked(p.seq, p.command, None))
                continue
            if p.attempts > self.retries:
                del self._pending[p.klass]
                self._events.append(ev.CommandTimedOut(p.seq, p.command, p.attempts))
                continue
            p.deadline = now + self.ack_timeout_s
            if self.connected and p.epoch == self.epoch:
                p.attempts += 1
                self._out.append(p.wire)  # the same frame: a repeat, never applied twice
            elif not self._watching():
                p.attempts += 1  # no link to wait for: run out as if lost
            # else a new epoch is being opened with a firmware that talks: wait for it
        if self._next_heartbeat is not None and now >= self._next_heartbeat:
            beat = m.Heartbeat(int(now * 1000) & 0xFFFFFFFF)
            self._out.append(frame.pack(beat.encode(self._next_seq())))
            self._next_heartbeat = now + self.heartbeat_s
        if self._watching() and self._last_rx is not None and now - self._last_rx >= self.silence_s:
            self.lost("firmware silent for %.1f s" % (now - self._last_rx), now)
        if self._hello_at is not None and now >= self._hello_at:
            self._send_hello(now)

    def lost(self, reason: str, now: float | None = None) -> None:
        """The port went away or the firmware went silent: LinkDown, the pending
        commands end (CommandTimedOut, or CommandAcked without a Status for one whose
        Ack came: none ends without an event), and HostHello goes
        out every hello_retry_s from `now` (None: from the next handle_timer) until
        the firmware answers."""
        if self._watching():
            self._events.append(ev.LinkDown(reason))
        self._next_heartbeat = None
        for p in self._pending.values():
            if p.acked:  # applied; only the Status after its Ack was still to come
                self._events.append(ev.CommandAcked(p.seq, p.command, None))
            else:
                self._events.append(ev.CommandTimedOut(p.seq, p.command, p.attempts))
        self._pending.clear()
        self._announce = True
        self._new_session(now)

    # ------------------------------------------------------------ sessions

    def _watching(self) -> bool:
        """Whether the firmware was talking to us, so that its silence is news."""
        return self.connected or self._next_heartbeat is not None

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _new_session(self, now: float | None) -> int:
        """Ask the firmware for a new epoch; commands wait until it answers. The same
        HostHello (same seq and session) is repeated until then, so that the firmware
        opens one epoch however many copies reach it. LinkUp follows unless the link
        was up and this is only a new epoch."""
        self._announce = self._announce or not self.connected
        self._reboot_done()
        self.connected = False
        self.epoch = None
        self._answer = None
        self._hello_seq = self._next_seq()
        self._session = random.getrandbits(32)
        if now is None:
            self._hello_at = 0.0  # due at once: the next handle_timer sends it
        else:
            self._send_hello(now)
        return self._hello_seq

    def _reboot_done(self) -> None:
        """A Reset(reboot) that went out is done once the firmware's epoch goes: the
        firmware rebooted (its Ack may not have left the UART before the reset), or it
        cannot be told apart from that. Sent again in the new epoch it would be applied
        again, and again after that reboot: CommandAcked without a Status instead."""
        p = self._pending.get(_REBOOT_CLASS)
        if p is not None and p.epoch >= 0:
            del self._pending[_REBOOT_CLASS]
            self._events.append(ev.CommandAcked(p.seq, p.command, None))

    def _send_hello(self, now: float) -> None:
        assert self._hello_seq is not None
        hello = m.HostHello(m.PROTOCOL_VERSION, m.PROTOCOL_VERSION, self._session)
        self._out.append(frame.pack(hello.encode(self._hello_seq)))
        # quickly while the firmware is talking to us (a new epoch after its reboot or
        # a stray Hello), patiently while it is not (an outage of any length)
        self._hello_at = now + (self.ack_timeout_s if self._watching() else self.hello_retry_s)

    def _opened(self, hello: m.FirmwareHello, now: float) -> None:
        self.connected = True
        self.epoch = hello.epoch
        self._refusals = 0
        self._orders.clear()
        self._hello_seq = None
        self._hello_at = None
        if self._next_heartbeat is None:
            self._next_heartbeat = now + self.heartbeat_s
        if self._announce:
            self._events.append(ev.LinkUp(hello))
        self._announce = False
        for p in list(self._pending.values()):  # waiting ones, and those of an old epoch
            if not p.acked and p.epoch != self.epoch:
                p.deadline = now + self.ack_timeout_s
                if not self._transmit(p, now):
                    return

    def _transmit(self, p: _Pending, now: float) -> bool:
        """Put the command on the wire in this epoch with the next order of its class.
        False when that needs a new epoch first (the command waits for it)."""
        assert self.epoch is not None
        order = self._orders.get(p.klass, 0) + 1
        if order > m.ORDER_MAX:  # never in service (see messages); a new epoch restarts at 1
            self._new_session(now)
            return False
        self._orders[p.klass] = order
        p.epoch = self.epoch
        p.order = order
        p.wire = frame.pack(p.command.encode(self._next_seq(), epoch=self.epoch, order=order))
        self._out.append(p.wire)
        return True

    def _named(self, klass: int, epoch: int, order: int) -> _Pending | None:
        """The pending command an Ack, Nack or Status names, if it is still the copy on
        the wire: never by frame seq, which recurs after a wrap or a host restart."""
        p = self._pending.get(klass)
        if p is not None and p.epoch == epoch and p.order == order and p.epoch >= 0:
            return p
        return None

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
            if self._hello_seq is not None:
                self._answer = msg  # the Ack that follows ties it to our HostHello
            elif msg.epoch != self.epoch:
                # unasked: the firmware (re)booted, or something else opened an epoch
                # (a replayed HostHello): ours is gone, open a new one, and announce
                # it, as the firmware may have started afresh
                self._announce = True
                self._new_session(now)
                self._events.append(ev.FirmwareReported(seq, msg))
            return
        if isinstance(msg, m.Ack) and msg.acked_type == m.HostHello.TYPE:
            answer = self._answer
            if msg.acked_seq == self._hello_seq and answer is not None and msg.acked_epoch == answer.epoch:
                self._opened(answer, now)
            return
        if isinstance(msg, m.Ack):
            p = self._named(msg.acked_class, msg.acked_epoch, msg.acked_order)
            if p is not None and p.command.TYPE == msg.acked_type:
                p.acked = True  # done when the Status that follows it arrives
                p.deadline = now + self.ack_timeout_s
        elif isinstance(msg, m.Nack):
            self._on_nack(seq, msg, now)
        else:
            if isinstance(msg, dcmessages.DcStatus):
                self.dc_status = msg  # a DC board's contactor pair, stage and IMD
            if isinstance(msg, m.Status):
                self.status = msg
                p = self._named(msg.last_class, msg.last_epoch, msg.last_order)
                if p is not None and p.acked:
                    del self._pending[p.klass]
                    self._events.append(ev.CommandAcked(p.seq, p.command, msg))
            self._events.append(ev.FirmwareReported(seq, msg))

    def _hello_refused(self, msg: m.Nack, now: float) -> None:
        """The firmware talks but will not open a session (no entropy, another protocol
        version): no retry fixes that soon. HostHello goes on every hello_retry_s (the
        firmware may be updated or reset), and after `retries` refusals the commands
        waiting for a session end with the firmware's reason, as they would wait forever."""
        hello = m.HostHello(m.PROTOCOL_VERSION, m.PROTOCOL_VERSION, self._session)
        self._events.append(ev.CommandRejected(msg.acked_seq, hello, msg.reason, msg.field))
        self._hello_at = now + self.hello_retry_s
        self._refusals += 1
        if self._refusals < self.retries:
            return
        for p in list(self._pending.values()):
            del self._pending[p.klass]
            if p.acked:
                self._events.append(ev.CommandAcked(p.seq, p.command, None))
            else:
                self._events.append(ev.CommandRejected(p.seq, p.command, msg.reason, -1))

    def _on_nack(self, seq: int, msg: m.Nack, now: float) -> None:
        if msg.acked_type == m.HostHello.TYPE and msg.acked_seq == self._hello_seq:
            self._hello_refused(msg, now)
            return
        if msg.reason == m.NACK_NO_HELLO:
            # the firmware has no session: it rebooted and its FirmwareHello was lost.
            # It started afresh (pilot, configuration), so the new session is announced
            # with LinkUp, as after a boot Hello we heard
            self._announce = True
            if self._hello_seq is None:
                self._new_session(now)
        p = self._named(msg.acked_class, msg.acked_epoch, msg.acked_order)
        if p is None or p.command.TYPE != msg.acked_type or p.acked:
            # not about a command we wait on (an old frame's answer, or a frame
            # garbled into another type): it must not end the one that is waiting,
            # which goes on being retransmitted until answered or timed out
            self._events.append(ev.FirmwareReported(seq, msg))
            return
        if msg.reason in _RESESSION:
            if self._hello_seq is None:
                self._new_session(now)
            return  # goes out again in the new epoch
        del self._pending[p.klass]
        self._events.append(ev.CommandRejected(p.seq, p.command, msg.reason, msg.field))
