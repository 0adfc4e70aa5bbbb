"""Thin asyncio driver for LinkClient over a serial port (pyserial).

Works the same on /dev/ttyAMA0, a USB CDC port and a pty. The port is read through
the event loop's reader callback (pyserial's fd, non-blocking), timers come from
LinkClient.get_timer(). One port at a time: opening again while it is open reuses
it. When the port disappears (USB unplugged, pty closed) the driver reports LinkDown
and reopens it every `reopen_s` until it is back; while the port is there but the
link is down (the firmware silent or restarting) the client says Hello again every
`hello_retry_s`, so the link comes back by itself after an outage of any length.
"""

from __future__ import annotations

import asyncio
import contextlib

import serial

from firmware.link import messages as m
from host.link import events as ev
from host.link.protocol import LinkClient

_OUTCOMES = (ev.CommandAcked, ev.CommandRejected, ev.CommandTimedOut, ev.CommandSuperseded)


class CommandError(Exception):
    """The command was not applied: Nack, no answer, or superseded (`superseded` True:
    a newer command of the same ordering class was sent and replaces it)."""

    def __init__(self, event: ev.CommandRejected | ev.CommandTimedOut | ev.CommandSuperseded) -> None:
        name = type(event.command).__name__
        self.superseded = isinstance(event, ev.CommandSuperseded)
        if isinstance(event, ev.CommandRejected):
            text = f"{name} rejected: {event.describe()}"
        elif isinstance(event, ev.CommandTimedOut):
            text = f"{name} unanswered after {event.attempts} attempts"
        else:
            text = f"{name} superseded by a newer one of its class (send #{event.by_seq})"
        super().__init__(text)
        self.event = event


class LinkDriver:
    def __init__(self, port: str, baudrate: int = 115200, client: LinkClient | None = None,
                 reopen_s: float = 0.5) -> None:
        self.port = port
        self.baudrate = baudrate
        self.client = client or LinkClient()
        self.reopen_s = reopen_s
        self.events: asyncio.Queue[ev.Event] = asyncio.Queue()
        self._serial: serial.Serial | None = None
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._waiters: dict[int, asyncio.Future[ev.Event]] = {}
        self._up = asyncio.Event()
        self._closed = False
        self._watch_task: asyncio.Task[None] | None = None

    def _now(self) -> float:
        return self._loop.time()

    @property
    def is_up(self) -> bool:
        return self._up.is_set()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Open the port (once) and say Hello; serial.SerialException if it cannot be
        opened. The link then keeps itself up; LinkUp arrives on `events`."""
        self._closed = False
        if self._serial is None:
            self._open_port()
        if self._watch_task is None or self._watch_task.done():
            self._watch_task = self._loop.create_task(self._watch())

    async def open(self, timeout: float = 5.0) -> ev.LinkUp:
        """Open the port, say Hello, and wait for the firmware's Hello."""
        self.start()
        await asyncio.wait_for(self._up.wait(), timeout)
        assert self.client.hello is not None
        return ev.LinkUp(self.client.hello)

    def _open_port(self) -> None:
        s = serial.Serial(self.port, self.baudrate, timeout=0, write_timeout=1, exclusive=True)
        self._serial = s
        self._loop.add_reader(s.fileno(), self._on_readable, s)
        self.client.connect(self._now())
        self._pump()

    def close(self) -> None:
        self._closed = True
        if self._watch_task is not None:
            self._watch_task.cancel()
            self._watch_task = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._drop_port()

    def _drop_port(self) -> None:
        s, self._serial = self._serial, None
        if s is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(s.fileno())
            with contextlib.suppress(OSError, serial.SerialException):
                s.close()

    def _port_lost(self, why: str) -> None:
        self._drop_port()
        self._up.clear()
        self.client.lost(why, self._now())
        self._pump()

    async def _watch(self) -> None:
        """Reopen a lost port (while the port is there, the client says Hello again
        by itself until the firmware answers)."""
        while not self._closed:
            await asyncio.sleep(self.reopen_s)
            if self._serial is None:
                try:
                    self._open_port()
                except (OSError, serial.SerialException):
                    continue


    # ------------------------------------------------------------ I/O

    def _on_readable(self, s: serial.Serial) -> None:
        port = self._serial
        if port is None or s is not port:  # a port we already let go of
            with contextlib.suppress(ValueError, OSError, AttributeError):
                self._loop.remove_reader(s.fileno())
            return
        try:
            data = port.read(4096)
        except (OSError, serial.SerialException) as e:
            self._port_lost(f"port {self.port} lost: {e}")
            return
        if not data:  # readable with no data: the other end hung up
            self._port_lost(f"port {self.port} closed")
            return
        self.client.receive(data, self._now())
        self._pump()

    def _on_timer(self) -> None:
        self._timer = None
        self.client.handle_timer(self._now())
        self._pump()

    def _pump(self) -> None:
        c = self.client
        out = c.data_to_send()
        if out and self._serial is not None:
            try:
                self._serial.write(b"".join(out))
            except (OSError, serial.SerialException) as e:
                self._port_lost(f"port {self.port} write failed: {e}")
                return
        while (event := c.next_event()) is not None:
            self._dispatch(event)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = c.get_timer()
        if when is not None and not self._closed:
            self._timer = self._loop.call_at(when, self._on_timer)

    def _dispatch(self, event: ev.Event) -> None:
        if isinstance(event, ev.LinkUp):
            self._up.set()
        elif isinstance(event, ev.LinkDown):
            self._up.clear()
            for waiter in self._waiters.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError(event.reason))
            self._waiters.clear()
        elif isinstance(event, _OUTCOMES):
            fut = self._waiters.pop(event.seq, None)
            if fut is not None and not fut.done():
                fut.set_result(event)
        self.events.put_nowait(event)

    # ------------------------------------------------------------ commands

    def send(self, msg: m.Message) -> int:
        """Send a command without waiting; its outcome comes on `events`, always. While
        the link is down or a session reopens the client keeps it until the session
        is open (a newer one of its class supersedes it, as on the wire) or its
        retries run out (CommandTimedOut): dropping it here would leave the caller
        without an outcome, and an older command of its class to go out instead."""
        seq = self.client.send(msg, self._now())
        self._pump()
        return seq

    async def command(self, msg: m.Message) -> ev.CommandAcked:
        """Send a command and wait for its Ack. CommandError when it was not applied
        (Nack, no answer, superseded by a newer one of its class before it was
        applied); ConnectionError when the link is or goes down meanwhile."""
        if self._serial is None:
            raise ConnectionError(f"port {self.port} is not open")
        seq = self.client.send(msg, self._now())
        fut: asyncio.Future[ev.Event] = self._loop.create_future()
        self._waiters[seq] = fut
        self._pump()
        result = await fut
        if isinstance(result, ev.CommandAcked):
            return result
        assert isinstance(result, (ev.CommandRejected, ev.CommandTimedOut, ev.CommandSuperseded))
        raise CommandError(result)

    async def wait_up(self) -> None:
        await self._up.wait()
