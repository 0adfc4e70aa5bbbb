"""`system` tier: `python -m host.station` keeps serving while the firmware process
is killed and started again on its port (a board reset, a firmware update), and
while the line between them is dead for longer than the link's silence limit."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from host.bench import processes as proc
from host.bench.noise import CLEAN, Impairment, NoiseRelay

pytestmark = pytest.mark.system

SIM = {"plug_ms": 300, "charge_ms": 10**6}  # the EV plugs in soon after boot, charges for good


def runtime() -> str:
    return "micropython" if proc.micropython_binary() else "cpython"


async def _charging(records: list[dict[str, Any]], link_ups: int, timeout: float) -> None:
    """Until the EV draws current after the station's `link_ups`-th LinkUp."""
    deadline = time.monotonic() + timeout
    while True:
        ups = [i for i, r in enumerate(records) if r.get("event") == "link-up"]
        if len(ups) >= link_ups and any(r.get("event") == "telemetry" and r["current_a"] > 1
                                        for r in records[ups[link_ups - 1]:]):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no charging after LinkUp #{link_ups}: {records[-12:]}")
        await asyncio.sleep(0.05)


def _ports_open(pid: int, path: str) -> int:
    fds = Path(f"/proc/{pid}/fd")
    return sum(os.path.realpath(fd) == path for fd in fds.iterdir())


class Station:
    """A firmware process and `python -m host.station` on one pty, or on two with a
    NoiseRelay between them."""

    def __init__(self, sim: dict[str, Any], relay: bool = False) -> None:
        self.sim = sim
        self.host_side = proc.Pty.open()
        self.fw_side = proc.Pty.open() if relay else self.host_side
        self.relay = NoiseRelay(self.host_side.master, self.fw_side.slave) if relay else None
        self.records: list[dict[str, Any]] = []

    async def __aenter__(self) -> Station:
        if self.relay is not None:
            self.relay.start()
        self.fw = await proc.start_firmware(self.fw_side, self.sim, runtime())
        self.host = await proc.start_host(self.host_side)
        self.reader = asyncio.create_task(proc.read_records(self.host, self.records))
        return self

    async def restart_firmware(self, after: float) -> None:
        await proc.stop(self.fw)
        await asyncio.sleep(after)
        self.fw = await proc.start_firmware(self.fw_side, self.sim, runtime())

    async def __aexit__(self, *exc: object) -> None:
        if self.relay is not None:
            self.relay.stop()
        await proc.stop(self.host)
        await self.reader
        await proc.stop(self.fw)
        self.host_side.close()
        if self.fw_side is not self.host_side:
            self.fw_side.close()


def test_charging_resumes_after_the_firmware_restarts() -> None:
    async def main() -> list[dict[str, Any]]:
        async with Station(SIM) as st:
            await _charging(st.records, 1, 15)
            await st.restart_firmware(after=2.0)  # longer than the client's silence limit
            await _charging(st.records, 2, 15)
            assert st.host.returncode is None  # still the same station process
            assert _ports_open(st.host.pid, st.host_side.path) == 1  # reused, not opened twice
        return st.records

    records = asyncio.run(main())
    events = [r["event"] for r in records]
    # a pty keeps what the host wrote while nobody read it: the new firmware answers
    # every stale Hello, so there may be more than one LinkUp after the restart
    assert events.count("link-up") >= 2 and "link-down" in events
    assert "error" not in events


def test_charging_resumes_after_the_line_was_dead() -> None:
    """No port error and no boot Hello tell the host the line is back: it must keep
    saying Hello by itself, then clear the fail-safe its silence caused."""
    sim = {"plug_ms": 300, "charge_ms": 10**6, "sessions": 100, "unplug_ms": 200, "replug_ms": 200}

    async def main() -> list[dict[str, Any]]:
        async with Station(sim, relay=True) as st:
            assert st.relay is not None
            await _charging(st.records, 1, 15)
            st.relay.impairment = Impairment(blackout=True)
            await asyncio.sleep(2.5)  # past the firmware's link timeout and the host's silence limit
            st.relay.impairment = CLEAN
            await _charging(st.records, 2, 10)
        return st.records

    records = asyncio.run(main())
    events = [r["event"] for r in records]
    assert "link-down" in events and "failsafe-cleared" in events
    assert any(r["event"] == "fault" and r["code"] == 10 for r in records)
