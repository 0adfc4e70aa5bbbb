# firmware-vm helper (not a test module)
"""Tiny helpers for firmware tests that must also run on MicroPython (no pytest there)."""

from firmware.hal.base import CP_BURST, mv_to_counts

SIM_CAL = (24000, 4095, -12000)


def raises(exc, fn, *args, **kwargs):
    """Call fn and return the exception of type exc it raised; fail if it raised none."""
    try:
        fn(*args, **kwargs)
    except exc as e:
        return e
    raise AssertionError("%s did not raise %s" % (getattr(fn, "__name__", fn), exc.__name__))


def viper_only(what):
    """First line of a test that compares a viper kernel with its twin: CPython has no
    viper, so there it skips with the reason printed; the same test's MicroPython run
    (tests/firmware/test_on_micropython.py) is the one that checks."""
    import sys

    if sys.implementation.name == "micropython":
        return
    import pytest

    reason = "%s: no viper on CPython; checked by the MicroPython run of this test" % what
    print(reason)
    pytest.skip(reason)


def board(**overrides):
    """The sim board's definition with some fields replaced; without grid sensing
    unless `grid` is given (True: the sim board's own grid section)."""
    import boards

    b = {}
    for k, v in boards.load("sim").items():
        b[k] = dict(v) if isinstance(v, dict) else v
    grid = overrides.pop("grid", None)
    b["grid"] = b["grid"] if grid is True else grid
    for k in overrides:
        b[k] = overrides[k]
    return b


class FakeHal:
    """A HAL with settable inputs, for controller tests on both runtimes. Allocation
    free in the per-tick methods, so the heap-lock test can use it."""

    def __init__(self, ntc=None):
        self.high = 12000
        self.low = 12000
        self.high_c = mv_to_counts(12000, SIM_CAL)
        self.low_c = self.high_c
        self.feedback = False
        self.weld = False
        self.coil = False
        self.aux_broken = False
        self.pilot_mode = None  # set_pilot stores without allocating (heap-lock tests)
        self.pilot_duty = None
        self.current = 0
        self.rcd = False
        self.rcd_test_on = False
        self.rcd_responds = True
        self.estop_on = False
        self.override_on = False
        self.ntc = ntc  # counts per channel, or None for 25 C
        self.ntc_25c = 2048
        self.wdt_fed = 0
        self.cp_count = 0
        self.grid_pos = 0  # an instance key from the start: no dict growth under heap_lock
        self.cp_stalled = False  # True: the sampler's count stops (its IRQ died)
        # issue 15: a 32 A cable in the socket (220 Ohm behind the sim board's 1 kOhm),
        # and a connector lock that follows its drive at once unless jammed or broken
        self.pp_c = 4095 * 220 // 1220
        self.lock_dir = 0
        self.locked = False
        self.lock_jam = False  # never reaches locked
        self.lock_broken = False  # the feedback switch reads unlocked
        self.lock_stuck = False  # never lets go once locked
        self.lock_moves = 0
        self.nv = {}

    def set_pp(self, ohms):
        self.pp_c = 4095 if ohms is None else 4095 * ohms // (ohms + 1000)

    def pp_counts(self):
        return self.pp_c

    def lock_drive(self, d):
        if d != self.lock_dir:
            self.lock_dir = d
            if d:
                self.lock_moves += 1
        if d > 0 and not self.lock_jam:
            self.locked = True
        elif d < 0 and not self.lock_stuck:
            self.locked = False

    def lock_feedback(self):
        return self.locked and not self.lock_broken

    def nv_load(self, name):
        return self.nv.get(name)

    def nv_save(self, name, data):
        self.nv[name] = data

    def set_cp(self, high, low=None):
        self.high = high
        self.low = -12000 if low is None else low
        self.high_c = mv_to_counts(self.high, SIM_CAL)
        self.low_c = mv_to_counts(self.low, SIM_CAL)

    def sample_cp(self, high, low):
        h = self.high_c
        lo = self.low_c
        for i in range(CP_BURST):
            high[i] = h
            low[i] = lo
        if not self.cp_stalled:
            self.cp_count = (self.cp_count + 1) & 0x3FFFFFFF
        return self.cp_count

    def duty_steps(self):
        return 10000

    def set_pilot(self, mode, duty):
        self.pilot_mode = mode
        self.pilot_duty = duty

    @property
    def pilot(self):
        return (self.pilot_mode, self.pilot_duty)

    def set_contactor(self, on):
        self.coil = bool(on)
        if not self.aux_broken:
            self.feedback = self.coil or self.weld

    def contactor_feedback(self):
        return self.feedback

    def rcd_fault(self):
        return self.rcd or (self.rcd_test_on and self.rcd_responds)

    def rcd_test(self, on):
        self.rcd_test_on = on

    def estop(self):
        return self.estop_on

    def manual_override(self):
        return self.override_on

    def ntc_counts(self, channel):
        if self.ntc is None:
            return self.ntc_25c
        return self.ntc[channel]

    def current_ma(self):
        return self.current

    # grid sensing: a GridModel (firmware/sim/grid.py) fed `per_tick` samples a call
    grid_model = None
    grid_per_tick = 20
    grid_pos = 0
    ref_offset16 = 0

    def grid_collect(self, gs):
        if self.grid_model is None:  # a test's set-up error, named rather than a None.fill
            raise ValueError("FakeHal: the board has grid sensing, set hal.grid_model")
        n = self.grid_per_tick
        self.grid_pos = self.grid_model.fill(gs.ring, self.grid_pos, n, gs.mask)
        return n

    def converter_phase16(self, grid16):
        return (grid16 + self.ref_offset16) & 0xFFFF

    # zero-cross comparator: `edge_stamps` from tests/firmware/edgecases.EdgeModel.stamps,
    # released as the clock passes them; the clock moves `edge_tick_us` per call
    edge_stamps = ()
    edge_i = 0
    edge_w = 0
    now_us = 0
    edge_tick_us = 10000

    def grid_edges(self, es):
        self.now_us += self.edge_tick_us
        stamps = self.edge_stamps
        i = self.edge_i
        n = 0
        while i < len(stamps) and stamps[i][0] <= self.now_us:
            es.ring[self.edge_w & es.mask] = stamps[i][0]
            self.edge_w += 1
            n += 1
            i += 1
        self.edge_i = i
        return n

    def grid_now_us(self):
        return self.now_us

    def feed_wdt(self):
        self.wdt_fed += 1

    def reset_reason(self):
        return 1


