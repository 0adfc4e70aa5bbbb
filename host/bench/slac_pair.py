"""Our EVSE against our EV over a pair of links, each with a modem simulator on the far end.

Used by the system tests, the `slac` simulate scenario and the benchmark. The links are
either raw sockets on a veth pair in two namespaces (root) or the in-process channel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from host.bench.channel import Channel
from host.bench.modem_sim import ModemSim
from host.bench.veth import VethPair, in_netns
from host.ev.slac import PevSlac
from host.slac import constants as c
from host.slac.driver import Link, RawLink, open_packet_socket, run_machine, serve_modem_sim
from host.slac.events import Event, KeySet, LinkReady, Matched, MatchFailed, ToggleCp
from host.slac.evse import EvseSlac


@dataclass
class Links:
    """evse/pev: the hosts' HomePlug links; sim_evse: the EVSE modem's simulator (on the EV
    end), sim_pev: the EV modem's simulator (on the EVSE end)."""

    evse: Link
    pev: Link
    sim_evse: Link
    sim_pev: Link
    transport: str

    def close(self) -> None:
        for link in (self.evse, self.pev, self.sim_evse, self.sim_pev):
            link.close()


def channel_links() -> Links:
    ch = Channel()
    return Links(ch.open(0), ch.open(1), ch.open(1, c.ETH_P_ALL), ch.open(0, c.ETH_P_ALL),
                 "in-process")  # fmt: skip


def veth_links(pair: VethPair) -> Links:
    """Raw sockets on both ends of ``pair``; call from inside the event loop."""

    def sock(ns: str, ifname: str, proto: int) -> RawLink:
        return RawLink(in_netns(ns, lambda: open_packet_socket(ifname, proto)))

    return Links(sock(pair.ns_evse, pair.if_evse, c.ETH_P_HOMEPLUG),
                 sock(pair.ns_pev, pair.if_pev, c.ETH_P_HOMEPLUG),
                 sock(pair.ns_pev, pair.if_pev, c.ETH_P_ALL),
                 sock(pair.ns_evse, pair.if_evse, c.ETH_P_ALL), "veth")  # fmt: skip


@contextlib.contextmanager
def modem_sims(links: Links, attenuation_db: int = 20) -> Iterator[tuple[ModemSim, ModemSim]]:
    """Serve both simulated modems for the duration of the block."""
    sims = (ModemSim(attenuation_db=attenuation_db), ModemSim(attenuation_db=attenuation_db))
    tasks = [asyncio.ensure_future(serve_modem_sim(sims[0], links.sim_evse)),
             asyncio.ensure_future(serve_modem_sim(sims[1], links.sim_pev))]  # fmt: skip
    try:
        yield sims
    finally:
        for task in tasks:
            task.cancel()


def _final(event: Event) -> bool:
    return isinstance(event, LinkReady) or (isinstance(event, MatchFailed) and not event.retrying)


@dataclass
class PairResult:
    matched: bool
    transport: str
    match_s: float | None = None  # EV's first CM_SLAC_PARM.REQ -> CM_SLAC_MATCH.CNF
    link_s: float | None = None  # EV's first CM_SLAC_PARM.REQ -> EV link ready
    nid: bytes = b""
    evse_mac: bytes = b""
    pev_mac: bytes = b""
    attenuation_db: float | None = None
    reason: str = ""
    evse_events: list[Event] = field(default_factory=list)
    pev_events: list[Event] = field(default_factory=list)


async def run_pev(links: Links, result: PairResult, on_event: Callable[[str, Event], None],
                  pev: PevSlac | None = None) -> None:  # fmt: skip
    """Run our EV on ``links.pev`` and fill the timings and outcome into ``result``."""
    loop = asyncio.get_running_loop()
    pev = pev or PevSlac(links.pev.mac)
    t0 = 0.0

    def start(now: float) -> None:
        nonlocal t0
        t0 = now
        pev.start(now)

    def seen(event: Event) -> None:
        result.pev_events.append(event)
        on_event("pev", event)
        if isinstance(event, Matched):
            result.match_s = loop.time() - t0
            result.nid, result.evse_mac = event.nid, event.peer_mac
            result.attenuation_db = event.attenuation_db
        elif isinstance(event, LinkReady):
            result.link_s = loop.time() - t0
            result.matched = True
        elif isinstance(event, MatchFailed):
            result.reason = event.reason.value

    result.pev_mac = links.pev.mac
    await run_machine(pev, links.pev, until=_final, on_event=seen, before=start)


async def run_pair(links: Links, *, attenuation_db: int = 20, timeout: float = 30.0,
                   on_event: Callable[[str, Event], None] = lambda side, event: None,
                   evse: EvseSlac | None = None, validate: bool = False) -> PairResult:  # fmt: skip
    """EVSE plugged in (state B, 5 %); once its key is set the EV starts; both until linked.
    With ``validate`` the EV validates the EVSE by toggling the CP they share."""
    result = PairResult(False, links.transport)
    evse = evse or EvseSlac(links.evse.mac, validation=validate)
    pev = PevSlac(links.pev.mac, validate=validate)
    key_set = asyncio.Event()
    loop = asyncio.get_running_loop()

    def cp(state: str) -> None:
        evse.cp_state(state, True, loop.time())

    def pev_seen(side: str, event: Event) -> None:
        on_event(side, event)
        if isinstance(event, ToggleCp):  # the EV's S2 switch, as the EVSE's CP reading sees it
            for i in range(event.toggles):
                loop.call_later((2 * i + 1) * event.state_s, cp, "C")
                loop.call_later((2 * i + 2) * event.state_s, cp, "B")

    def evse_seen(event: Event) -> None:
        result.evse_events.append(event)
        on_event("evse", event)
        if isinstance(event, KeySet):
            key_set.set()

    async def evse_side() -> None:
        await run_machine(evse, links.evse, until=_final, on_event=evse_seen,
                          before=lambda now: evse.cp_state("B", True, now))  # fmt: skip
        key_set.set()

    async def pev_side() -> None:
        await key_set.wait()
        await run_pev(links, result, pev_seen, pev)

    async def both() -> None:
        # awaited from a task of its own: a bare gather under wait_for, cancelled (Ctrl-C,
        # SIGTERM), ends with an exception nobody retrieves and asyncio logs a traceback
        await asyncio.gather(evse_side(), pev_side())

    with modem_sims(links, attenuation_db):
        try:
            await asyncio.wait_for(both(), timeout)
        except TimeoutError:
            result.matched, result.reason = False, f"no link within {timeout:g} s"
    if not result.matched and not result.reason:
        result.reason = next((e.reason.value for e in result.evse_events
                              if isinstance(e, MatchFailed)), "no link")  # fmt: skip
    return result
