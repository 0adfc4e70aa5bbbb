"""How the ISO 15118 scenarios of `v2gate simulate` carry a session (host.bench.v2g_scenario):
SLAC, then SDP and TCP/TLS over a veth pair in two network namespaces (each side a thread in
its own namespace with its own event loop, as two processes would run), or the in-process
SLAC channel and loopback TCP without SDP. The timeline and the outcome they fill."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host.bench.slac_pair import Links, channel_links, run_pair, veth_links
from host.bench.veth import VethPair, in_netns, veth_pair

PORT = 50000  # the veth namespaces are fresh: nothing else there
TIMEOUT = 60.0  # s, for SDP to SessionStopRes; the sessions take ~3 s


@dataclass(frozen=True)
class Variant:
    protocol: str  # as `v2gate ev --protocol` names it
    tls: bool
    pnc: bool  # Plug & Charge (needs tls)


class Timeline:
    """Records for the JSON timeline, printed as they come when someone follows the run;
    repeated requests (the charging loop) print once with their count."""

    def __init__(self, show: bool) -> None:
        self.t0 = time.monotonic()
        self.records: list[dict[str, Any]] = []
        self.show = show
        self._lock = threading.Lock()  # both sides' threads add to it
        self._run: tuple[str, int, float] | None = None  # text, count, t of the first

    def add(self, event: str, text: str, **fields: Any) -> None:
        t = round(time.monotonic() - self.t0, 3)
        with self._lock:
            self.records.append({"t": t, "event": event, "text": text, **fields})
            if not self.show:
                return
            if self._run is not None and self._run[0] == text:
                self._run = (text, self._run[1] + 1, self._run[2])
                return
            self._flush()
            self._run = (text, 1, t)

    def _flush(self) -> None:
        if self._run is not None:
            text, count, t = self._run
            print(f"{t:8.3f}  {text}" + (f"  (x{count})" if count > 1 else ""), flush=True)
            self._run = None

    def close(self) -> None:
        with self._lock:
            self._flush()


@dataclass
class Outcome:
    transport: str
    note: str
    slac_ms: float | None = None
    ev_result: object = None
    secc_end: object = None
    tls: Any = None
    negotiated: str | None = None
    answered: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    plants: list[Any] = dataclasses.field(default_factory=list)
    controllers: list[Any] = dataclasses.field(default_factory=list)  # firmware-backed ones
    firmware: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # its records
    sdp_at: float | None = None
    stopped_at: float | None = None
    contract: str | None = None  # the EMAID a Plug & Charge session authorized
    iso20: Any = None  # the -20 scenarios' sides (host.bench.v2g_iso20.Iso20Sides)
    error: str = ""

def preload() -> None:
    """Import what the session needs before the firmware starts: the EXI schemas take ~0.6 s
    each to import and hold the interpreter meanwhile, longer than the firmware waits for a
    link frame before it fails safe (500 ms)."""
    import host.ev.evcc.din
    import host.ev.evcc.driver
    import host.ev.evcc.iso2
    import host.ev.evcc.iso20
    import host.secc.iso20_ac
    import host.secc.iso20_dc
    import host.secc.pnc
    import host.secc.serve
    import host.slac.cli
    import host.v2g.sdp_client
    import host.v2g.sdp_driver  # noqa: F401


@dataclass
class Run:
    """What one scenario run takes besides the variant: the lab PKI (TLS), the EV's
    charging time, and ``station``: wraps each session's simulated controller into the
    firmware-backed one (host.station.v2g), or None for the simulated stage alone."""

    pki: Path | None
    charge_for: float
    station: Callable[[Any], Any] | None = None


def _sides(variant: Variant, run: Run, tl: Timeline, out: Outcome) -> tuple[Any, ...]:
    """The SECC's offers, TLS contexts, event callbacks and controller factory, and the EV."""
    from host.ev.cli import make_evcc
    from host.secc import serve
    from host.secc.core import RequestAnswered, SessionEnded
    from host.v2g import sap, tls
    from host.v2g.session import ProtocolNegotiated

    pki = run.pki
    use_pnc = variant.pnc and pki is not None
    iso20 = None
    if variant.protocol.startswith("iso20") and pki is not None:
        from host.bench import v2g_iso20

        iso20 = v2g_iso20.sides(variant.protocol, pki, run.charge_for)
        script = v2g_iso20.LoopScript(iso20.bpt)
        out.iso20 = iso20
        offers: tuple[Any, ...] = iso20.offers
        server_ctx, client_ctx, ev = iso20.server_ctx, iso20.client_ctx, iso20.ev
    else:
        offers = (sap.DIN,) if variant.protocol == "din" else (sap.ISO2, sap.DIN)
        server_ctx = client_ctx = None
        if pki is not None:
            server_ctx = serve.tls_context(pki)
            client_ctx = tls.client_context(pki / "v2g_root.pem")  # a -2 EV: TLS 1.2
        ev = make_evcc(variant.protocol, pnc=use_pnc, charge_for=run.charge_for,
                       pki=pki or Path())  # fmt: skip
    in_use: list[Any] = []

    def controller_for(context: Any) -> Any:
        controller: Any = serve.sim_controller(context) if iso20 is None else iso20.controller
        out.plants.append(controller.plant)
        if run.station is not None:
            controller = run.station(controller)
            out.controllers.append(controller)
        in_use.append(controller)
        return controller

    def on_secc(conn: Any, event: object) -> None:
        if isinstance(event, ProtocolNegotiated):
            if conn.tls_info is not None:
                out.tls = conn.tls_info
                tl.add("tls", f"TLS: {conn.tls_info.version} {conn.tls_info.cipher}",
                       version=conn.tls_info.version, cipher=conn.tls_info.cipher)  # fmt: skip
            chosen = event.negotiation.chosen
            out.negotiated = None if chosen is None else chosen.name
            tl.add("sap", f"SupportedAppProtocol: {out.negotiated} "
                          f"({event.negotiation.code.name})", protocol=out.negotiated)  # fmt: skip
        elif isinstance(event, RequestAnswered):
            out.answered.append((event.request, event.response_code))
            tl.add("secc", f"secc: {event.request} -> {event.response_code}",
                   request=event.request, code=event.response_code)  # fmt: skip
            if iso20 is not None and in_use and event.request in ("DC_ChargeLoopReq",
                                                                  "AC_ChargeLoopReq"):
                script.answered(conn, in_use[-1], tl)
            emaid = serve.authorized_contract(conn, event)
            if emaid is not None:
                out.contract = emaid
                tl.add("pnc", f"secc: Plug & Charge: contract {emaid} authorized", emaid=emaid)
        elif isinstance(event, SessionEnded):
            out.secc_end = event
            tl.add("session-ended", f"secc: session ended: {event.reason.value}",
                   reason=event.reason.value)  # fmt: skip

    def on_ev(event: object) -> None:
        from host.ev.evcc.common import SessionFailed, SessionStopped

        if isinstance(event, SessionStopped | SessionFailed):
            out.ev_result = event
            out.stopped_at = time.monotonic()
            text = ("SessionStopRes OK" if isinstance(event, SessionStopped)
                    else f"failed: {event.reason.value} {event.detail}")  # fmt: skip
            tl.add("ev", f"ev: {text}")

    iso2_options = {"pnc": serve.pnc_config(pki)} if use_pnc and pki is not None else None
    return offers, server_ctx, client_ctx, on_secc, on_ev, controller_for, ev, iso2_options