class Replay(FakeHal):
    """A FakeHal whose grid sensing replays `n` samples made beforehand from `model`,
    `per_tick` a tick, from the first again after the last. The model computes in
    floats, which allocate: a heap-lock test or a tick timing would see the model, not
    the tick."""

    def __init__(self, model, n, per_tick):
        FakeHal.__init__(self)
        from array import array

        self.samples = array("H", [model.sample() for _ in range(n)])
        self.k = 0
        self.per_tick = per_tick

    def grid_collect(self, gs):
        ring = gs.ring
        mask = gs.mask
        samples = self.samples
        w = self.grid_pos
        k = self.k
        for _i in range(self.per_tick):
            ring[w] = samples[k]
            w = (w + 1) & mask
            k = k + 1 if k + 1 < len(samples) else 0
        self.grid_pos = w
        self.k = k
        return self.per_tick


class DcFakeHal(FakeHal):
    """A FakeHal with the DC hardware of a `dc` board, allocation-free: the aux contacts
    follow the coils (unless `aux_stuck` or welded), dc_link_v is the stage's target
    while it holds one with the pair open, the EV's voltage (`ev_dv`) with both contacts
    together, and 0 otherwise (bled down at once); `link_stuck_dv` > 0 holds it there."""

    def __init__(self):
        FakeHal.__init__(self)
        self.dc_bits = 0
        self.weld_bits = 0  # DC_PLUS / DC_MINUS: that contact stays closed
        self.aux_stuck = -1  # >= 0: the aux contacts read this whatever the coils do
        self.ev_dv = 3600
        self.link_stuck_dv = 0
        self.stage_on = False
        self.stage_target = 0
        self.stage_changes = 0
        self.stage_holds = True  # False: a stage that never reaches its target
        self.imd_on = False
        self.kohm = 5000  # 5 Mohm: valid at 500 V (10000 ohm/V)

    def dc_contactors(self, bits):
        self.dc_bits = bits

    def _closed(self):
        return (self.dc_bits | self.weld_bits) & 3

    def dc_aux(self):
        if self.aux_stuck >= 0:
            return self.aux_stuck
        return self._closed() << 3

    def dc_link_dv(self):
        if self.link_stuck_dv:
            return self.link_stuck_dv
        if self._closed() == 3:
            return self.ev_dv
        if self.stage_on and self.stage_target and self.stage_holds:
            return self.stage_target
        return 0

    def imd_alarm(self):
        return self.imd_on

    def imd_kohm(self):
        return self.kohm

    def power_stage(self, on, target_dv):
        if on != self.stage_on:
            self.stage_changes += 1
        self.stage_on = on
        self.stage_target = target_dv


def dc_board(**overrides):
    """The sim-dc board's definition with some fields replaced (no grid sensing)."""
    import boards

    b = {}
    for k, v in boards.load("sim-dc").items():
        b[k] = dict(v) if isinstance(v, dict) else v
    b["grid"] = None
    for k in overrides:
        b[k] = overrides[k]
    return b
