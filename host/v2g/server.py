"""Thin asyncio TCP/TLS server for the SECC: a fixed port from the dynamic range on the
PLC interface's link-local address, one V2gConnection per TCP connection.

With TLS, the handshake runs on the accepted socket (``start_tls``) so its time from the
TCP accept can be measured: above ``slow_handshake`` it is logged as ISO-15118-403 and the
connection carries on. Only V2G_SECC_CommunicationSetup_Timeout ends a handshake that
never completes.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from . import constants as c
from . import sap
from .netif import LinkLocal
from .protocol import ProtocolFactory
from .sdp_server import check_port
from .session import ConnectionClosed, V2gConnection

log = logging.getLogger(__name__)
READ_SIZE = 65536


@dataclass(frozen=True)
class ServerConfig:
    host: str  # "fe80::...%eth1" (see ``host_of``), or "::1" / "127.0.0.1" in tests
    port: int
    offers: Sequence[sap.AppProtocol] = (sap.ISO2, sap.DIN)  # our priority order
    tls: ssl.SSLContext | None = None
    prefer: Literal["ev", "secc"] = "ev"
    slow_handshake: float = c.TLS_SLOW_HANDSHAKE
    setup_timeout: float = c.COMMUNICATION_SETUP_TIMEOUT
    max_payload: int = c.V2GTP_DEFAULT_MAX_PAYLOAD

    def __post_init__(self) -> None:
        check_port(self.port)


def host_of(link: LinkLocal) -> str:
    return f"{link.address}%{link.ifname}"


class SeccServer:
    def __init__(self, config: ServerConfig, protocols: Mapping[str, ProtocolFactory], *,
                 clock: Callable[[], float] = time.monotonic,
                 on_event: Callable[[V2gConnection, object], None] | None = None) -> None:  # fmt: skip
        self.config = config
        self.protocols = dict(protocols)
        self.clock = clock
        self.on_event = on_event
        self.stats: Counter[str] = Counter()
        self.connections: set[V2gConnection] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accepted, self.config.host, self.config.port, reuse_address=True
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError, OSError):
                pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted_at = self.clock()
        peer = str(writer.get_extra_info("peername", ("?",))[0])
        self.stats["accepted"] += 1
        if self.config.tls is not None and not await self._handshake(writer, peer, accepted_at):
            return
        conn = V2gConnection(self.config.offers, self.protocols, accepted_at,
                             tls=self.config.tls is not None, peer=peer,
                             prefer=self.config.prefer, max_payload=self.config.max_payload,
                             setup_timeout=self.config.setup_timeout)  # fmt: skip
        self.connections.add(conn)
        try:
            await self._run(conn, reader, writer)
        finally:
            self.connections.discard(conn)

    async def _handshake(self, writer: asyncio.StreamWriter, peer: str, accepted_at: float) -> bool:
        assert self.config.tls is not None
        budget = max(0.0, accepted_at + self.config.setup_timeout - self.clock())
        try:
            await asyncio.wait_for(writer.start_tls(self.config.tls), budget)
        except TimeoutError:
            self.stats["tls_timeout"] += 1
            log.warning("TLS handshake with %s not done within %.0f s of the TCP accept "
                        "(V2G_SECC_CommunicationSetup_Timeout): closed", peer,
                        self.config.setup_timeout)  # fmt: skip
            return False
        except (ssl.SSLError, ConnectionError, OSError) as exc:
            self.stats["tls_failed"] += 1
            log.warning("TLS handshake with %s failed: %s", peer, exc)
            return False
        took = self.clock() - accepted_at
        if took > self.config.slow_handshake:
            self.stats["tls_slow"] += 1
            log.warning("%s TLS handshake with %s took %.0f ms from the TCP accept "
                        "(limit %.0f ms); the session goes on", c.TLS_SLOW_HANDSHAKE_CODE,
                        peer, took * 1000, self.config.slow_handshake * 1000)  # fmt: skip
        return True

    async def _run(self, conn: V2gConnection, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> None:  # fmt: skip
        while True:
            for data in conn.data_to_send():
                writer.write(data)
            try:
                await writer.drain()
            except (ConnectionError, ssl.SSLError, OSError):
                conn.receive(b"", self.clock())
            while (event := conn.next_event()) is not None:
                self._note(conn, event)
            if conn.closed is not None:
                return
            deadline = conn.get_timer()
            wait = None if deadline is None else max(0.0, deadline - self.clock())
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), wait)
            except TimeoutError:
                conn.handle_timer(self.clock())
                continue
            except (ConnectionError, ssl.SSLError, OSError):
                data = b""
            conn.receive(data, self.clock())

    def _note(self, conn: V2gConnection, event: object) -> None:
        if isinstance(event, ConnectionClosed):
            self.stats[f"closed: {event.reason.name}"] += 1
            for code, n in conn.reader.refused.items():
                self.stats[f"refused: {code}"] += n
            log.info("connection from %s closed: %s %s", conn.peer, event.reason, event.detail)
        if self.on_event is not None:
            self.on_event(conn, event)