async def _slac(links: Links, tl: Timeline, out: Outcome) -> bool:
    from host.slac.cli import describe

    try:
        result = await run_pair(links, on_event=lambda side, e: tl.add(
            "slac", f"slac {side}: {describe(e)}"))  # fmt: skip
    finally:
        links.close()
    out.slac_ms = None if result.match_s is None else round(result.match_s * 1000, 1)
    if not result.matched:
        out.error = f"SLAC: {result.reason}"
    return result.matched


async def over_veth(variant: Variant, run: Run, tl: Timeline, out: Outcome) -> None:
    from host.ev.evcc.driver import run_connection
    from host.secc.serve import start_secc
    from host.v2g import constants as c
    from host.v2g.netif import link_local
    from host.v2g.sdp_client import SdpClient, SeccDiscovered
    from host.v2g.sdp_driver import discover, open_client_socket

    offers, server_ctx, client_ctx, on_secc, on_ev, controller_for, ev, options = \
        _sides(variant, run, tl, out)  # fmt: skip
    with veth_pair("v2g") as pair:
        if not await _slac(veth_links(pair), tl, out):
            return
        await asyncio.to_thread(_wait_link_local, pair, link_local)
        secc_ready, ev_done = threading.Event(), threading.Event()

        async def secc_main() -> None:
            server, transport = await start_secc(pair.if_evse, PORT, offers, server_ctx,
                                                 controller_for=controller_for,
                                                 on_event=on_secc, iso2_options=options)  # fmt: skip
            secc_ready.set()
            try:
                while out.secc_end is None and not ev_done.is_set():
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.05)  # the EV's close reaches the SECC
            finally:
                await server.close()
                transport.close()

        async def ev_main() -> None:
            secc_ready.wait(10)
            security = c.SECURITY_NO_TLS if client_ctx is None else c.SECURITY_TLS
            ifindex = socket.if_nametoindex(pair.if_pev)
            found = await discover(open_client_socket(pair.if_pev), ifindex, SdpClient(security))
            if not isinstance(found, SeccDiscovered):
                raise ConnectionError(f"no SECC answered SDP after {found.requests} requests")
            out.sdp_at = time.monotonic()
            res = found.response
            tl.add("sdp", f"SDP: SECC at [{res.address}]:{res.port}, "
                          f"{'TLS' if res.security == c.SECURITY_TLS else 'no TLS'}",
                   address=str(res.address), port=res.port)  # fmt: skip
            await run_connection(ev, f"{res.address}%{pair.if_pev}", res.port, tls=client_ctx,
                                 on_event=on_ev)  # fmt: skip

        def side(ns: str, main: Callable[[], Any], done: threading.Event | None) -> None:
            try:
                in_netns(ns, lambda: asyncio.run(asyncio.wait_for(main(), TIMEOUT)))
            except (OSError, ValueError) as exc:
                out.error = out.error or f"{ns.rsplit('-', 1)[-1]}: {exc or type(exc).__name__}"
            finally:
                if done is not None:
                    done.set()
                secc_ready.set()

        await asyncio.gather(asyncio.to_thread(side, pair.ns_evse, secc_main, None),
                             asyncio.to_thread(side, pair.ns_pev, ev_main, ev_done))  # fmt: skip


