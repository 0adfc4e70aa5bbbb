"""Thin asyncio driver for an EVCC machine (``DinEvcc`` and the ones to come): SDP on the
PLC interface, one TCP (or TLS) connection, the machine's timers on the loop's clock."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from typing import Protocol

from host.aio import within
from host.v2g import constants as c
from host.v2g.errors import ConfigError
from host.v2g.sdp_client import SdpClient, SeccDiscovered
from host.v2g.sdp_driver import discover, open_client_socket

READ_SIZE = 65536


class EvccMachine(Protocol):
    done: bool
    clock_offset: float

    def start(self, now: float) -> None: ...

    def receive(self, data: bytes, now: float) -> None: ...

    def handle_timer(self, now: float) -> None: ...

    def get_timer(self) -> float | None: ...

    def next_event(self) -> object | None: ...

    def data_to_send(self) -> list[bytes]: ...


async def run_connection(machine: EvccMachine, host: str, port: int, *,
                         tls: ssl.SSLContext | None = None,
                         clock: Callable[[], float] = time.monotonic,
                         wall_clock: Callable[[], float] = time.time,
                         on_event: Callable[[object], None] | None = None) -> None:  # fmt: skip
    """Connect to the SECC at ``host`` ("fe80::1%eth1", "::1") and run ``machine`` until it
    is done or the SECC closes; the EVCC closes the connection last ([V2G-DC-937]).
    The machine's timers run on ``clock``; its TimeStamps say ``wall_clock`` (-20: seconds
    since 1970)."""
    reader, writer = await asyncio.open_connection(host, port, ssl=tls,
                                                   server_hostname=None if tls is None else "")
    try:
        machine.clock_offset = wall_clock() - clock()
        machine.start(clock())
        while True:
            for data in machine.data_to_send():
                writer.write(data)
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                machine.receive(b"", clock())
            while (event := machine.next_event()) is not None:
                if on_event is not None:
                    on_event(event)
            if machine.done:
                return
            deadline = machine.get_timer()
            wait = None if deadline is None else max(0.0, deadline - clock())
            try:
                data = await within(reader.read(READ_SIZE), wait)
            except TimeoutError:
                machine.handle_timer(clock())
                continue
            except (ConnectionError, OSError):
                data = b""
            machine.receive(data, clock())
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
            await writer.wait_closed()


async def discover_and_run(machine: EvccMachine, ifname: str, *,
                           tls: ssl.SSLContext | None = None,
                           on_event: Callable[[object], None] | None = None) -> None:  # fmt: skip
    """SDP on ``ifname`` (TLS or not as ``tls`` says), then ``run_connection``."""
    try:
        ifindex = socket.if_nametoindex(ifname)
    except OSError:
        raise ConfigError(f"no network interface {ifname!r} here") from None
    security = c.SECURITY_NO_TLS if tls is None else c.SECURITY_TLS
    found = await discover(open_client_socket(ifname), ifindex, SdpClient(security))
    if not isinstance(found, SeccDiscovered):
        raise ConnectionError(f"no SECC answered SDP on {ifname} after {found.requests} "
                              "requests")  # fmt: skip
    address = f"{found.response.address}%{ifname}"
    await run_connection(machine, address, found.response.port, tls=tls, on_event=on_event)
