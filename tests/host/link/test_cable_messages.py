"""The host's link client with the issue-15 messages: the operator's Lock is an ordered
command of its own class, and CableStatus / WearStatus reach the host as reports."""

from __future__ import annotations

from firmware.app import lock
from firmware.link import messages as m
from host.link import events as ev
from tests.host.link.test_protocol import connected


def test_lock_command_round_trip_and_its_own_ordering_class() -> None:
    p = connected()
    p.hal.set_cp(9000)
    p.advance(0.3)
    assert p.ctrl.lock is not None and p.ctrl.lock.state == lock.LOCKED
    pilot = p.host.send(m.SetPilot(m.PILOT_PWM, 2666), p.t)
    seq = p.host.send(m.Lock(0), p.t)  # another class: does not supersede the SetPilot
    p.pump()
    acked = {e.seq for e in p.of(ev.CommandAcked)}
    assert {pilot, seq} <= acked and not p.of(ev.CommandSuperseded)
    p.advance(0.2)
    assert p.ctrl.lock.state == lock.UNLOCKED and m.Lock(0) in p.applied


def test_cable_and_wear_reports_reach_the_host() -> None:
    p = connected()
    p.hal.set_pp(680)
    p.advance(1.2)  # past a telemetry period
    reports = [e.message for e in p.of(ev.FirmwareReported)]
    cables = [r for r in reports if isinstance(r, m.CableStatus)]
    wears = [r for r in reports if isinstance(r, m.WearStatus)]
    assert cables and cables[-1].rating_da == 200 and cables[-1].lock == lock.UNLOCKED
    assert wears and wears[-1].contactor == 0 and wears[-1].operations == 0
