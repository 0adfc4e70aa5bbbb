"""Thin asyncio TCP/TLS server for the SECC: a fixed port from the dynamic range on the
PLC interface's link-local address, one V2gConnection per TCP connection.

With TLS, the handshake runs on the socket we accepted ourselves, so its time from the TCP
accept can be measured: above ``slow_handshake`` it is logged as ISO-15118-403 and the
connection carries on. Only V2G_SECC_CommunicationSetup_Timeout ends a handshake that
never completes.

With TLS, one port serves TLS 1.2 (-2) and TLS 1.3 (-2 and -20) as the context says
(host.v2g.tls); each connection hands what its handshake settled (version, suite, the EV's
certificate) to V2gConnection, which offers -20 over TLS 1.3 only ([V2G20-2356]).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from host.aio import within

from . import constants as c
from . import reasons, sap
from .commlog import CommLog, ConnectionLog
from .errors import ConfigError
from .netif import LinkLocal
from .protocol import ProtocolFactory
from .sdp_server import check_port
from .session import ConnectionClosed, ProtocolNegotiated, V2gConnection
from .tls import tls_info

log = logging.getLogger(__name__)
READ_SIZE = 65536
ACCEPT_BACKOFF = 0.1  # after a failed accept (EMFILE): don't spin


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


def open_listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on a numeric address ("fe80::1%eth1" takes its scope)."""
    check_port(port)
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host!r}: {exc}") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(addr)
        sock.listen(16)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class SeccServer:
    def __init__(self, config: ServerConfig, protocols: Mapping[str, ProtocolFactory], *,
                 clock: Callable[[], float] = time.monotonic,
                 on_event: Callable[[V2gConnection, object], None] | None = None,
                 commlog: CommLog | None = None) -> None:  # fmt: skip
        self.config = config
        self.commlog = commlog  # one line per message and an end line per connection
        self.protocols = dict(protocols)
        self.clock = clock
        self.on_event = on_event
        self.stats: Counter[str] = Counter()
        self.connections: set[V2gConnection] = set()
        self._listen: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on ``sock`` if given (made in another network namespace, say), else on a
        socket of our own for the configured host and port."""
        if sock is None:
            sock = open_listen_socket(self.config.host, self.config.port)
        sock.setblocking(False)
        self._listen = sock
        self._spawn(self._accept_loop(sock))

    async def close(self) -> None:
        """Stops listening and ends every session: each makes its station safe and gets its
        communication log end line (SHUTDOWN) before this returns."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listen is not None:
            self._listen.close()
            self._listen = None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_loop(self, listen: socket.socket) -> None:
        # Our own accept, not asyncio.start_server: that one starts reading at once, so a
        # ClientHello that arrives before start_tls() would land in the plain-text buffer.
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, addr = await loop.sock_accept(listen)
            except OSError as exc:  # out of file descriptors, say: the listener stays
                self.stats["accept_failed"] += 1
                log.warning("accept on port %d failed: %s", self.config.port, exc)
                await asyncio.sleep(ACCEPT_BACKOFF)
                continue
            self.stats["accepted"] += 1
            self._spawn(self._serve(sock, str(addr[0]), self.clock()))

    async def _serve(self, sock: socket.socket, peer: str, accepted_at: float) -> None:
        clog = self.commlog.connection(peer) if self.commlog is not None else None
        try:
            streams = await self._open(sock, peer, accepted_at, clog)
        except asyncio.CancelledError:
            sock.close()
            if clog is not None:
                clog.end(reasons.SHUTDOWN, "during the TLS handshake")
            raise
        if streams is None:
            return
        reader, writer = streams
        ssl_object = writer.get_extra_info("ssl_object")
        info = None if ssl_object is None else tls_info(ssl_object)
        if info is not None:
            self.stats[f"tls: {info.version}"] += 1
        conn = V2gConnection(self.config.offers, self.protocols, accepted_at,
                             tls=self.config.tls is not None, peer=peer,
                             prefer=self.config.prefer, max_payload=self.config.max_payload,
                             setup_timeout=self.config.setup_timeout, tls_info=info)  # fmt: skip
        self.connections.add(conn)
        try:
            await self._run(conn, reader, writer, clog)
        except asyncio.CancelledError:
            conn.shutdown(self.clock())  # the station made safe, the end line written
            while (event := conn.next_event()) is not None:
                self._note(conn, event, clog)
            raise
        except Exception:  # noqa: BLE001 - our bug (LocalProtocolError or any other):
            # this session ends as if the connection were lost, so its station is made
            # safe (a LocalProtocolError's machine has finished already), the server goes on
            log.exception("session with %s ended by our own error", peer)
            machine = conn.machine
            lost = getattr(machine, "connection_lost", None)
            if machine is not None and not machine.finished and lost is not None:
                lost(self.clock())
                while (event := machine.next_event()) is not None:
                    self._note(conn, event, clog)
        finally:
            if clog is not None:
                clog.end(reasons.INTERNAL, "the session driver raised")  # if not ended
            self.connections.discard(conn)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError, OSError):
                pass

    async def _open(self, sock: socket.socket, peer: str, accepted_at: float,
                    clog: ConnectionLog | None = None,
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:  # fmt: skip
        """Streams over the accepted socket, after the TLS handshake when configured."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=READ_SIZE)
        protocol = asyncio.StreamReaderProtocol(reader)
        tls = self.config.tls
        budget = max(0.001, accepted_at + self.config.setup_timeout - self.clock())
        try:
            transport, _ = await asyncio.wait_for(loop.connect_accepted_socket(
                lambda: protocol, sock, ssl=tls,
                ssl_handshake_timeout=budget + 1.0 if tls else None), budget)  # fmt: skip
        except TimeoutError:
            sock.close()
            self.stats["tls_timeout"] += 1
            if clog is not None:
                clog.end(reasons.TLS_TIMEOUT, f"{self.config.setup_timeout:.0f} s")
            log.warning("TLS handshake with %s not done within %.0f s of the TCP accept "
                        "(V2G_SECC_CommunicationSetup_Timeout): closed", peer,
                        self.config.setup_timeout)  # fmt: skip
            return None
        except (ssl.SSLError, ConnectionError, OSError) as exc:
            sock.close()
            self.stats["tls_failed"] += 1
            if clog is not None:
                clog.end(reasons.TLS_FAILED, str(exc))
            log.warning("TLS handshake with %s failed: %s", peer, exc)
            return None
        if tls is not None:
            took = self.clock() - accepted_at
            if took > self.config.slow_handshake:
                self.stats["tls_slow"] += 1
                if clog is not None:
                    clog.line("tls", f"{c.TLS_SLOW_HANDSHAKE_CODE} handshake_ms={took * 1000:.0f}"
                              f" limit_ms={self.config.slow_handshake * 1000:.0f}")
                log.warning("%s TLS handshake with %s took %.0f ms from the TCP accept "
                            "(limit %.0f ms); the session goes on", c.TLS_SLOW_HANDSHAKE_CODE,
                            peer, took * 1000, self.config.slow_handshake * 1000)  # fmt: skip
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    async def _run(self, conn: V2gConnection, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter, clog: ConnectionLog | None) -> None:  # fmt: skip
        while True:
            for data in conn.data_to_send():
                writer.write(data)
            try:
                await writer.drain()
            except (ConnectionError, ssl.SSLError, OSError):
                conn.receive(b"", self.clock())
            while (event := conn.next_event()) is not None:
                self._note(conn, event, clog)
            if conn.closed is not None:
                return
            deadline = conn.get_timer()
            wait = None if deadline is None else max(0.0, deadline - self.clock())
            try:
                data = await within(reader.read(READ_SIZE), wait)
            except TimeoutError:
                conn.handle_timer(self.clock())
                continue
            except (ConnectionError, ssl.SSLError, OSError):
                data = b""
            now = self.clock()
            if clog is not None:
                clog.received(now)
            conn.receive(data, now)

    def _note(self, conn: V2gConnection, event: object, clog: ConnectionLog | None) -> None:
        if clog is not None:
            clog.note(event, self.clock())
        if isinstance(event, ProtocolNegotiated) and event.withheld:
            # [V2G20-2356]: e.g. an EV that offers -20 over TLS 1.2 gets -2 or nothing
            transport = conn.tls_info.version if conn.tls_info else "plain TCP"
            self.stats["withheld"] += 1
            log.info("%s: not offered over %s: %s; negotiated %s", conn.peer, transport,
                     ", ".join(event.withheld), event.negotiation.code.name)  # fmt: skip
        if isinstance(event, ConnectionClosed):
            self.stats[f"closed: {event.reason.name}"] += 1
            for code, n in conn.reader.refused.items():
                self.stats[f"refused: {code}"] += n
            log.info("connection from %s closed: %s %s", conn.peer, event.reason, event.detail)
        if self.on_event is not None:
            self.on_event(conn, event)
