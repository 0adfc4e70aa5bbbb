"""Thin asyncio drivers for SDP: the SECC's UDP server on port 15118 and the EVCC's
discovery. Sockets are made by plain functions so a test can make them inside a network
namespace and hand them over (host.bench.veth.in_netns)."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable, Mapping
from typing import Any

from host.aio import within

from . import constants as c
from .errors import ConfigError
from .netif import LinkLocal, link_local
from .sdp_client import SdpClient, SdpFailed, SeccDiscovered
from .sdp_server import SdpServer


def open_server_socket(ifname: str, port: int = c.SDP_PORT) -> socket.socket:
    """UDP [::]:15118 tied to ``ifname`` and joined to ff02::1 there ([V2G2-139])."""
    ifindex = _ifindex(ifname)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # one SDP server per PLC interface, all on port 15118: tie each to its device
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        sock.bind(("::", port))
        group = socket.inet_pton(socket.AF_INET6, c.SDP_MULTICAST) + struct.pack("@I", ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def open_client_socket(ifname: str) -> socket.socket:
    """UDP socket on an ephemeral port that multicasts out of ``ifname``."""
    ifindex = _ifindex(ifname)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.bind(("::", 0, 0, ifindex))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _ifindex(ifname: str) -> int:
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        raise ConfigError(f"no network interface {ifname!r} here") from None


class _ServerProtocol(asyncio.DatagramProtocol):
    def __init__(self, machine: SdpServer, clock: Callable[[], float]) -> None:
        self.machine = machine
        self.clock = clock
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.machine.receive(data, self.clock(), addr)
        assert self.transport is not None
        for datagram, peer in self.machine.data_to_send():
            self.transport.sendto(datagram, peer)


async def serve_sdp(sock: socket.socket, address: LinkLocal, ports: Mapping[int, int], *,
                    clock: Callable[[], float] = time.monotonic,
                    ) -> tuple[asyncio.DatagramTransport, SdpServer]:  # fmt: skip
    """Start answering on ``sock`` (from open_server_socket) with ``address`` and ``ports``
    (security -> TCP port). Close the returned transport to stop."""
    machine = SdpServer(address.address, ports)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _ServerProtocol(machine, clock), sock=sock
    )
    return transport, machine


async def start_sdp(ifname: str, ports: Mapping[int, int]) -> tuple[asyncio.DatagramTransport, SdpServer]:
    """The SECC's SDP server on ``ifname``, answering with its link-local address."""
    address = server_address(ifname)
    return await serve_sdp(open_server_socket(ifname), address, ports)


def server_address(ifname: str) -> LinkLocal:
    found = link_local(ifname)
    if found is None:
        raise ConfigError(f"{ifname} has no usable IPv6 link-local address yet")
    return found


class _ClientProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait(data)


async def discover(sock: socket.socket, ifindex: int, client: SdpClient, *,
                   clock: Callable[[], float] = time.monotonic,
                   ) -> SeccDiscovered | SdpFailed:  # fmt: skip
    """Run ``client`` on ``sock`` (from open_client_socket) until it finds a SECC or
    gives up; requests go to ff02::1 on interface ``ifindex``. Closes the socket."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_ClientProtocol, sock=sock)
    target = (c.SDP_MULTICAST, c.SDP_PORT, 0, ifindex)
    try:
        client.start(clock())
        while True:
            for datagram in client.data_to_send():
                transport.sendto(datagram, target)
            event = client.next_event()
            if event is not None:
                return event
            deadline = client.get_timer()
            wait = None if deadline is None else max(0.0, deadline - clock())
            try:
                data = await within(proto.queue.get(), wait)
            except TimeoutError:
                client.handle_timer(clock())
            else:
                client.receive(data, clock())
    finally:
        transport.close()
