"""The poller and driver against the simulated meter over real transports: Modbus TCP on
loopback and Modbus RTU over a pty line (pyserial on both ends, pymodbus server)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from host.meter.driver import MeterDriver, rtu_client, tcp_client
from host.meter.maps import ABB_B23, OCMF_BLOCK, SDM630, MeterMap
from host.meter.poller import (
    Event,
    ExportPermissionChanged,
    MeterLost,
    MeterPoller,
    MeterRestored,
    ReadFailed,
    ReadingFlagged,
    ReadingTaken,
    SignedValueRejected,
    SignedValueVerified,
)
from host.meter.sim import MeterServer, PtyLine, SimulatedMeter

pytestmark = [pytest.mark.system, pytest.mark.timeout(60)]

GUARD = 15.0        # a hang guard, not a measurement: every wait ends on an event


@dataclass
class Rig:
    meter: SimulatedMeter
    server: MeterServer
    poller: MeterPoller
    line: PtyLine | None
    transport: str
    port: int = 0
    events: list[Event] = field(default_factory=list)

    def mark(self) -> int:
        return len(self.events)

    async def until(self, pred: Callable[[Event], bool], start: int | None = None) -> Event:
        """The first event from `start` (default: from now on) that satisfies `pred`."""
        start = len(self.events) if start is None else start
        deadline = time.monotonic() + GUARD
        while time.monotonic() < deadline:
            for ev in self.events[start:]:
                if pred(ev):
                    return ev
            await asyncio.sleep(0.02)
        seen = self.events[start:]
        raise AssertionError(f"no such event in {len(seen)}; last: {seen[-4:]}")

    async def restart(self) -> None:
        if self.transport == "tcp":
            await self.server.start_tcp(port=self.port)
        else:
            assert self.line is not None
            await self.server.start_rtu(self.line.server_path)


@asynccontextmanager
async def rig(transport: str, meter_map: MeterMap = SDM630, signing: bool = False,
              **kw: object) -> AsyncIterator[Rig]:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    mmap = meter_map.signing(OCMF_BLOCK) if signing else meter_map
    meter = SimulatedMeter(mmap)
    meter.import_wh, meter.export_wh = 400_000.0, 1_000.0
    server = MeterServer(meter, unit=1, site_unit=2)
    line = None
    port = 0
    if transport == "tcp":
        port = await server.start_tcp()
        client = tcp_client("127.0.0.1", port, 0.3)
    else:
        line = PtyLine()
        line.start()
        await server.start_rtu(line.server_path)
        client = rtu_client(line.client_path, 0.3)
    opts: dict = {"site_unit": 2, "interval": 0.1, "timeout": 0.3, "retries": 2,
                  "stale_after": 3.0, "rated_power_w": 22_000.0}
    if signing:
        opts.update(public_key=meter.public_key, signed_every=1)
    opts.update(kw)
    poller = MeterPoller(mmap, time.monotonic(), **opts)
    r = Rig(meter, server, poller, line, transport, port)
    task = asyncio.create_task(MeterDriver(poller, client, r.events.append).run())
    try:
        yield r
    finally:
        task.cancel()
        try:
            await asyncio.wait_for(task, GUARD)
        except asyncio.CancelledError:
            pass
        await asyncio.wait_for(server.stop(), GUARD)
        if line is not None:
            line.close()


def run_async(fn: Callable[..., Coroutine[None, None, None]]) -> Callable[..., None]:
    """The project runs asyncio tests with asyncio.run (no pytest plugin)."""
    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> None:
        asyncio.run(fn(*args, **kwargs))
    return wrapper


def taken(ev: Event) -> bool:
    return isinstance(ev, ReadingTaken)


@pytest.mark.parametrize("transport,meter_map", [("tcp", SDM630), ("rtu", ABB_B23),
                                                 ("rtu", SDM630), ("tcp", ABB_B23)],
                         ids=["tcp-sdm630", "rtu-abb", "rtu-sdm630", "tcp-abb"])
@run_async
async def test_polling_reads_the_meter_and_allows_export(transport: str,
                                                         meter_map: MeterMap) -> None:
    async with rig(transport, meter_map) as r:
        r.meter.power_w = -7_200.0
        allowed = await r.until(lambda e: isinstance(e, ExportPermissionChanged), 0)
        assert isinstance(allowed, ExportPermissionChanged) and allowed.allowed
        ev = await r.until(taken)
        assert isinstance(ev, ReadingTaken)
        assert ev.values["power_total"] == pytest.approx(-7_200.0, abs=0.01)
        assert ev.values["current_l1"] == pytest.approx(2_400 / 230, abs=0.01)
        assert ev.values["import_wh"] == pytest.approx(400_000.0, abs=10)
        assert ev.values["export_wh"] >= 1_000.0 - 10
        assert not [e for e in r.events if isinstance(e, ReadingFlagged | MeterLost)]


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
@run_async
async def test_a_stopped_meter_is_lost_then_found_again(transport: str) -> None:
    async with rig(transport) as r:
        await r.until(lambda e: isinstance(e, ExportPermissionChanged) and e.allowed, 0)
        mark = r.mark()
        await r.server.stop()
        lost = await r.until(lambda e: isinstance(e, MeterLost), mark)
        assert isinstance(lost, MeterLost) and "not answering" in lost.reason
        assert not r.poller.export_allowed
        assert r.poller.counters.retries >= 2
        mark = r.mark()
        await r.restart()
        await r.until(lambda e: isinstance(e, MeterRestored), mark)
        await r.until(lambda e: isinstance(e, ExportPermissionChanged) and e.allowed, mark)


@run_async
async def test_corrupted_replies_fail_their_crc_and_are_retried() -> None:
    async with rig("rtu") as r:
        await r.until(taken)
        assert r.line is not None
        r.line.corrupt_replies = 2            # fewer than the retries allow
        await r.until(lambda e: taken(e) and r.line is not None and r.line.corrupted == 2)
        assert r.poller.counters.failures >= 2
        assert not [e for e in r.events if isinstance(e, MeterLost)]
        assert r.poller.export_allowed


@run_async
async def test_more_corrupted_replies_than_retries_is_a_lost_meter() -> None:
    async with rig("rtu") as r:
        await r.until(taken)
        assert r.line is not None
        mark = r.mark()
        r.line.corrupt_replies = 1000
        failed = await r.until(lambda e: isinstance(e, ReadFailed), mark)
        assert isinstance(failed, ReadFailed)
        await r.until(lambda e: isinstance(e, MeterLost), mark)
        assert not r.poller.export_allowed
        mark = r.mark()
        r.line.corrupt_replies = 0
        await r.until(lambda e: isinstance(e, MeterRestored), mark)


@run_async
async def test_garbage_on_the_line_does_not_make_a_reading() -> None:
    async with rig("rtu") as r:
        await r.until(taken)
        assert r.line is not None
        for _ in range(5):
            r.line.inject(bytes(range(0x01, 0x40)))      # starts like unit 1, then noise
            await r.until(taken)
        good = [e for e in r.events if isinstance(e, ReadingTaken)][-1]
        assert good.values["import_wh"] == pytest.approx(400_000.0, abs=10)
        assert not [e for e in r.events if isinstance(e, ReadingFlagged)]


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
@run_async
async def test_a_meter_going_backwards_is_flagged_and_export_stops(transport: str) -> None:
    async with rig(transport, ABB_B23) as r:
        await r.until(lambda e: isinstance(e, ExportPermissionChanged) and e.allowed, 0)
        mark = r.mark()
        r.meter.import_wh -= 5_000.0
        flag = await r.until(lambda e: isinstance(e, ReadingFlagged), mark)
        assert isinstance(flag, ReadingFlagged)
        assert (flag.name, flag.reason) == ("import_wh", "backwards")
        assert flag.read_wh == pytest.approx(395_000.0, abs=10)
        stop = await r.until(lambda e: isinstance(e, ExportPermissionChanged), mark)
        assert isinstance(stop, ExportPermissionChanged) and not stop.allowed
        later = await r.until(taken)
        assert isinstance(later, ReadingTaken) and "import_wh" not in later.values


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
@run_async
async def test_signed_records_verify_and_a_bad_signature_is_rejected(transport: str) -> None:
    async with rig(transport, ABB_B23, signing=True) as r:
        ok = await r.until(lambda e: isinstance(e, SignedValueVerified))
        assert isinstance(ok, SignedValueVerified)
        assert ok.signed_meter_value["encodingMethod"] == "OCMF"
        assert ok.record.meter_serial == "SIM0001"
        mark = r.mark()
        r.meter.spoil_signature = True
        bad = await r.until(lambda e: isinstance(e, SignedValueRejected), mark)
        assert isinstance(bad, SignedValueRejected) and bad.reason == "bad signature"
        r.meter.spoil_signature = False
        mark = r.mark()
        r.meter.sign_offset_wh = 3_000.0
        bad = await r.until(lambda e: isinstance(e, SignedValueRejected), mark)
        assert isinstance(bad, SignedValueRejected)
        assert "does not match the register" in bad.reason


@run_async
async def test_the_site_controller_bit_over_the_wire() -> None:
    async with rig("tcp") as r:
        await r.until(lambda e: isinstance(e, ExportPermissionChanged) and e.allowed, 0)
        mark = r.mark()
        r.meter.site_export_enabled = False
        ev = await r.until(lambda e: isinstance(e, ExportPermissionChanged), mark)
        assert isinstance(ev, ExportPermissionChanged)
        assert ev.reason == "site controller disables export"
