"""SECC benchmark: per-message response time of our ISO 15118-2 SECC and of the `iso15118`
package's SECC, both driven by our EVCC through a full DC EIM session, measured the same way
at the EVCC's socket (request written -> response read), over the same transport, in the
same run; printed as p50/p99 and as a ratio. Also SDP -> SessionStopRes wall time. Then the
same for an ISO 15118-20 DC_BPT session over TLS 1.3 (benchmarks/secc_parts/iso20.py), its
DC_ChargeLoop response time alone (target p99 <= 5 ms and >= 10x).

As root (veth pair, two network namespaces, SDP + TCP): our SECC first, then theirs (their
own cached virtualenv, Java for their EXI codec; the wall time of theirs starts once their
SECC answers SDP, so their start-up is not counted; without --quick one session of each is
a warm-up, not counted). Without root or Java: our SECC over loopback TCP only (no SDP, so
the wall time is TCP connect -> SessionStopRes), and it says what it left out. Our SECC
writes its communication log as on a gateway. Target: our p99 <= 20 ms and >= 10x faster
than theirs. It prints the figures and whether the target is met; it passes or fails
nothing.

    python benchmarks/secc.py [--sessions N] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host.bench.dcplant import DcPlant, StageLimits  # noqa: E402
from host.bench.veth import VethPair, in_netns, veth_pair, why_no_veth  # noqa: E402
from host.ev.evcc.driver import discover_and_run, run_connection  # noqa: E402
from host.ev.evcc.ev import SimEv  # noqa: E402
from host.ev.evcc.iso2 import Iso2Config, Iso2Evcc, SessionStopped  # noqa: E402
from host.secc.controller import SimEvseController  # noqa: E402
from host.secc.iso2 import iso2_factory  # noqa: E402
from host.v2g import constants as c  # noqa: E402
from host.v2g import sap  # noqa: E402
from host.v2g.commlog import CommLog  # noqa: E402
from host.v2g.netif import link_local  # noqa: E402
from host.v2g.sdp_driver import start_sdp  # noqa: E402
from host.v2g.server import SeccServer, ServerConfig, host_of, open_listen_socket  # noqa: E402

TARGET_P99 = 0.020
TARGET_RATIO = 10.0
PORT = 61851


class TimedEvcc:
    """Our EVCC with a stopwatch at its socket: from handing a request to the driver to the
    response's bytes arriving, per request name."""

    def __init__(self, machine: Iso2Evcc) -> None:
        self.machine = machine
        self.times: dict[str, list[float]] = defaultdict(list)
        self._sent_at: float | None = None
        self._name = ""
        self.started = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.machine, name)

    @property
    def clock_offset(self) -> float:  # the driver sets the wall clock's offset: the EVCC's
        return float(self.machine.clock_offset)

    @clock_offset.setter
    def clock_offset(self, value: float) -> None:
        self.machine.clock_offset = value

    def start(self, now: float) -> None:
        self.started = time.perf_counter()
        self.machine.start(now)

    def data_to_send(self) -> list[bytes]:
        out = self.machine.data_to_send()
        if out:
            sent = self.machine.sent
            self._name = sent[-1] if sent else "supportedAppProtocolReq"
            self._sent_at = time.perf_counter()
        return out

    def receive(self, data: bytes, now: float) -> None:
        if data and self._sent_at is not None:
            self.times[self._name].append(time.perf_counter() - self._sent_at)
            self._sent_at = None
        self.machine.receive(data, now)

    def all(self) -> list[float]:
        return [t for ts in self.times.values() for t in ts]


def _ev(timeout: float) -> TimedEvcc:
    # their SECC is slower than the 250 ms charging-loop budget (see the interop tests) and
    # now and then takes seconds: the EV waits ``timeout`` for every answer, so a slow one
    # is measured rather than ending the session
    plant = DcPlant()
    return TimedEvcc(Iso2Evcc(SimEv(plant.battery, charge_for=1.0),
                              Iso2Config(loop_interval=0.05, msg_timeout=timeout,
                                         loop_msg_timeout=timeout)))  # fmt: skip


