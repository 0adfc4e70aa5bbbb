"""Thin websockets driver for the station machine: connect (ws/wss, security profiles 1-3),
shuttle frames and timers, reconnect with the RetryBackOff variables.

Security profiles (OCPP 2.0.1 Part 2, A. Security): 1 = ws + HTTP Basic auth, 2 = wss (server
certificate checked) + Basic auth, 3 = wss with a TLS client certificate and no password.
The Basic auth username is the station identity (Part 4 §3.1.1).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus

from . import rpc
from .backoff import Backoff
from .certcheck import client_certificate_problem
from .events import Event
from .machine import StationConnection

log = logging.getLogger("v2gate.ocpp")
# OpenSSL's reasons when the peer speaks only a TLS version below our minimum (1.2)
TLS_VERSION_REASONS = frozenset({"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION"})


class ConfigError(Exception):
    """The connection settings contradict the security profile."""


@dataclass(frozen=True)
class Settings:
    endpoint: str  # the CSMS's OCPP-J endpoint URL, ws:// or wss://
    station_id: str
    ca_file: str | None = None  # trust anchor for the CSMS certificate (profiles 2, 3)
    client_cert: str | None = None  # profile 3: our certificate chain (PEM)
    client_key: str | None = None
    open_timeout: float = 10.0
    crl_file: str | None = None  # revoked certificates of the CSMS's CA (PEM CRL), checked


def connection_url(endpoint: str, station_id: str) -> str:
    """Part 4 §3.1.1: endpoint, '/', the percent-encoded identity."""
    return endpoint.rstrip("/") + "/" + quote(station_id, safe="")


def basic_auth(station_id: str, password: str) -> str:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return f"Basic {token}"


def tls_context(settings: Settings, profile: int) -> ssl.SSLContext | None:
    if not settings.endpoint.startswith("wss://"):
        if profile >= 2:
            raise ConfigError(f"security profile {profile} needs a wss:// endpoint")
        return None
    ctx = ssl.create_default_context(cafile=settings.ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # OCPP 2.0.1 security: TLS 1.2 or above
    if settings.crl_file:
        ctx.load_verify_locations(settings.crl_file)
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    if profile == 3:
        if not (settings.client_cert and settings.client_key):
            raise ConfigError("security profile 3 needs a client certificate and key")
        ctx.load_cert_chain(settings.client_cert, settings.client_key)
    return ctx


class StationDriver:
    def __init__(self, machine: StationConnection, settings: Settings, *,
                 on_event: Callable[[Event], None] = lambda e: None,
                 backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.machine = machine
        self.settings = settings
        self.on_event = on_event
        self.backoff = backoff or Backoff(machine.model, random.uniform)
        self.clock = clock
        self.connects = 0
        self._raised: set[str] = set()  # security events raised since the last connection
        self._wake = asyncio.Event()

    def kick(self) -> None:
        """The station recorded something to send: look at the machine now."""
        self._wake.set()

    async def run(self) -> None:
        """Connect, serve, and reconnect after every loss, until cancelled."""
        while True:
            try:
                ws = await self._connect()
            except (OSError, TimeoutError, InvalidHandshake, ConfigError) as e:
                if isinstance(e, ConfigError):
                    raise
                self._log_failure(e)
            else:
                self.backoff.reset()
                self._raised.clear()
                try:
                    await self._serve(ws)
                except ConnectionClosed as e:
                    log.warning("OCPP connection lost: %s", e)
                finally:
                    await ws.close()
            await self._offline(self.backoff.next_delay())

    async def _offline(self, delay: float) -> None:
        """Wait before reconnecting, running the machine's timers meanwhile: a charging
        limit expires on time whether or not the CSMS is reachable."""
        until = self.clock() + delay
        while True:
            self._flush_events()
            now = self.clock()
            if now >= until:
                return
            deadline = self.machine.get_timer()
            wake = until if deadline is None else min(until, max(deadline, now))
            await asyncio.sleep(wake - now)
            self.machine.handle_timer(self.clock())

    async def _connect(self) -> ClientConnection:
        model = self.machine.model
        profile = model.integer("SecurityCtrlr", "SecurityProfile")
        headers = {}
        password = model.value("SecurityCtrlr", "BasicAuthPassword")
        if profile in (1, 2) and password:
            headers["Authorization"] = basic_auth(self.settings.station_id, password)
        ping = model.integer("OCPPCommCtrlr", "WebSocketPingInterval")
        if profile == 3 and self.settings.client_cert:
            problem = client_certificate_problem(self.settings.client_cert, self.clock())
            if problem is not None:  # the CSMS will refuse it: say why before it does
                log.error("OCPP-Auth-401: %s", problem)
                self._security_event("InvalidChargingStationCertificate", problem)
        ws = await connect(
            connection_url(self.settings.endpoint, self.settings.station_id),
            subprotocols=[rpc.SUBPROTOCOLS[0], rpc.SUBPROTOCOLS[1]],  # type: ignore[list-item]
            additional_headers=headers,
            ssl=tls_context(self.settings, profile),
            max_size=self.machine.max_frame,  # larger frames close the connection (1009)
            ping_interval=ping or None,
            open_timeout=self.settings.open_timeout,
            proxy=None,
        )
        if ws.subprotocol not in rpc.SUBPROTOCOLS:
            await ws.close()
            raise InvalidHandshake("the CSMS agreed to none of ocpp2.1, ocpp2.0.1")
        self.connects += 1
        log.info("OCPP connected to %s with %s", self.settings.endpoint, ws.subprotocol)
        return ws

    def _log_failure(self, e: Exception) -> None:
        if isinstance(e, InvalidStatus) and e.response.status_code == 401:
            # the interconnection manual's code for a refused station
            log.error("OCPP-Auth-401: the CSMS refused the station (HTTP 401): wrong "
                      "password or unknown identity %r", self.settings.station_id)  # fmt: skip
            self._security_event("FailedToAuthenticateAtCsms", "HTTP 401 at the websocket upgrade")
        elif isinstance(e, ssl.SSLCertVerificationError):
            # expired, revoked, or no path to our trust anchor ("unable to get local issuer")
            log.error("OCPP-Auth-401: TLS handshake with the CSMS failed, its certificate is "
                      "not trusted: %s (%s)", e.verify_message, e)  # fmt: skip
            self._security_event("InvalidCsmsCertificate", str(e.verify_message))
        elif isinstance(e, ssl.SSLError) or isinstance(e.__cause__, ssl.SSLError):
            # a TLS alert from the CSMS: it refused our certificate during the handshake
            log.error("OCPP-Auth-401: TLS handshake with the CSMS failed: %s", e.__cause__ or e)
            err = e if isinstance(e, ssl.SSLError) else e.__cause__
            reason = getattr(err, "reason", None) or ""
            if reason in TLS_VERSION_REASONS:  # the CSMS offered only TLS below 1.2
                self._security_event("InvalidTLSVersion", f"TLS handshake: {reason}")
            else:
                self._security_event("FailedToAuthenticateAtCsms", f"TLS handshake: {err}")
        elif (isinstance(e, InvalidMessage | ConnectionResetError)
              and self.settings.endpoint.startswith("wss://") and self.settings.client_cert):  # fmt: skip
            # a server that refuses our certificate may reset the handshake without an alert
            # (TLS 1.2), or its alert arrives after our side of a TLS 1.3 handshake is done
            # and shows as a close before the HTTP upgrade's answer
            log.error("OCPP-Auth-401: the CSMS closed the connection before answering the "
                      "upgrade, as it does when it refuses our client certificate %s (%s)",
                      self.settings.client_cert, str(e) or type(e).__name__)  # fmt: skip
            self._security_event("FailedToAuthenticateAtCsms",
                                 "closed before the upgrade's answer (client certificate refused?)")
        else:
            log.warning("OCPP connection to %s failed: %s", self.settings.endpoint, e)

    def _security_event(self, kind: str, tech_info: str) -> None:
        """Once per kind until a connection succeeds: a CSMS that keeps refusing us would
        otherwise fill the queue with one event per retry."""
        if kind not in self._raised:
            self._raised.add(kind)
            self.machine.security_event(kind, self.clock(), tech_info)

    async def _serve(self, ws: ClientConnection) -> None:
        m = self.machine
        m.connection_made(ws.subprotocol, self.clock())
        recv: asyncio.Future = asyncio.ensure_future(ws.recv())
        wake: asyncio.Future = asyncio.ensure_future(self._wake.wait())
        try:
            while True:
                self._flush_events()  # first: what on_event records goes out in this turn
                for frame in m.data_to_send():
                    await ws.send(frame)
                deadline = m.get_timer()
                timeout = None if deadline is None else max(0.0, deadline - self.clock())
                done, _ = await asyncio.wait({recv, wake}, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                if wake in done:
                    self._wake.clear()
                    wake = asyncio.ensure_future(self._wake.wait())
                if recv in done:
                    data = recv.result()  # raises ConnectionClosed when it is over
                    recv = asyncio.ensure_future(ws.recv())
                    m.receive(data, self.clock())
                m.handle_timer(self.clock())
        finally:
            for f in (recv, wake):
                if f.done() and not f.cancelled():
                    f.exception()  # retrieved: the loss is handled by our caller
                f.cancel()
            m.connection_lost(self.clock())

    def _flush_events(self) -> None:
        while (event := self.machine.next_event()) is not None:
            self.on_event(event)
