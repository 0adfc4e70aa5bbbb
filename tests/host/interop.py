"""Helpers of the interop tests that run the `iso15118` package (a third-party EV or SECC,
Java EXI) in one namespace of a veth pair against ours in the other."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from host.bench.dcplant import DcPlant
from host.bench.veth import VethPair, in_netns
from host.ev.evcc.driver import discover_and_run
from host.ev.evcc.ev import SimEv
from host.secc.core import EndReason, RequestAnswered, SessionEnded
from host.v2g import constants as c
from host.v2g.netif import link_local
from host.v2g.sap import AppProtocol
from host.v2g.sdp_driver import start_sdp
from host.v2g.server import SeccServer, ServerConfig, host_of, open_listen_socket


class LoopingEv(SimEv):
    """A SimEv charging for ``charge_for`` seconds and at least ``loops`` charging-loop
    requests (``sent()`` counts them): on a loaded machine their SECC (a JVM) may take a
    second to answer one request, and the loop must still go round for the test to see it.
    Set ``sent`` once the EVCC exists."""

    def __init__(self, battery: Any, *, charge_for: float, loops: int) -> None:
        super().__init__(battery, charge_for=charge_for)
        self.loops = loops
        self.sent: Callable[[], int] = lambda: 0

    def charging_complete(self, now: float) -> bool:
        return super().charging_complete(now) and self.sent() >= self.loops


def peer_python() -> Path:
    """The iso15118 package's cached virtualenv python, or a skip where there is no Java."""
    if shutil.which("java") is None:
        print("skipping: the iso15118 package's EXI codec needs Java")
        pytest.skip("no java")
    from tools.exi_peer.venv import ensure_peer_venv

    return ensure_peer_venv()


def wait_link_local(ns: str, ifname: str) -> None:
    deadline = time.monotonic() + 10.0
    while in_netns(ns, lambda: link_local(ifname)) is None:
        assert time.monotonic() < deadline, f"{ifname}: no link-local address"
        time.sleep(0.05)


def ready_pair(veth: VethPair, peer_ns: str) -> None:
    """Loopback up where their peer runs (py4j talks to its JVM over 127.0.0.1), and both
    ends with a link-local address before anyone sends SDP."""
    subprocess.run(["ip", "-n", peer_ns, "link", "set", "lo", "up"], check=True)
    wait_link_local(veth.ns_evse, veth.if_evse)
    wait_link_local(veth.ns_pev, veth.if_pev)


def their_evcc_config(veth: VethPair, folder: Path, protocol: str, **extra: object) -> None:
    """The .env and ev.json their EVCC reads: one protocol, DC (unless ``extra`` says
    otherwise), no TLS."""
    (folder / ".env").write_text(f"NETWORK_INTERFACE={veth.if_pev}\nLOG_LEVEL=INFO\n")
    (folder / "ev.json").write_text(json.dumps({
        "supportedProtocols": [protocol], "supportedEnergyServices": ["DC"],
        "energyTransferMode": "DC_extended", "isCertInstallNeeded": False, "useTls": False,
        **extra}))  # fmt: skip


def start_peer(ns: str, python: Path, args: list[str], cwd: Path) -> subprocess.Popen:
    """Their program in namespace `ns`, in a process group of its own (it starts a JVM).

    Its output goes to a file, not a pipe: nobody reads a pipe until the end, and once
    its 64 KiB filled the peer blocked mid-session on its own logging."""
    log = tempfile.NamedTemporaryFile(dir=cwd, prefix="peer-", suffix=".log", delete=False)
    with log:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, str(python), *args], cwd=cwd,
                                stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    _LOGS[proc.pid] = Path(log.name)
    return proc


_LOGS: dict[int, Path] = {}


