"""Model-based test (hypothesis stateful) of the contactor interlocks.

Random sequences of events (CP levels, leases with and without signed power, host
silence, RCD, E-stop, manual override, temperature and the operator's thermal limit,
diode, weld, a stalled CP sampler, Reset; and from issue 15 the cable's PP coding, the
connector lock's feedback, jam and the operator's unlock, the current and a hunting
host against the anti-chatter gap) drive the real Controller tick by tick. After
every step:
  - the contactor is never closed while any interlock condition is false, and
  - when a condition becomes false while closed, the contactor is open by the end of
    that same tick.
The conditions are recomputed here from the inputs, independently of interlocks.py.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from firmware.app import proximity, thermal, wear
from firmware.app.controller import Controller
from firmware.link import messages as m
from tests.firmware.vmcheck import FakeHal, board

LEVELS = {"A": 12000, "B": 9000, "C": 6000, "D": 3000, "E": 0, "gap": 7500}
NTC = thermal.NtcTable(3950, 10000, 10000, 4095)
CLOSED_TICKS = [0]  # how often the model saw the contactor closed: the test must get there
# issue 15: PP codings (Ohm; None: open) and whether each lets the contactor close (with an EV)
PP = {None: False, 10: False, 100: True, 220: True, 400: False, 680: True, 1500: True, 2600: False}


class ControllerModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.hal = FakeHal()
        self.hal.ntc = [NTC.counts_at(250), NTC.counts_at(250)]
        self.now = 1000
        self.c = Controller(self.hal, board(), self.now)
        self.c.host_alive(self.now)
        self.host_talking = True
        self.level = "A"
        self.diode = True
        self.temp = 250
        self.limit_dc = 900  # the sim board's, until the operator lowers it
        self.discharge = False
        self.stalled_since: int | None = None  # the CP sampler's count stopped then
        self.violation = ""
        self.pp: int | None = 220
        self.pp_since = self.now  # the controller confirms a new PP reading in two reads
        self.closed_at: int | None = None  # the model's own record of the last close

    def _tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.now += 10
            if self.host_talking:
                self.c.host_alive(self.now)
            self.c.tick(self.now)
            self._check_after_tick()

    def _check_after_tick(self) -> None:
        c = self.c
        if not self.hal.coil:
            self.was_closed = False
            return
        if not getattr(self, "was_closed", False):  # a close in this tick: the gap since the last
            if self.closed_at is not None and self.now - self.closed_at < c.wear.min_gap_ms:
                self.violation = f"closed {self.now - self.closed_at} ms after the last close"
            self.closed_at = self.now
            self.was_closed = True
        CLOSED_TICKS[0] += 1
        # independent model of "may be closed" from the inputs the firmware sees
        problems = []
        if c.cp not in (m.CP_C, m.CP_D):
            problems.append("cp")
        if LEVELS[self.level] not in (6000, 3000) and self.level != "gap":
            problems.append("level")
        if not c.lease_allow:
            problems.append("lease")
        if c.latched:
            problems.append("latched")
        if self.hal.rcd or self.hal.estop_on or self.hal.override_on:
            problems.append("input")
        if self.discharge:  # the sim board without grid sensing never exports
            problems.append("export")
        if self.temp >= self.limit_dc:
            problems.append("overtemperature")
        if c.out_mode != m.PILOT_PWM:
            problems.append("pilot")
        if c.thermal_da < 60:
            problems.append("temperature")
        if not self.diode:
            problems.append("diode")
        if self.stalled_since is not None and self.now - self.stalled_since > 50:
            problems.append("cp-sampler")  # its samples are stale: cp_stall_ms
        # issue 15: a cable whose coding is not valid (once confirmed: two reads), a lock
        # that does not read locked, an unlock the operator asked for
        if not PP[self.pp] and self.now - self.pp_since > 10:
            problems.append("cable")
        if not self.hal.lock_feedback():
            problems.append("not-locked")
        if c.lock_hold:
            problems.append("unlock-requested")
        if problems:
            self.violation = f"closed with {problems} at {self.now}"

    @rule(level=st.sampled_from(sorted(LEVELS)), ticks=st.integers(1, 8))
    def cp_level(self, level: str, ticks: int) -> None:
        self.level = level
        self.hal.set_cp(LEVELS[level], -12000 if self.diode else -LEVELS[level])
        self._tick(ticks)

    @rule()
    def charge(self) -> None:
        """Everything a close needs at once, so sequences often reach a closed contactor."""
        self.level = "C"
        self.diode = True
        self.host_talking = True
        self.hal.set_cp(6000, -12000)
        self.hal.cp_stalled = False
        self.stalled_since = None
        self.c.set_pilot(m.PILOT_PWM, 2666)
        self.c.set_lease(1, 0, 160, 5000, self.now)
        self.discharge = False
        self._tick(20)

    @rule(current=st.integers(60, 320), expiry=st.sampled_from([50, 300, 1000, 5000]))
    def lease(self, current: int, expiry: int) -> None:
        self.c.set_lease(1, 0, current, expiry, self.now)
        self.discharge = False
        self._tick()

    @rule(power=st.integers(-20000, 20000), expiry=st.sampled_from([300, 5000]))
    def power_lease(self, power: int, expiry: int) -> None:
        self.c.set_lease(1, 1 if power < 0 else 0, 160, expiry, self.now, power)
        self.discharge = power < 0
        self._tick()

    @rule()
    def lease_withdrawn(self) -> None:
        self.c.set_lease(0, 0, 0, 1000, self.now)
        self.discharge = False
        self._tick()

    @rule(duty=st.sampled_from([1000, 2666, 5333, 9600]))
    def pwm(self, duty: int) -> None:
        self.c.set_pilot(m.PILOT_PWM, duty)
        self._tick()

    @rule(mode=st.sampled_from([m.PILOT_X1, m.PILOT_F]))
    def no_offer(self, mode: int) -> None:
        self.c.set_pilot(mode, 10000)
        self._tick()

    @rule(silent=st.booleans(), ticks=st.integers(1, 60))
    def host(self, silent: bool, ticks: int) -> None:
        self.host_talking = not silent
        self._tick(ticks)

    @rule(on=st.booleans())
    def rcd(self, on: bool) -> None:
        self.hal.rcd = on
        self._tick()

    @rule(on=st.booleans())
    def estop(self, on: bool) -> None:
        self.hal.estop_on = on
        self._tick()

    @rule(on=st.booleans())
    def manual_override(self, on: bool) -> None:
        self.hal.override_on = on
        self._tick()

    @rule(temp=st.sampled_from([250, 700, 780, 820, 860, 895, 950]))
    def temperature(self, temp: int) -> None:
        self.temp = temp
        self.hal.ntc = [NTC.counts_at(temp), NTC.counts_at(250)]
        self._tick()

    @rule(limit=st.sampled_from([600, 750, 850, 900, 950]))
    def max_temp(self, limit: int) -> None:
        if self.c.configure_thermal(limit) == 0:  # 950: above the board's, refused
            self.limit_dc = limit
        self._tick()

    @rule(ok=st.booleans())
    def diode_state(self, ok: bool) -> None:
        self.diode = ok
        self.hal.set_cp(LEVELS[self.level], -12000 if ok else -LEVELS[self.level])
        self._tick()

    @rule(stalled=st.booleans(), ticks=st.integers(1, 10))
    def cp_sampler(self, stalled: bool, ticks: int) -> None:
        """The CP interrupt dies (its count stops) or comes back."""
        if stalled != self.hal.cp_stalled:
            self.hal.cp_stalled = stalled
            self.stalled_since = self.now if stalled else None
        self._tick(ticks)

    # ---- issue 15 ----

    @rule(ohms=st.sampled_from(sorted(PP, key=lambda r: r or 0)))
    def pp_coding(self, ohms: int | None) -> None:
        if ohms != self.pp:
            self.pp = ohms
            self.pp_since = self.now
        self.hal.set_pp(ohms)
        self._tick()

    @rule(broken=st.booleans(), jam=st.booleans())
    def lock_switch(self, broken: bool, jam: bool) -> None:
        self.hal.lock_broken = broken
        self.hal.lock_jam = jam
        self._tick()

    @rule(on=st.booleans())
    def operator_lock(self, on: bool) -> None:
        self.c.set_lock(1 if on else 0)
        self._tick()

    @rule(ma=st.sampled_from([0, 400, 16000]))
    def current(self, ma: int) -> None:
        self.hal.current = ma
        self._tick()

    @rule()
    def hunting_host(self) -> None:
        """Withdraw the lease and grant it again at once: only the anti-chatter gap stops
        the contactor from following."""
        self.c.set_lease(0, 0, 0, 1000, self.now)
        self._tick()
        self.charge()

    @rule(gap=st.sampled_from([0, 300, wear.MIN_GAP_MS]))
    def chatter_gap(self, gap: int) -> None:
        self.c.wear.min_gap_ms = gap
        self._tick()

    @rule()
    def weld(self) -> None:
        self.hal.weld = True
        self._tick()

    @rule()
    def reset(self) -> None:
        self.c.clear_faults()
        self._tick()

    @rule(ticks=st.integers(1, 40))
    def wait(self, ticks: int) -> None:
        self._tick(ticks)

    @invariant()
    def never_closed_against_an_interlock(self) -> None:
        assert not self.violation, self.violation

    @invariant()
    def the_cable_state_is_what_the_pp_says(self) -> None:
        if self.now - self.pp_since > 10 and self.c.cp in (m.CP_B, m.CP_C, m.CP_D):
            assert (self.c.pp.state == proximity.OK) == PP[self.pp], (self.pp, self.c.pp.state)

    @invariant()
    def coil_follows_the_controller(self) -> None:
        assert self.hal.coil == bool(self.c.contactor)


ControllerModel.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


class TestControllerModel(ControllerModel.TestCase):
    def runTest(self) -> None:
        """The model's runs, then whether they reached the closed contactor often enough
        to have tested it there: in one test, so the count is this run's in any worker."""
        CLOSED_TICKS[0] = 0
        super().runTest()
        assert CLOSED_TICKS[0] > 50
