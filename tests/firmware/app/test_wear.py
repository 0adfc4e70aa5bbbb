# firmware-vm
"""Contactor wear: counters per contactor, openings under load apart, the record kept
across a reboot, and the anti-chatter gap against a hunting host."""

from firmware.app import interlocks, wear
from firmware.app.controller import Controller
from firmware.link import messages as m
from tests.firmware.vmcheck import FakeHal, board

TICK = 10


def test_counters_are_per_contactor_and_under_load_apart():
    w = wear.Wear(3, load_ma=1000)
    w.closed(0, 0)
    w.opened(0, 999)
    w.closed(2, 0)
    w.opened(2, 1000)
    w.closed(2, 5000)
    w.opened(2, -40000)  # discharging counts as load too
    assert list(w.ops) == [1, 0, 2] and list(w.under_load) == [0, 0, 2]


def test_the_record_roundtrips_and_refuses_anything_else():
    w = wear.Wear(2)
    for _ in range(5):
        w.closed(1, 0)
    w.opened(1, 20000)
    rec = w.pack()
    again = wear.Wear(2)
    assert again.load(rec) and list(again.ops) == [0, 5] and list(again.under_load) == [0, 1]
    assert not wear.Wear(1).load(rec)  # another number of contactors
    bad = bytearray(rec)
    bad[0] ^= 0xFF
    assert not wear.Wear(2).load(bytes(bad)) and not wear.Wear(2).load(None)


def test_save_is_due_every_save_every_operations():
    w = wear.Wear(1, save_every=4)
    for i in range(3):
        w.closed(0, i)
    assert not w.due
    w.closed(0, 3)
    assert w.due
    w.pack()
    assert not w.due and w.unsaved == 0


def test_anti_chatter_guard():
    w = wear.Wear(1, min_gap_ms=2000)
    assert not w.guard(0, 5)  # no close since boot
    w.closed(0, 1000)
    assert w.guard(0, 2999) and w.guard_left_ms(0, 2500) == 500
    assert not w.guard(0, 3000) and w.guard_left_ms(0, 3000) == 0


class Bench:
    def __init__(self, hal=None):
        self.hal = hal or FakeHal()
        self.now = 1000
        self.c = Controller(self.hal, board(), self.now)

    def run(self, ms):
        end = self.now + ms
        while self.now < end:
            self.now += TICK
            self.c.host_alive(self.now)
            self.c.tick(self.now)


def test_a_hunting_host_closes_once_per_gap_and_the_counters_survive_a_reboot():
    b = Bench()
    b.c.set_pilot(m.PILOT_PWM, 2666)
    b.hal.set_cp(6000)
    b.hal.current = 16000
    closes = []
    guard_seen = False
    for _ in range(40):  # grant 100 ms, withdraw 100 ms, for 8 s
        b.c.set_lease(1, 0, 160, 60000, b.now)
        for _ in range(10):
            was = b.c.contactor
            b.run(TICK)
            if b.c.contactor and not was:
                closes.append(b.now)
            guard_seen = guard_seen or bool(b.c.refused & interlocks.CHATTER_GUARD)
        b.c.set_lease(0, 0, 0, 1000, b.now)
        b.run(100)
    assert guard_seen
    gaps = [closes[i + 1] - closes[i] for i in range(len(closes) - 1)]
    assert 3 <= len(closes) <= 5 and min(gaps) >= wear.MIN_GAP_MS, closes
    w = b.c.wear
    assert w.ops[0] == len(closes) and w.under_load[0] == len(closes)  # each opened at 16 A
    wear.save(w, b.hal)
    again = Bench(b.hal)  # a reboot on the same board: the counters come back
    assert again.c.wear.ops[0] == len(closes) and again.c.wear.under_load[0] == len(closes)


def test_the_gap_is_a_setting():
    b = Bench()
    b.c.wear.min_gap_ms = 0
    b.c.set_pilot(m.PILOT_PWM, 2666)
    b.hal.set_cp(6000)
    b.c.set_lease(1, 0, 160, 60000, b.now)
    b.run(200)
    b.hal.set_cp(9000)
    b.run(50)
    b.hal.set_cp(6000)
    b.run(200)
    assert b.c.contactor == 1 and b.c.wear.ops[0] == 2
