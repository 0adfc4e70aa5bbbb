"""Thin asyncio driver: an AF_PACKET raw socket bound to the PLC interface, and the loop
that feeds a sans-I/O machine with frames and time.

Errors a person can act on: no such interface, raw sockets not permitted (root or
CAP_NET_RAW), the modem not answering, its firmware version unreadable.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable
from typing import Protocol, TypeVar

from host.aio import within

from . import constants as c
from .errors import (
    InterfaceNotFound,
    ModemVersionUnreadable,
    RawSocketNotPermitted,
    RemoteProtocolError,
)
from .events import Event
from .messages import Frame, Message, VsSwVerCnf, VsSwVerReq, parse_frame, push_frame

M = TypeVar("M", bound=Message)
PACKET_OUTGOING = 4  # linux/if_packet.h: a frame this host sent, seen by an ETH_P_ALL socket


class Link(Protocol):
    """What the machines' runner needs from a wire: the raw socket or an in-process channel."""

    mac: bytes

    def send(self, frame: bytes) -> None: ...

    async def recv(self) -> tuple[bytes, bool]: ...

    def close(self) -> None: ...


def open_packet_socket(ifname: str, protocol: int = c.ETH_P_HOMEPLUG) -> socket.socket:
    """A non-blocking AF_PACKET socket bound to ``ifname`` for ``protocol`` frames."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(protocol))
    except PermissionError as exc:
        raise RawSocketNotPermitted(
            "raw Ethernet sockets need root or CAP_NET_RAW "
            "(run as root, or: setcap cap_net_raw+ep on the python binary)"
        ) from exc
    try:
        sock.bind((ifname, 0))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.ENODEV, errno.ENXIO, errno.EINVAL) or isinstance(
            exc, socket.gaierror
        ):
            raise InterfaceNotFound(
                f"no network interface {ifname!r} here (`ip link` lists the ones there are)"
            ) from exc
        raise
    sock.setblocking(False)
    return sock


class RawLink:
    """A raw socket on one interface; ``recv()`` says whether the frame was outgoing."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.mac: bytes = sock.getsockname()[4]
        self._queue: asyncio.Queue[tuple[bytes, bool]] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    @classmethod
    def open(cls, ifname: str, protocol: int = c.ETH_P_HOMEPLUG) -> RawLink:
        return cls(open_packet_socket(ifname, protocol))

    def _readable(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            self._queue.put_nowait((data, addr[2] == PACKET_OUTGOING))

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    async def recv(self) -> tuple[bytes, bool]:
        return await self._queue.get()

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()


class Machine(Protocol):
    def receive(self, data: bytes, now: float) -> None: ...
    def handle_timer(self, now: float) -> None: ...
    def get_timer(self) -> float | None: ...
    def next_event(self) -> Event | None: ...
    def data_to_send(self) -> list[bytes]: ...


async def run_machine(machine: Machine, link: Link, *, until: Callable[[Event], bool],
                      on_event: Callable[[Event], None] = lambda event: None,
                      before: Callable[[float], None] | None = None) -> Event | None:  # fmt: skip
    """Drive ``machine`` over ``link`` until ``until(event)``; returns that event, or None
    when the machine has nothing left to wait for. ``before(now)`` runs first (start it)."""
    loop = asyncio.get_running_loop()
    if before is not None:
        before(loop.time())
    while True:
        for data in machine.data_to_send():
            link.send(data)
        while (event := machine.next_event()) is not None:
            on_event(event)
            if until(event):
                for data in machine.data_to_send():
                    link.send(data)
                return event
        timer = machine.get_timer()
        now = loop.time()
        if timer is not None and timer <= now:
            machine.handle_timer(now)
            continue
        try:
            data, outgoing = await within(
                link.recv(), None if timer is None else timer - now
            )
        except TimeoutError:
            machine.handle_timer(loop.time())
            continue
        if not outgoing:
            machine.receive(data, loop.time())


async def serve_modem_sim(sim: object, link: Link) -> None:
    """Run a ModemSim on ``link`` (an ETH_P_ALL link on the far end) until cancelled."""
    while True:
        data, outgoing = await link.recv()
        for reply in sim.handle(data, outgoing):  # type: ignore[attr-defined]
            link.send(reply)


async def modem_request(link: Link, request: Message, answer: type[M], *,
                        modem_mac: bytes = c.QCA_LOCAL_MAC, timeout: float = c.MODEM_TIMEOUT,
                        tries: int = 1 + c.MODEM_RETRIES) -> M | None:  # fmt: skip
    """Send ``request`` to the local modem until an ``answer`` comes back (None if none)."""
    loop = asyncio.get_running_loop()
    for _ in range(tries):
        link.send(push_frame(Frame(modem_mac, link.mac, request)))
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            try:
                data, outgoing = await within(link.recv(), left)
            except TimeoutError:
                break
            try:
                frame = parse_frame(data)
            except RemoteProtocolError:
                continue
            if not outgoing and isinstance(frame.message, answer) and frame.dst == link.mac:
                return frame.message
    return None


async def read_modem_version(link: Link, modem_mac: bytes = c.QCA_LOCAL_MAC, *,
                             timeout: float = c.MODEM_TIMEOUT,
                             tries: int = 1 + c.MODEM_RETRIES) -> str:  # fmt: skip
    """VS_SW_VER of the local modem, or ModemVersionUnreadable."""
    cnf = await modem_request(link, VsSwVerReq(), VsSwVerCnf, modem_mac=modem_mac,
                              timeout=timeout, tries=tries)  # fmt: skip
    if cnf is None:
        raise ModemVersionUnreadable(
            f"the modem did not answer VS_SW_VER within {timeout:g} s ({tries} tries): "
            "is it powered, flashed with host firmware, and on this interface?"
        )
    if cnf.status != 0:
        raise ModemVersionUnreadable(f"modem answered VS_SW_VER with status {cnf.status}")
    return cnf.version.rstrip(b"\0").decode("ascii", "replace")
