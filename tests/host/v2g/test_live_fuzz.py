"""Live fuzz: 10,000 seeded fuzzed inputs (V2GTP headers and EXI bodies, tests/host/v2g/
livefuzz.py) into live DIN and -2 sessions of a real SeccServer over TCP, while a second,
well-behaved EVCC charges through the same server on its own connection.

Asserted: the server never raises (no loop exception, no "our own error" log), every
connection ends with exactly one communication log end line, no session, task or file
descriptor is left once the connections are gone, every station the fuzzed sessions drove
is left safe, and the good EVCC's session reaches SessionStopRes while the fuzzer keeps
making progress (progress is counted, not timed). The long run: python -m
tests.host.v2g.livefuzz --inputs 200000."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.bench.dcplant import DcPlant
from host.ev.evcc.driver import run_connection
from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso2 import Iso2Config, Iso2Evcc, SessionStopped
from host.secc.controller import SimEvseController
from host.secc.din import din_factory
from host.secc.iso2 import PausedSessions, iso2_factory
from host.v2g import sap
from host.v2g.commlog import CommLog
from host.v2g.server import SeccServer, ServerConfig
from host.v2g.session import V2gConnection
from tests.host.ev.test_evcc_iso2 import _fast_plant

from .livefuzz import SID, FuzzStats, run_fuzz
from .test_server import _free_port, _loopback

END = re.compile(r" end SessionStop reason=(0x[0-9A-F]{2})")
INPUTS = 10_000
SEED = 15118


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@dataclass
class LiveResult:
    fuzz: FuzzStats
    good: Iso2Evcc
    fuzz_inputs_during_good: int = 0  # fuzzed inputs done while the good session ran
    fuzz_done_before_good: bool = False
    stats: Counter[str] = field(default_factory=Counter)
    ends: Counter[str] = field(default_factory=Counter)  # reason code -> end lines
    lines: int = 0
    controllers: list[SimEvseController] = field(default_factory=list)
    fds: tuple[int, int] = (0, 0)
    errors: list[Any] = field(default_factory=list)
    leftover: tuple[int, int] = (0, 0)  # connections, session tasks once all were gone

    def summary(self) -> str:
        return (f"end codes {dict(sorted(self.ends.items()))}, {self.lines} log lines, "
                f"good EVCC {type(self.good.result).__name__} with "
                f"{self.fuzz_inputs_during_good} fuzzed inputs alongside, errors "
                f"{len(self.errors)}")  # fmt: skip


class _Errors(logging.Handler):
    def __init__(self, into: list[Any]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


def live_fuzz(seed: int, inputs: int, folder: Path | None = None) -> LiveResult:
    host = _loopback()
    port = _free_port(host)
    good_plant = _fast_plant()
    good = Iso2Evcc(SimEv(good_plant.battery, charge_for=1.0),
                    Iso2Config(loop_interval=0.02, msg_timeout=60.0, loop_msg_timeout=60.0))
    result = LiveResult(FuzzStats(), good)
    controllers = result.controllers

    def controller_for(_context: object) -> SimEvseController:
        # the first session is the good EVCC's (it negotiates before the fuzzer starts)
        plant = good_plant if not controllers else DcPlant(isolation_time=0.05)
        controllers.append(SimEvseController(plant))
        return controllers[-1]

    factories = {
        sap.ISO2.namespace: iso2_factory(controller_for, paused=PausedSessions(),
                                         new_session_id=lambda: SID),
        sap.DIN.namespace: din_factory(controller_for, new_session_id=lambda: SID),
    }  # fmt: skip
    folder = folder or Path(tempfile.mkdtemp(prefix="livefuzz"))
    # garbage of earlier tests in this process (under pytest-xdist, any of them) is
    # collected now, not during the run, where its sockets closing would look like ours
    gc.collect()
    fds_before = _fds()
    log = CommLog(folder / "communication.log")
    errors = result.errors
    catcher = _Errors(errors)
    logging.getLogger("host.v2g").addHandler(catcher)

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        server = SeccServer(ServerConfig(host=host, port=port, offers=(sap.ISO2, sap.DIN)),
                            factories, commlog=log)  # fmt: skip
        await server.start()
        try:
            good_run = asyncio.create_task(run_connection(good, host, port))
            while len(good.sent) < 2 and not good_run.done():  # SessionSetupRes is in
                await asyncio.sleep(0.01)
            fuzz = asyncio.create_task(run_fuzz(host, port, seed, inputs, stats=result.fuzz))
            at_start = result.fuzz.inputs
            await good_run
            result.fuzz_inputs_during_good = result.fuzz.inputs - at_start
            result.fuzz_done_before_good = fuzz.done()
            await fuzz
            while server.connections:  # the server notes each close after its last write
                await asyncio.sleep(0.01)
            result.leftover = (len(server.connections), sum(
                1 for t in server._tasks if t.get_coro().__name__ != "_accept_loop"))
            result.stats = server.stats
        finally:
            await server.close()

    try:
        asyncio.run(main())
    finally:
        log.close()
        logging.getLogger("host.v2g").removeHandler(catcher)
    result.fds = (fds_before, _fds())
    text = log.path.read_text()
    result.lines = text.count("\n")
    result.ends = Counter(m.group(1) for m in END.finditer(text))
    return result


def problems(r: LiveResult, inputs: int) -> list[str]:
    """What went wrong in a live fuzz run (empty: nothing)."""
    found = []
    checks = [
        (not r.errors, f"the server raised: {r.errors[:5]}"),
        (r.fuzz.inputs >= inputs, f"only {r.fuzz.inputs} inputs"),
        # every connection was accepted and ended with exactly one end line
        (r.stats["accepted"] == r.fuzz.connections + 1,
         f"{r.stats['accepted']} accepted for {r.fuzz.connections} + 1 connections"),
        (sum(r.ends.values()) == r.stats["accepted"],
         f"{sum(r.ends.values())} end lines for {r.stats['accepted']} connections"),
        # the inputs reached into sessions: refused headers, undecodable bodies, requests
        # out of sequence or from another session, refused contents, cut-off frames
        ({"0x06", "0x07", "0x0C", "0x0D", "0x0E", "0x0F"} <= set(r.ends),
         f"end codes seen: {sorted(r.ends)}"),
        # nothing left behind
        (r.leftover == (0, 0), f"connections, session tasks left: {r.leftover}"),
        (r.fds[1] == r.fds[0], f"file descriptors before, after: {r.fds}"),
        (bool(r.controllers) and all(c.ended is not None for c in r.controllers),
         "a station was never told its session ended"),
        (not any(c.plant.energised or c.plant.contactors_closed for c in r.controllers),
         "a station was left energised or with its contactors closed"),
        # the good session charged to its end while the fuzzer kept going
        (isinstance(r.good.result, SessionStopped), f"good EVCC: {r.good.result}"),
        (r.good.sent.count("CurrentDemandReq") >= 2, "the good EVCC did not charge"),
        (r.fuzz_inputs_during_good > 0 and not r.fuzz_done_before_good,
         "the fuzzer did not run alongside the good session"),
    ]  # fmt: skip
    for ok, why in checks:
        if not ok:
            found.append(why)
    return found


def test_fuzzed_inputs_into_live_sessions(tmp_path: Path) -> None:
    r = live_fuzz(SEED, INPUTS, tmp_path)
    print(f"live fuzz: {r.fuzz.inputs} inputs, {r.fuzz.connections} connections; {r.summary()}")
    assert not problems(r, INPUTS), problems(r, INPUTS)


def test_close_ends_running_sessions_with_their_end_line(tmp_path: Path) -> None:
    """SeccServer.close() with sessions mid-charge: each station is made safe, each
    connection gets its SHUTDOWN end line, nothing is left running."""
    host = _loopback()
    port = _free_port(host)
    plants = [_fast_plant() for _ in range(3)]
    controllers: list[SimEvseController] = []

    def controller_for(_context: object) -> SimEvseController:
        controllers.append(SimEvseController(plants[len(controllers)]))
        return controllers[-1]

    evs = [Iso2Evcc(SimEv(p.battery, charge_for=1e6),
                    Iso2Config(loop_interval=0.02, msg_timeout=60.0, loop_msg_timeout=60.0))
           for p in plants]  # fmt: skip
    log = CommLog(tmp_path / "communication.log")
    conns: list[V2gConnection] = []

    async def main() -> None:
        server = SeccServer(ServerConfig(host=host, port=port, offers=(sap.ISO2,)),
                            {sap.ISO2.namespace: iso2_factory(controller_for)}, commlog=log)
        await server.start()
        runs = [asyncio.create_task(run_connection(ev, host, port)) for ev in evs]
        while not all(ev.sent.count("CurrentDemandReq") >= 2 for ev in evs):
            await asyncio.sleep(0.01)
        assert all(p.contactors_closed for p in plants)
        conns.extend(server.connections)
        await server.close()
        await asyncio.gather(*runs)
        assert not server._tasks and not server.connections

    asyncio.run(main())
    log.close()
    ends = END.findall(log.path.read_text())
    assert ends == ["0x02"] * 3
    assert all(c.closed is not None and c.closed.reason.name == "SHUTDOWN" for c in conns)
    assert all(c.ended == "connection lost" for c in controllers)
    assert not any(p.energised or p.contactors_closed for p in plants)
    assert all(ev.result is not None and ev.result.reason.name == "CONNECTION_LOST"
               for ev in evs)  # fmt: skip
