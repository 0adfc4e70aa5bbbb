"""A register bus in memory for the poller's unit tests: answers each request from a
SimulatedMeter model laid out by the same map, with the time passed in."""

from __future__ import annotations

from host.meter.maps import SITE_EXPORT_ENABLE, push_value
from host.meter.poller import Event, MeterPoller, Request
from host.meter.sim import SimulatedMeter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def registers_for(meter: SimulatedMeter, req: Request) -> list[int]:
    """What the simulated meter's Modbus server would answer to `req`."""
    regs = [0] * req.read.count
    if req.read.address == SITE_EXPORT_ENABLE.address and req.purpose == "site":
        return [1 if meter.site_export_enabled else 0]
    values = meter.values()
    for f in meter.map.fields:
        if f.table == req.read.table and req.read.address <= f.address < \
                req.read.address + req.read.count:
            off = f.address - req.read.address
            regs[off:off + f.count] = push_value(f, values[f.name])
    block = meter.map.ocmf
    if block is not None and req.read.table == block.table:
        words = meter.ocmf_block(refresh=req.read.address == block.length_address)
        for i in range(req.read.count):
            j = req.read.address - block.length_address + i
            if 0 <= j < len(words):
                regs[i] = words[j]
    return regs


def run_cycle(poller: MeterPoller, meter: SimulatedMeter, clock: Clock,
              fail: set[str] | None = None) -> list[Event]:
    """Fire the poller's timer at its time and answer every request it sends (or fail
    those whose purpose is in `fail`) until the cycle ends; return the events."""
    req = poller.next_request(clock.t)        # a retry pending from the caller goes first
    if req is None:
        timer = poller.get_timer()
        assert timer is not None
        clock.t = max(clock.t, timer)
        meter.advance()
        poller.handle_timer(clock.t)
        req = poller.next_request(clock.t)
    while req is not None:
        clock.t += 0.01
        meter.advance()
        if fail and req.purpose in fail:
            poller.fail(req.id, "timeout", clock.t)
        else:
            poller.receive(req.id, registers_for(meter, req), clock.t)
        req = poller.next_request(clock.t)
    return drain(poller)


def drain(poller: MeterPoller) -> list[Event]:
    out = []
    while (ev := poller.next_event()) is not None:
        out.append(ev)
    return out


def of(events: list[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]
