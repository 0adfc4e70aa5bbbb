# firmware-vm
"""Connector lock: locked before closing, unlocked only open and without current, on
state A, on F after a timeout and on the operator's command; every failure path ends in
F-071 after the retries, and the interlock 'locked' opens the contactor in the tick."""

from firmware.app import faults, interlocks, lock
from firmware.app.controller import Controller
from firmware.link import messages as m
from tests.firmware.vmcheck import FakeHal, board

TICK = 10
PULSE = 50  # the sim board's lock.pulse_ms
RETRIES = 2


class Bench:
    def __init__(self, **fields):
        self.hal = FakeHal()
        self.now = 1000
        self.c = Controller(self.hal, board(**fields), self.now)
        self.c.host_alive(self.now)

    def run(self, ms, alive=True):
        end = self.now + ms
        while self.now < end:
            self.now += TICK
            if alive:
                self.c.host_alive(self.now)
            self.c.tick(self.now)

    def offer(self):
        self.c.set_pilot(m.PILOT_PWM, 2666)
        self.hal.set_cp(6000)
        self.c.set_lease(1, 0, 160, 60000, self.now)

    def charging(self):
        self.offer()
        self.run(200)
        assert self.c.contactor == 1, interlocks.names(self.c.refused)
        self.hal.current = 16000


def lock_faults(c):
    return [r for r in (c.events.pop() for _ in range(40)) if r and r[0] == 3 and r[1] == faults.CONNECTOR_LOCK]


def test_locks_before_closing_and_unlocks_on_state_a():
    b = Bench()
    b.offer()
    closed_while = None
    for _ in range(30):
        b.run(TICK)
        if b.c.contactor and closed_while is None:
            closed_while = b.c.lock.state
    assert closed_while == lock.LOCKED and b.hal.locked
    b.hal.current = 0
    b.hal.set_cp(12000)  # the EV leaves
    b.run(TICK)
    assert b.c.contactor == 0 and b.c.lock.state == lock.LOCKED  # not in the opening tick
    b.run(TICK)
    assert b.c.lock.state == lock.UNLOCKING
    b.run(PULSE + TICK)
    assert b.c.lock.state == lock.UNLOCKED and not b.hal.locked


def test_a_jammed_lock_never_closes_and_raises_f071_after_the_retries():
    b = Bench()
    b.hal.lock_jam = True
    b.offer()
    b.run((RETRIES + 1) * (PULSE + TICK) + 100)
    assert b.c.contactor == 0 and not b.hal.coil
    assert b.c.lock.state == lock.FAILED and b.hal.lock_moves == RETRIES + 1
    assert b.c.latched & faults.CONNECTOR_LOCK and faults.code_of(faults.CONNECTOR_LOCK) == 71
    assert lock_faults(b.c)[0][2] == 1  # detail 1: failed while locking
    assert b.c.refused & interlocks.NOT_LOCKED and b.hal.pilot[0] == m.PILOT_PWM
    b.c.clear_faults()  # MANUAL: Reset(clear) tries again; still jammed, F-071 again
    b.run((RETRIES + 1) * (PULSE + TICK) + 100)
    assert b.c.latched & faults.CONNECTOR_LOCK and b.hal.lock_moves == 2 * (RETRIES + 1)
    b.hal.lock_jam = False
    b.c.clear_faults()
    b.run(300)
    assert not b.c.latched and b.c.contactor == 1


def test_feedback_lost_while_charging_opens_in_the_tick_then_f071():
    b = Bench()
    b.charging()
    b.hal.lock_broken = True  # the switch reads unlocked (lock forced, or the switch failed)
    b.run(TICK)
    assert b.c.contactor == 0 and b.c.refused & interlocks.NOT_LOCKED
    assert not b.c.latched & faults.CONNECTOR_LOCK  # first it is driven again
    b.run(RETRIES * (PULSE + TICK) + 50)
    assert b.c.lock.state == lock.FAILED and b.c.latched & faults.CONNECTOR_LOCK


def test_a_lock_that_does_not_let_go_raises_f071_while_unlocking():
    b = Bench()
    b.charging()
    b.hal.lock_stuck = True
    b.hal.current = 0
    b.hal.set_cp(12000)
    b.run((RETRIES + 1) * (PULSE + TICK) + 100)
    assert b.c.lock.state == lock.FAILED and b.c.latched & faults.CONNECTOR_LOCK
    assert lock_faults(b.c)[0][2] == 0  # detail 0: failed while unlocking
    assert b.hal.lock_dir == 0  # the drive is off


def test_operator_unlock_opens_first_and_waits_for_the_current():
    b = Bench()
    b.charging()
    b.c.set_lock(0)
    b.run(TICK)
    assert b.c.contactor == 0 and b.c.refused & interlocks.NOT_LOCKED
    b.run(500)
    assert b.c.lock.state == lock.LOCKED  # 16 A still measured: no unlock under current
    b.hal.current = 200
    b.run(PULSE + 2 * TICK)
    assert b.c.lock.state == lock.UNLOCKED and not b.hal.locked
    b.run(500)
    assert b.c.lock.state == lock.UNLOCKED  # held unlocked while the EV stays
    b.c.set_lock(1)
    b.run(PULSE + 2 * TICK)
    assert b.c.lock.state == lock.LOCKED


def test_state_f_unlocks_after_the_timeout_only():
    b = Bench()
    b.c.f_unlock_ms = 2000
    b.charging()
    b.hal.current = 0
    b.run(600, alive=False)  # the host goes silent: fail-safe, pilot F
    assert b.hal.pilot[0] == m.PILOT_F and b.c.contactor == 0
    assert b.c.lock.state == lock.LOCKED
    b.run(1500, alive=False)
    assert b.c.lock.state == lock.LOCKED  # under 2000 ms in F
    b.run(600, alive=False)
    assert b.c.lock.state == lock.UNLOCKED


def test_a_board_without_a_lock_has_no_locked_row():
    b = Bench(lock=None)
    b.charging()
    assert b.c.lock is None and not b.c.refused