def _controller() -> SimEvseController:
    return SimEvseController(DcPlant(StageLimits(voltage_ramp=20_000.0, current_ramp=10_000.0,
                                                 bleed_rate=20_000.0), isolation_time=0.2))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _check(ev: TimedEvcc, who: str) -> None:
    if not isinstance(ev.machine.result, SessionStopped):
        raise SystemExit(f"{who}: the session did not reach SessionStopRes: {ev.machine.result}")


# --- our SECC ------------------------------------------------------------------------------


def _commlog() -> CommLog:
    """Our SECC logs as on a gateway (its cost is in the figures), to a scratch file."""
    import tempfile

    return CommLog(Path(tempfile.mkdtemp(prefix="secc-bench-")) / "communication.log")


def ours_loopback(session: Any = None) -> tuple[TimedEvcc, float]:
    ev = _ev(2.0) if session is None else session.make_ev(2.0)
    log = _commlog()
    client = None if session is None else session.client_tls

    async def main() -> float:
        if session is None:
            config = ServerConfig(host="127.0.0.1", port=PORT, offers=(sap.ISO2,))
            factories = {sap.ISO2.namespace: iso2_factory(lambda _c: _controller())}
        else:
            config = ServerConfig(host="127.0.0.1", port=PORT, offers=session.offers,
                                  tls=session.server_tls)  # fmt: skip
            factories = session.factories
        server = SeccServer(config, factories, commlog=log)
        await server.start()
        try:
            t0 = time.perf_counter()
            await asyncio.wait_for(run_connection(ev, config.host, config.port, tls=client), 60)
            return time.perf_counter() - t0
        finally:
            await server.close()

    wall = asyncio.run(main())
    log.close()
    _check(ev, "our SECC")
    return ev, wall


def _timed_session(veth: VethPair, budget: float, timeout: float = 2.0, *,
                   make_ev: Any = None, tls: Any = None) -> tuple[TimedEvcc, float]:  # fmt: skip
    """Our EVCC (``make_ev(timeout)``, default the -2 DC one) in the PEV namespace from SDP
    to the end of its session: it, and the wall."""
    ev = (make_ev or _ev)(timeout)
    t0 = time.perf_counter()
    in_netns(veth.ns_pev, lambda: asyncio.run(asyncio.wait_for(
        discover_and_run(ev, veth.if_pev, tls=tls), budget)))  # fmt: skip
    return ev, time.perf_counter() - t0


def _serve_ours(veth: VethPair, ready: threading.Event, stop: threading.Event,
                session: Any = None) -> None:  # fmt: skip
    """Our SECC (SDP + TCP) in the EVSE namespace until ``stop``; ``session``: another
    kind of session (offers, factories, TLS context: benchmarks/secc_parts/iso20.py)."""
    log = _commlog()
    offers = (sap.ISO2,) if session is None else session.offers
    factories = ({sap.ISO2.namespace: iso2_factory(lambda _c: _controller())}
                 if session is None else session.factories)  # fmt: skip
    ctx = None if session is None else session.server_tls

    async def main() -> None:
        security = c.SECURITY_NO_TLS if ctx is None else c.SECURITY_TLS
        transport, _sdp = await start_sdp(veth.if_evse, {security: PORT})
        link = link_local(veth.if_evse)
        assert link is not None
        config = ServerConfig(host=host_of(link), port=PORT, offers=offers, tls=ctx)
        server = SeccServer(config, factories, commlog=log)
        await server.start(open_listen_socket(config.host, config.port))
        ready.set()
        try:
            while not stop.is_set():
                await asyncio.sleep(0.02)
        finally:
            await server.close()
            transport.close()
            log.close()

    in_netns(veth.ns_evse, lambda: asyncio.run(main()))