def _wait_link_local(pair: VethPair, link_local: Callable[[str], Any]) -> None:
    """A link-local address on each end that needs no duplicate address detection (the
    kernel's own stays tentative for ~2 s on a fresh link; nothing else is on this one)."""
    deadline = time.monotonic() + 10.0
    ends = ((pair.ns_evse, pair.if_evse, "fe80::1"), (pair.ns_pev, pair.if_pev, "fe80::2"))
    for ns, ifname, address in ends:
        subprocess.run(["ip", "-n", ns, "addr", "add", f"{address}/64", "dev", ifname, "nodad"],
                       capture_output=True, check=False)  # noqa: S607  # fmt: skip

        def found(ifname: str = ifname) -> object:
            return link_local(ifname)

        while in_netns(ns, found) is None:
            if time.monotonic() > deadline:
                raise OSError(f"{ifname} got no IPv6 link-local address")
            time.sleep(0.05)


def _loopback_port() -> tuple[str, int]:
    host = "::1" if socket.has_ipv6 else "127.0.0.1"
    for _ in range(200):
        port = random.randint(49152, 65535)  # noqa: S311 - a port, not a secret
        try:
            with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
                s.bind((host, port))
        except OSError:
            if host == "::1":
                host = "127.0.0.1"
            continue
        return host, port
    raise OSError("no free port in 49152-65535 on loopback")


async def in_process(variant: Variant, run: Run, tl: Timeline, out: Outcome) -> None:
    from host.ev.evcc.driver import run_connection
    from host.secc.serve import factories
    from host.v2g.server import SeccServer, ServerConfig

    offers, server_ctx, client_ctx, on_secc, on_ev, controller_for, ev, options = \
        _sides(variant, run, tl, out)  # fmt: skip
    if not await _slac(channel_links(), tl, out):
        return
    host, port = _loopback_port()
    server = SeccServer(ServerConfig(host=host, port=port, offers=offers, tls=server_ctx),
                        factories(offers, controller_for, options), on_event=on_secc)  # fmt: skip
    await server.start()
    try:
        out.sdp_at = time.monotonic()
        tl.add("sdp", f"no SDP: SECC at [{host}]:{port} (loopback)", address=host, port=port)
        await asyncio.wait_for(run_connection(ev, host, port, tls=client_ctx, on_event=on_ev),
                               TIMEOUT)  # fmt: skip
        for _ in range(50):  # the SECC sees the EV's close
            if out.secc_end is not None:
                break
            await asyncio.sleep(0.02)
    except OSError as exc:
        out.error = str(exc) or type(exc).__name__
    finally:
        await server.close()

