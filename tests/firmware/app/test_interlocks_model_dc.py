"""Model-based test (hypothesis stateful) of the interlocks on a board with DC hardware:
the rows of test_interlocks_model.py that a DC charger shares, and the DC rows (IMD
alarm and reading, isolation check, close request, settling, weld, feedback, precharge),
with the connector lock and the anti-chatter gap that every board has.

Random sequences drive the real Controller on the sim-dc board's definition through
DcFakeHal, tick by tick. After every tick, recomputed here from the inputs:
  - no DC coil is driven while any close condition is false (so a failing condition
    opens the pair by the end of the tick it fails in), and
  - the power-stage enable is on only while the pair is driven with every condition
    true, or while a CableCheck runs with nothing false but the close gates,
  - the pair's - contactor (which starts every close) never closes within the
    anti-chatter gap of its last close, and
  - the connector lock never lets go while the output may be live (a coil driven, the
    stage on, dc_link_v at or above safe_dv, or within the weld checks after an open).
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from firmware.app.controller import Controller
from firmware.link import dcmessages as dm
from firmware.link import messages as m
from tests.firmware.vmcheck import DcFakeHal, dc_board

LEVELS = {"A": 12000, "B": 9000, "C": 6000, "D": 3000, "E": 0}
ISOLATION_MS = 1000
RATED_V = 500
SEEN = {"closed": 0, "iso_stage": 0}  # the test must reach both kinds of enable


def _class_ok(kohm: int) -> bool:
    """IEC 61851-23 at the stage's rating: below 100 ohm/V is a fault."""
    return kohm < 0 or kohm * 1000 / RATED_V >= 100


class DcControllerModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.hal = DcFakeHal()
        self.now = 1000
        self.c = Controller(self.hal, dc_board(), self.now)
        self.c.host_alive(self.now)
        self.host_talking = True
        self.level = "A"
        self.alarm_kohm = 0
        # the model's own account of the isolation check and the close request
        self.iso_from: int | None = None  # a check runs since then
        self.iso_ok = False  # a check passed since the pair last opened
        self.alarm_since_check = False
        self.requested = False
        self.was_driven = False
        self.minus_was = 0
        self.opened_at: int | None = None
        self.minus_closed_at: int | None = None
        self.was_locked = False
        self.violation = ""

    # ------------------------------------------------------------ ticking

    def _tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.now += 10
            if self.host_talking:
                self.c.host_alive(self.now)
            self.c.tick(self.now)
            self._follow()
            self._check()

    def _alarm(self) -> bool:
        kohm = self.hal.kohm
        return self.hal.imd_on or 0 <= kohm < self.alarm_kohm

    def _follow(self) -> None:
        """Advance the model's isolation and request state as the rules of dc.py say."""
        driven = bool(self.hal.dc_bits)
        if self._alarm():
            self.alarm_since_check = True
        if self.iso_from is not None:
            if self.alarm_since_check:
                self.iso_from = None  # an alarm during the check: fault
            elif self.now - self.iso_from >= ISOLATION_MS:
                self.iso_ok = _class_ok(self.hal.kohm)
                self.iso_from = None
        minus = self.hal.dc_bits & dm.DC_MINUS
        if minus and not self.minus_was:
            last = self.minus_closed_at
            if last is not None and self.now - last < self.c.wear.min_gap_ms:
                self.violation = f"- closed {self.now - last} ms after its last close"
            self.minus_closed_at = self.now
        self.minus_was = minus
        if self.was_driven and not driven:  # opened: a new check and a new request
            self.iso_ok = False
            self.iso_from = None
            self.requested = False
            self.opened_at = self.now
        self.was_driven = driven

    def _shared_problems(self) -> list[str]:
        c = self.c
        problems = []
        if c.cp not in (m.CP_C, m.CP_D) or self.level not in ("C", "D"):
            problems.append("cp")
        if not c.lease_allow:
            problems.append("lease")
        if c.latched:
            problems.append("latched")
        if self.hal.estop_on or self.hal.override_on or self._alarm():
            problems.append("input")
        if c.out_mode != m.PILOT_PWM:
            problems.append("pilot")
        if self.opened_at is not None and self.now - self.opened_at < 1000:
            problems.append("settling")
        if not self.hal.lock_feedback():
            problems.append("lock")
        return problems

    def _check(self) -> None:
        shared = self._shared_problems()
        hal = self.hal
        if self.was_locked and not hal.locked:
            settling = self.opened_at is not None and self.now - self.opened_at < 1000
            if hal.dc_bits or hal.stage_on or hal.dc_link_dv() >= 600 or settling:
                self.violation = f"unlocked with the output live at {self.now}"
        self.was_locked = hal.locked
        gates = []
        if not self.iso_ok:
            gates.append("isolation")
        if not self.requested:
            gates.append("request")
        if self.hal.dc_bits:
            SEEN["closed"] += 1
            if shared or gates:
                self.violation = f"pair driven with {shared + gates} at {self.now}"
        if self.hal.stage_on:
            if self.hal.dc_bits:
                ok = not shared and not gates
            else:
                SEEN["iso_stage"] += 1
                ok = not shared and self.iso_from is not None
            if not ok:
                self.violation = f"stage on with {shared + gates} at {self.now}"

    # ------------------------------------------------------------ rules

    @rule()
    def ready(self) -> None:
        """EV in C, 5 % PWM, a lease, the host talking: so runs often get further."""
        self.level = "C"
        self.host_talking = True
        self.hal.set_cp(6000, -12000)
        self.c.set_pilot(m.PILOT_PWM, 500)
        self.c.set_lease(1, 0, 800, 5000, self.now, 40000)
        self._tick(6)

    @rule()
    def charge(self) -> None:
        """A whole DC start with healthy hardware: CableCheck, request, precharge."""
        self.hal.imd_on = False
        self.hal.kohm = 5000
        self.hal.weld_bits = 0
        self.hal.aux_stuck = -1
        self.hal.stage_holds = True
        self.hal.lock_broken = False
        self.hal.link_stuck_dv = 0
        self.hal.estop_on = self.hal.override_on = False
        self.c.clear_faults()
        self.ready()
        self._tick(100)  # past any settling
        self.cable_check(ISOLATION_MS // 10 + 2)
        self.request(True, 10)

    @rule(level=st.sampled_from(sorted(LEVELS)), ticks=st.integers(1, 8))
    def cp_level(self, level: str, ticks: int) -> None:
        self.level = level
        self.hal.set_cp(LEVELS[level], -12000)
        self._tick(ticks)

    @rule(expiry=st.sampled_from([50, 300, 5000]))
    def lease(self, expiry: int) -> None:
        self.c.set_lease(1, 0, 800, expiry, self.now, 40000)
        self._tick()

    @rule()
    def lease_withdrawn(self) -> None:
        self.c.set_lease(0, 0, 0, 1000, self.now)
        self._tick()

    @rule(silent=st.booleans(), ticks=st.integers(1, 60))
    def host(self, silent: bool, ticks: int) -> None:
        self.host_talking = not silent
        self._tick(ticks)

    @rule(mode=st.sampled_from([m.PILOT_X1, m.PILOT_F]))
    def no_offer(self, mode: int) -> None:
        self.c.set_pilot(mode, 10000)
        self._tick()

    @rule(on=st.booleans())
    def estop(self, on: bool) -> None:
        self.hal.estop_on = on
        self._tick()

    @rule(on=st.booleans())
    def manual_override(self, on: bool) -> None:
        self.hal.override_on = on
        self._tick()

    @rule(on=st.booleans())
    def imd_alarm(self, on: bool) -> None:
        self.hal.imd_on = on
        self._tick()

    @rule(kohm=st.sampled_from([-1, 5000, 200, 40]), alarm=st.sampled_from([0, 0, 100]))
    def imd_reading(self, kohm: int, alarm: int) -> None:
        self.hal.kohm = kohm
        self.c.dc.configure(m.CFG_DC_IMD_ALARM, alarm)
        self.alarm_kohm = alarm
        self._tick()

    @rule(ticks=st.integers(1, 120))
    def cable_check(self, ticks: int) -> None:
        if self.c.dc.isolation_request(1, 5000, self.now) == 0:
            self.iso_from = self.now
            self.alarm_since_check = self._alarm()
        self._tick(ticks)

    @rule(close=st.booleans(), ticks=st.integers(1, 30))
    def request(self, close: bool, ticks: int) -> None:
        self.c.dc.request(close, 3600)
        self.requested = close
        self._tick(ticks)

    @rule(bits=st.sampled_from([0, dm.DC_PLUS, dm.DC_MINUS, dm.DC_PLUS | dm.DC_MINUS]))
    def weld(self, bits: int) -> None:
        self.hal.weld_bits = bits
        self._tick()

    @rule(stuck=st.sampled_from([-1, 0, dm.DC_PLUS_AUX]))
    def aux(self, stuck: int) -> None:
        self.hal.aux_stuck = stuck
        self._tick()

    @rule(broken=st.sampled_from([False, False, True]))
    def lock_feedback(self, broken: bool) -> None:
        """The lock's feedback switch reads unlocked (a broken lock, or a cable pulled
        against it); F-071 after the retries."""
        self.hal.lock_broken = broken
        self._tick()

    @rule(gap_ms=st.sampled_from([0, 2000, 8000]))
    def min_gap(self, gap_ms: int) -> None:
        """SetConfig contactor_min_gap_ms (a DC restart takes > 2 s anyway: settling,
        then a new CableCheck)."""
        self.c.wear.min_gap_ms = gap_ms
        self._tick()

    @rule(dv=st.sampled_from([0, 0, 3600]))
    def link_held(self, dv: int) -> None:
        """dc_link_v held up behind the open pair (two welded contacts, a slow bleed)."""
        self.hal.link_stuck_dv = dv
        self._tick()

    @rule(holds=st.booleans())
    def stage_gets_there(self, holds: bool) -> None:
        self.hal.stage_holds = holds
        self._tick()

    @rule()
    def reset(self) -> None:
        self.c.clear_faults()
        self._tick()

    @rule(ticks=st.integers(1, 120))
    def wait(self, ticks: int) -> None:
        self._tick(ticks)

    @invariant()
    def never_driven_against_an_interlock(self) -> None:
        assert not self.violation, self.violation


DcControllerModel.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


class TestDcControllerModel(DcControllerModel.TestCase):
    def runTest(self) -> None:
        """The model's runs, then whether they reached both kinds of enable often enough:
        in one test, so the counts are this run's in any worker."""
        SEEN["closed"] = SEEN["iso_stage"] = 0
        super().runTest()
        assert SEEN["closed"] > 50 and SEEN["iso_stage"] > 50, SEEN