def ours_veth(veth: VethPair, session: Any = None) -> tuple[TimedEvcc, float]:
    from tests.host.interop import wait_link_local

    wait_link_local(veth.ns_evse, veth.if_evse)
    wait_link_local(veth.ns_pev, veth.if_pev)
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=_serve_ours, args=(veth, ready, stop, session))
    thread.start()
    try:
        if not ready.wait(30):
            raise SystemExit("our SECC did not start")
        ev, wall = (_timed_session(veth, 60) if session is None else _timed_session(
            veth, 60, make_ev=session.make_ev, tls=session.client_tls))  # fmt: skip
    finally:
        stop.set()
        thread.join()
    _check(ev, "our SECC")
    return ev, wall


# --- their SECC ----------------------------------------------------------------------------

# added to the interop tests' runner: several sessions run on one their-SECC process, and
# its simulated EVSE must start each from rest (it refuses PreCharge with the last current)
RESET_EVSE = """
    async def session_ended(self, current_state, reason):
        self.evse_data_context.present_current = 0
        self.evse_data_context.present_voltage = 0
        await super().session_ended(current_state, reason)


async def main"""


def theirs_veth(veth: VethPair, folder: Path, sessions: int, warm_up: bool,
                session: Any = None) -> list[tuple[TimedEvcc, float]]:  # fmt: skip
    """``sessions`` sessions (after one not counted, with ``warm_up``) against one run of
    their SECC; ``session``: another kind (its their_env for their .env, its EV and TLS)."""
    from host.v2g.sdp_client import SdpClient, SeccDiscovered
    from host.v2g.sdp_driver import discover, open_client_socket
    from tests.host.ev.test_evcc_din_interop import RUNNER
    from tests.host.interop import ready_pair
    from tools.exi_peer.venv import ensure_peer_venv

    python = ensure_peer_venv()
    ready_pair(veth, veth.ns_evse)
    env = "PROTOCOLS=ISO_15118_2\n" if session is None else session.their_env(folder)
    (folder / ".env").write_text(f"NETWORK_INTERFACE={veth.if_evse}\nLOG_LEVEL=INFO\n"
                                 f"AUTH_MODES=EIM\n{env}")  # fmt: skip
    (folder / "secc_runner.py").write_text(RUNNER.replace("\n\nasync def main", RESET_EVSE))
    # their log to a file, not a pipe: several sessions of INFO lines fill a pipe's 64 KiB
    # and their SECC then blocks mid-session on a write nobody reads
    log_path = folder / "their_secc.log"
    with log_path.open("wb") as log_file:
        secc = subprocess.Popen(["ip", "netns", "exec", veth.ns_evse, str(python),
                                 "secc_runner.py"], cwd=folder, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def stop_peer(proc: subprocess.Popen[bytes]) -> str:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        return log_path.read_text(errors="replace")

    try:
        # wait until their SECC answers SDP (their JVM start is not what we measure)
        ifindex = in_netns(veth.ns_pev, lambda: socket.if_nametoindex(veth.if_pev))
        deadline = time.monotonic() + 90
        security = c.SECURITY_NO_TLS if session is None else session.their_security
        while True:
            found = in_netns(veth.ns_pev, lambda: asyncio.run(discover(
                open_client_socket(veth.if_pev), ifindex,
                SdpClient(security))))  # noqa: B023 - called at once, in this iteration
            if isinstance(found, SeccDiscovered):
                break
            if time.monotonic() > deadline or secc.poll() is not None:
                raise SystemExit("their SECC never answered SDP:\n" + stop_peer(secc)[-3000:])
        runs = []
        for _ in range(sessions + warm_up):
            runs.append(_timed_session(veth, 120, timeout=15.0) if session is None else
                        _timed_session(veth, 120, timeout=15.0, make_ev=session.make_ev,
                                       tls=session.their_client_tls))  # fmt: skip
            if not isinstance(runs[-1][0].machine.result, SessionStopped):
                break
    finally:
        log = stop_peer(secc)
    for ev, _wall in runs:
        if not isinstance(ev.machine.result, SessionStopped):
            raise SystemExit(f"their SECC, session {len(runs)}: {ev.machine.result} (their "
                             f"log: {folder / 'their_secc.log'})\n{log[-3000:]}")
    return runs[warm_up:]


# --- report --------------------------------------------------------------------------------


def figures(ev: TimedEvcc) -> dict[str, float]:
    times = ev.all()
    return {"messages": len(times), "p50_ms": 1000 * statistics.median(times),
            "p99_ms": 1000 * _pct(times, 0.99), "max_ms": 1000 * max(times)}


def report(name: str, runs: list[tuple[TimedEvcc, float]], wall_label: str,
           only: str | None = None) -> dict[str, Any]:  # fmt: skip
    """``only``: the figures of that request alone (the -20 DC_ChargeLoopReq)."""
    merged = TimedEvcc.__new__(TimedEvcc)
    merged.times = defaultdict(list)
    for ev, _wall in runs:
        for k, v in ev.times.items():
            if only is None or k == only:
                merged.times[k].extend(v)
    f = figures(merged)
    walls = [w for _ev, w in runs]
    f["wall_s"] = statistics.median(walls)
    print(f"{name}: {f['messages']} responses in {len(runs)} session(s): p50 {f['p50_ms']:.2f} ms,"
          f" p99 {f['p99_ms']:.2f} ms, max {f['max_ms']:.2f} ms; {wall_label} "
          f"{f['wall_s']:.2f} s (median)")  # fmt: skip
    slowest = sorted(((statistics.median(v), k) for k, v in merged.times.items()), reverse=True)
    print("  slowest medians: " + ", ".join(f"{k} {t * 1000:.2f} ms" for t, k in slowest[:4]))
    return f


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one session each")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sessions = 1 if args.quick else args.sessions
    warm_up = not args.quick  # one session each not counted: their JVM's JIT, our imports
    out: dict[str, Any] = {}
    no_veth = why_no_veth()
    no_java = None if shutil.which("java") else "needs Java for the iso15118 package's EXI"
    if no_veth is None:
        import tempfile

        with veth_pair("secc") as veth:
            runs = [ours_veth(veth) for _ in range(sessions + warm_up)][warm_up:]
            ours = report("our SECC (veth, SDP+TCP)", runs, "SDP -> SessionStopRes")
            out["ours"] = ours
            if no_java is None:
                folder = Path(tempfile.mkdtemp(prefix="secc-bench-"))  # their log stays
                theirs = report("iso15118 SECC (veth, SDP+TCP)",
                                theirs_veth(veth, folder, sessions, warm_up),
                                "SDP -> SessionStopRes")  # fmt: skip
                out["theirs"] = theirs
    else:
        out["ours"] = report("our SECC (loopback TCP, no SDP)",
                             [ours_loopback() for _ in range(sessions + warm_up)][warm_up:],
                             "TCP connect -> SessionStopRes")  # fmt: skip
    ours = out["ours"]
    print(f"target p99 <= {TARGET_P99 * 1000:.0f} ms: {ours['p99_ms']:.2f} ms, "
          f"{'met' if ours['p99_ms'] <= TARGET_P99 * 1000 else 'NOT met'}")
    if "theirs" in out:
        theirs = out["theirs"]
        r50, r99 = theirs["p50_ms"] / ours["p50_ms"], theirs["p99_ms"] / ours["p99_ms"]
        out["ratio_p50"], out["ratio_p99"] = r50, r99
        print(f"ratio (theirs / ours): p50 {r50:.1f}x, p99 {r99:.1f}x; target >= "
              f"{TARGET_RATIO:.0f}x: {'met' if min(r50, r99) >= TARGET_RATIO else 'NOT met'}")
    else:
        why = no_veth or no_java
        print(f"iso15118 SECC left out: {why} (their SECC runs over veth in a network "
              "namespace; run this as root with Java for the ratio)")
    from benchmarks.secc_parts.iso20 import iso20_part

    out["iso20"] = iso20_part(sys.modules[__name__], sessions, warm_up, no_veth, no_java)
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