def stop_peer(proc: subprocess.Popen) -> str:
    """Kills the peer and its JVM (the group we started) and returns its log."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # it had ended by itself
        pass
    proc.wait(timeout=30)
    path = _LOGS.pop(proc.pid)
    return path.read_bytes().decode(errors="replace")


async def serve_their_evcc(veth: VethPair, folder: Path, python: Path, port: int,
                           offers: tuple[AppProtocol, ...], factories: dict[str, Any],
                           events: list[object], budget: float,
                           tls: ssl.SSLContext | None = None,
                           args: list[str] | None = None) -> str:  # fmt: skip
    """Our SECC server (SDP and TCP, or TLS with ``tls``, on the EVSE end) against their
    EVCC in the PEV namespace, until our side reports a SessionEnded, their EVCC exits or
    ``budget`` runs out; returns their EVCC's log. Run it inside the EVSE namespace.
    ``args``: how their EVCC is started (default: their own main with ev.json)."""
    security = c.SECURITY_NO_TLS if tls is None else c.SECURITY_TLS
    transport, _sdp = await start_sdp(veth.if_evse, {security: port})
    link = link_local(veth.if_evse)
    assert link is not None
    config = ServerConfig(host=host_of(link), port=port, offers=offers, tls=tls)
    server = SeccServer(config, factories,
                        on_event=lambda _conn, event: events.append(event))  # fmt: skip
    await server.start(open_listen_socket(config.host, config.port))
    ev = start_peer(veth.ns_pev, python, args or ["-m", "iso15118.evcc.main", "ev.json"],
                    folder)  # fmt: skip
    try:
        deadline = time.monotonic() + budget
        while (not any(isinstance(e, SessionEnded) for e in events)
               and time.monotonic() < deadline and ev.poll() is None):  # fmt: skip
            await asyncio.sleep(0.05)
    finally:
        out = stop_peer(ev)
        await server.close()
        transport.close()
    return out


def check_stopped(events: list[object], plant: DcPlant, out: str) -> list[RequestAnswered]:
    """Our SECC's session ended with SessionStop, no FAILED answer, energy moved and the
    stage off; the requests it answered."""
    answered = [e for e in events if isinstance(e, RequestAnswered)]
    ends = [e for e in events if isinstance(e, SessionEnded)]
    summary = "\n".join(f"{e.at:.3f} {e.request} {e.response_code}" for e in answered)
    assert ends and ends[0].reason is EndReason.STOPPED, (
        f"our side:\n{summary}\n{ends}\ntheir EVCC's log:\n{out[-4000:]}")
    assert answered[-1].request == "SessionStopReq"
    assert not [e for e in answered if e.response_code.startswith("FAILED")], summary
    assert plant.energy_in_wh > 0 and not plant.energised
    return answered


def run_against_their_secc(veth: VethPair, folder: Path, python: Path, protocol: str,
                           runner: str, ev: Any, budget: float) -> str:  # fmt: skip
    """Their SECC (``runner``, speaking ``protocol``, EIM) in the EVSE namespace, our EVCC
    ``ev`` through SDP and TCP in the PEV namespace until its session ends; their log."""
    ready_pair(veth, veth.ns_evse)
    (folder / ".env").write_text(f"NETWORK_INTERFACE={veth.if_evse}\nLOG_LEVEL=INFO\n"
                                 f"PROTOCOLS={protocol}\nAUTH_MODES=EIM\n")  # fmt: skip
    (folder / "secc_runner.py").write_text(runner)
    secc = start_peer(veth.ns_evse, python, ["secc_runner.py"], folder)

    async def main() -> None:
        await asyncio.wait_for(discover_and_run(ev, veth.if_pev), budget)

    started = time.monotonic()
    try:
        # their SECC needs a few seconds for its JVM before it answers SDP; our SDP client
        # resends for 12.5 s, so retry discovery a few times within the budget
        while True:
            try:
                in_netns(veth.ns_pev, lambda: asyncio.run(main()))
                break
            except ConnectionError:
                if time.monotonic() - started > budget or secc.poll() is not None:
                    raise
    finally:
        out = stop_peer(secc)
    return out
