# firmware-vm
"""Voltage trips (IEEE 1547-2018 §6.4.1): thresholds, clearing times, latency, presets,
return to service, link settings, and ride-through of sags from samples."""

from firmware.app import gridfunc as F
from firmware.app import gridsync as G
from firmware.app.controller import Controller
from firmware.link import messages as m
from firmware.sim.grid import THD5, GridModel
from tests.firmware.vmcheck import FakeHal, board

OK = G.SHORT_OK | G.PHASE_OK | G.LONG_OK | G.RMS_OK
VNOM = 230000


def _guard(category="II", v_latency_ms=0, f_nom=60, **kw):
    g = F.GridGuard(f_nom, now=0, enter_delay_ms=1000, category=category, v_nom_mv=VNOM,
                    v_latency_ms=v_latency_ms, **kw)
    t = 0
    while t <= 1100:
        g.update(t, OK, f_nom * 1000, 0, VNOM)
        t += 10
    assert g.refused == 0, g.refused
    return g, t


def _hold(g, t, ms, v_mv, flags=OK):
    """Feed v_mv for ms; (the time after, the first tick that tripped, or None)."""
    end = t + ms
    first = None
    while t < end:
        if g.update(t, flags, g.f_nom_mhz, 0, v_mv) & F.TRIPPED and first is None:
            first = t
        t += 10
    return t, first


def _pu(pm):
    return VNOM * pm // 1000


def test_category_presets():
    assert F.volt_trips("I") == ((F.OV2, F.OVER, 1200, 160), (F.UV2, F.UNDER, 450, 160),
                                 (F.OV1, F.OVER, 1100, 2000), (F.UV1, F.UNDER, 700, 2000))
    assert F.volt_trips("II")[3] == (F.UV1, F.UNDER, 700, 10000)
    assert F.volt_trips("III") == ((F.OV2, F.OVER, 1200, 160), (F.UV2, F.UNDER, 500, 2000),
                                   (F.OV1, F.OVER, 1100, 13000), (F.UV1, F.UNDER, 880, 21000))
    for cat in ("I", "II", "III"):
        assert F.check_volt_trips(F.volt_trips(cat), cat, 60) == 0
    g = F.GridGuard(60, v_nom_mv=VNOM, category="III")
    assert g.v_trips[1] == (F.UV2, F.UNDER, 115000, 2000)
    assert F.GridGuard(60).v_trips == ()  # no nominal voltage: no voltage trips
    assert [F.TRIP_NAMES[r] for r in (F.OV2, F.OV1, F.UV1, F.UV2)] == ["OV2", "OV1", "UV1", "UV2"]


# (reason, level just beyond, level just inside, clearing time ms) for Cat II defaults
STAGES = (
    (F.OV2, _pu(1201), _pu(1200), 160),
    (F.UV2, _pu(449), _pu(450), 160),
    (F.OV1, _pu(1101), _pu(1100), 2000),
    (F.UV1, _pu(699), _pu(700), 10000),
)


def test_each_threshold_just_inside_never_trips():
    for reason, _beyond, inside, clear in STAGES:
        g, t = _guard()
        t, first = _hold(g, t, clear + 500, inside)
        assert first is None, F.TRIP_NAMES[reason]


def test_each_threshold_just_beyond_trips_at_its_clearing_time_to_the_tick():
    for reason, beyond, _inside, clear in STAGES:
        g, t = _guard()
        start = t
        t, first = _hold(g, t, clear - 10, beyond)
        assert first is None, F.TRIP_NAMES[reason]
        t, first = _hold(g, t, 20, beyond)
        assert first == start + clear and g.trip == reason, (F.TRIP_NAMES[reason], first, start)


def test_latency_is_taken_off_the_clearing_time():
    for reason, beyond, _inside, clear in STAGES[:2]:
        g, t = _guard(v_latency_ms=43)
        start = t
        t, first = _hold(g, t, 300, beyond)
        assert first == start + clear - 40 and g.trip == reason  # 117 ms, on the next 10 ms tick


def test_shorter_excursions_ride_through_and_restart_the_timer():
    g, t = _guard()
    t, first = _hold(g, t, 150, _pu(400))
    t, first2 = _hold(g, t, 20, VNOM)
    t, first3 = _hold(g, t, 150, _pu(1250))
    assert first is None and first2 is None and first3 is None and g.trip == 0


def test_voltage_held_while_the_rms_refills_keeps_timing():
    g, t = _guard()
    start = t
    t, _ = _hold(g, t, 50, _pu(400))
    t, first = _hold(g, t, 150, -1)  # no valid RMS: the last one (0.40 pu) stands
    assert first == start + 160 and g.trip == F.UV2


def test_recovery_waits_for_the_voltage_window_and_the_enter_service_delay():
    g, t = _guard()
    t, first = _hold(g, t, 200, _pu(1150))
    assert g.trip == F.OV1 or first is None
    t, first = _hold(g, t, 2000, _pu(1150))
    assert g.trip == F.OV1
    t, _ = _hold(g, t, 2000, _pu(1060))  # below OV1 but above the 1.05 pu enter window
    assert g.refused & F.TRIPPED
    t, _ = _hold(g, t, 990, _pu(1000))
    assert g.refused & F.TRIPPED  # inside the window, not yet for the whole delay
    t, _ = _hold(g, t, 30, _pu(1000))
    assert g.refused == 0 and g.trip == 0
    g2, t = _guard()
    t, _ = _hold(g2, t, 200, _pu(300))
    assert g2.trip == F.UV2
    t, _ = _hold(g2, t, 3000, _pu(910))  # below 0.917 pu: stays out of service
    assert g2.refused & F.TRIPPED
    t, _ = _hold(g2, t, 1100, _pu(920))
    assert g2.refused == 0


def test_first_stage_to_clear_names_the_trip():
    g, t = _guard()
    t, _ = _hold(g, t, 300, _pu(1300))  # beyond OV1 and OV2: OV2 clears first
    assert g.trip == F.OV2
    g, t = _guard(category="III")
    t, _ = _hold(g, t, 2100, _pu(400))  # Cat III: UV2 0.50 pu / 2 s before UV1 0.88 / 21 s
    assert g.trip == F.UV2


def test_settings_ranges_and_order():
    ii = F.volt_trips("II")
    assert F.check_volt_trips(F.with_volt_setting(ii, F.OV1, ms=1000), "II", 60) == 0
    assert F.check_volt_trips(F.with_volt_setting(ii, F.OV1, ms=900), "II", 60) == F.NACK_OUT_OF_RANGE
    assert F.check_volt_trips(F.with_volt_setting(ii, F.OV2, pm=1150), "II", 60) == F.NACK_OUT_OF_RANGE
    assert F.check_volt_trips(F.with_volt_setting(ii, F.UV2, ms=2500), "II", 60) == F.NACK_OUT_OF_RANGE
    assert F.check_volt_trips(F.with_volt_setting(ii, F.UV1, ms=30000), "III", 60) == F.NACK_OUT_OF_RANGE
    # 50 Hz: no IEEE ranges of adjustability (local code), but the order holds
    assert F.check_volt_trips(F.with_volt_setting(ii, F.OV2, pm=1150), "II", 50) == 0
    assert F.check_volt_trips(F.with_volt_setting(ii, F.OV1, pm=1250), "II", 50) == F.NACK_CONFLICT
    assert F.check_volt_trips(F.with_volt_setting(ii, F.UV2, pm=750), "II", 50) == F.NACK_CONFLICT
    assert F.check_volt_trips(F.with_volt_setting(ii, F.UV1, ms=100), "II", 50) == F.NACK_CONFLICT
    assert F.check_volt_trips(F.with_volt_setting(ii, F.OV1, ms=100), "II", 50) == F.NACK_CONFLICT


def _controller(f_nom=50):
    b = board(grid=True)
    g = dict(b["grid"])
    g["f_nom"] = f_nom
    b["grid"] = g
    hal = FakeHal()
    hal.grid_model = GridModel(g["fs"], f_nom, seed=3)
    hal.grid_per_tick = g["fs"] // 100
    return Controller(hal, b, 0)


def test_voltage_keys_over_the_controller():
    c = _controller()
    assert c.guard.v_trips[3] == (F.UV1, F.UNDER, 161000, 10000)
    assert c.configure_grid(m.CFG_OV1_MS, 1000) == 0
    assert c.configure_grid(m.CFG_UV2_PM, 400) == 0
    trips = c.guard.v_trips
    assert (F.OV1, F.OVER, 253000, 1000) in trips and (F.UV2, F.UNDER, 92000, 160) in trips
    assert c.configure_grid(m.CFG_UV1_PM, 300) == m.NACK_CONFLICT  # below UV2
    assert c.guard.v_trips == trips  # a refused value changes nothing
    assert c.configure_grid(m.CFG_GRID_CATEGORY, 3) == 0  # back to Cat III's defaults
    assert c.guard.v_trips[3] == (F.UV1, F.UNDER, 202400, 21000)
    assert c.guard.v_latency_ms == c.gs.rms_latency_ms() == 43
    c60 = _controller(60)
    assert c60.configure_grid(m.CFG_OV2_PM, 1150) == m.NACK_OUT_OF_RANGE
    assert c60.configure_grid(m.CFG_OV1_MS, 1000) == 0
    assert c60.configure_grid(m.CFG_OV1_MS, 500) == m.NACK_OUT_OF_RANGE


def test_keys_and_names_stay_in_step():
    assert m.CONFIG_KEYS[m.CFG_OV2_PM][0] == "grid_ov2_pm"
    assert m.CONFIG_KEYS[m.CFG_UV2_MS][0] == "grid_uv2_ms"
    assert F.NACK_OUT_OF_RANGE == m.NACK_OUT_OF_RANGE and F.NACK_CONFLICT == m.NACK_CONFLICT
    for k in range(m.CFG_OV2_PM, m.CFG_UV2_MS + 1):
        assert k in m.GRID_KEYS


# Cat II ride-through (IEEE 1547-2018 §6.4.2, Table 15, as open test suites give it):
# 0.88-1.10 pu continuous; 0.65-0.88 mandatory operation for at least 3 s; 0.45-0.65 for
# 0.32 s; 1.10-1.20 pu permissive operation for 1 s. (pu, seconds): each must not trip.
# Below 0.45 pu (permissive for 0.16 s) the guard rides through only clearing time
# minus the RMS latency (about 0.11 s), so those are not in the table.
RIDE_THROUGH_II = (
    (0.46, 0.32), (0.50, 0.20), (0.55, 0.32), (0.64, 0.32), (0.66, 2.0), (0.75, 3.0),
    (0.87, 3.0), (0.95, 3.0), (1.09, 3.0), (1.12, 1.0), (1.18, 1.0),
)


def _from_samples(pu, seconds, fs=2000, f_nom=50):
    """Trip reason (0: none) of a Cat II guard fed from samples through one excursion."""
    grid = GridModel(fs, f_nom, seed=11, harmonics=THD5, dc=40)
    if pu < 1:
        grid.sag(1.5, 1.5 + seconds, 1.0 - pu)
    else:
        grid.swell(1.5, 1.5 + seconds, pu - 1.0)
    gs = G.GridSync(fs, f_nom, uv_per_lsb=203125)
    guard = F.GridGuard(f_nom, now=0, enter_delay_ms=1000, v_nom_mv=229800,
                        v_latency_ms=gs.rms_latency_ms())
    blk = fs // 100
    w = 0
    end = int((2.0 + seconds) * fs)
    while grid.n < end:
        w = grid.fill(gs.ring, w, blk, gs.mask)
        flags = gs.process(blk)
        now = grid.n * 1000 // fs
        v = gs.rms_mv if flags & G.RMS_OK else -1
        guard.update(now, flags, gs.freq_mhz(), gs.rocof_mhz_s, v)
        if now == 1400:
            assert guard.trip == 0, F.TRIP_NAMES[guard.trip]
    return guard.trip


def test_cat_ii_ride_through_sags_and_swells_never_trip():
    for pu, seconds in RIDE_THROUGH_II:
        trip = _from_samples(pu, seconds)
        assert trip == 0, (pu, seconds, F.TRIP_NAMES[trip])


def test_deep_sag_from_samples_trips_uv2_near_its_clearing_time():
    fs = 2000
    grid = GridModel(fs, 50, seed=5, harmonics=THD5, dc=40).sag(1.5, 3.0, 0.6)
    gs = G.GridSync(fs, 50, uv_per_lsb=203125)
    guard = F.GridGuard(50, now=0, enter_delay_ms=1000, v_nom_mv=229800,
                        v_latency_ms=gs.rms_latency_ms())
    w = 0
    tripped = None
    while grid.n < 2 * fs:
        w = grid.fill(gs.ring, w, 20, gs.mask)
        flags = gs.process(20)
        now = grid.n * 1000 // fs
        guard.update(now, flags, gs.freq_mhz(), gs.rocof_mhz_s, gs.rms_mv if flags & G.RMS_OK else -1)
        if tripped is None and now > 1500 and guard.trip:
            tripped = now - 1500
    assert guard.trip == F.UV2 and tripped is not None and 160 <= tripped <= 185, tripped


class _Replay(FakeHal):
    """Samples made beforehand (the model computes in floats, which allocate)."""

    def __init__(self, model, n, per_tick):
        FakeHal.__init__(self)
        from array import array

        self.samples = array("H", [model.sample() for _ in range(n)])
        self.k = 0
        self.per_tick = per_tick

    def grid_collect(self, gs):
        ring = gs.ring
        mask = gs.mask
        w = self.grid_pos
        k = self.k
        for i in range(self.per_tick):
            ring[w] = self.samples[k + i]
            w = (w + 1) & mask
        self.grid_pos = w
        self.k = k + self.per_tick
        return self.per_tick


def test_grid_tick_with_voltage_trips_allocates_nothing():
    """Exporting through a swell that trips OV2 and back, ticks under heap_lock on
    MicroPython (the guard's stage timers, the held RMS, the trip and its Fault)."""
    try:
        import micropython

        lock, unlock = micropython.heap_lock, micropython.heap_unlock
    except (ImportError, AttributeError):
        lock = unlock = None
    b = board(grid=True)
    g = dict(b["grid"])
    g["enter_delay_ms"] = 500
    b["grid"] = g
    hal = _Replay(GridModel(g["fs"], 50, seed=3).swell(2.0, 2.4, 0.19).sag(3.0, 3.5, 0.6),
                  g["fs"] * 4, g["fs"] // 100)
    c = Controller(hal, b, 0)
    c.set_pilot(m.PILOT_PWM, 2666)
    hal.set_cp(6000)
    c.set_lease(1, 1, 160, 60000, 0)
    assert c.configure_grid(m.CFG_OV2_PM, 1150) == 0  # 50 Hz: local code may set it
    now = 0
    trips = []
    for _block in range(40):
        if lock:
            lock()
        try:
            for _tick in range(10):
                now += 10
                c.host_alive(now)
                c.tick(now)
        finally:
            if unlock:
                unlock()
        while c.events.pop() is not None:
            pass
        if c.guard.trip and c.guard.trip not in trips:
            trips.append(c.guard.trip)
    assert F.OV2 in trips, [F.TRIP_NAMES[t] for t in trips]


def test_rms_within_1_percent_of_nominal_through_sag_and_swell():
    from tests.firmware import gridcases

    for f_nom in (50, 60):
        lat = G.GridSync(2000, f_nom).rms_latency_ms()
        for case in gridcases.VOLT_CASES:
            for i in range(3):
                onset = 0.3 + i / (3 * f_nom)
                r = gridcases.run_volt_case(case, 2000, f_nom, onset=onset, duration=0.6)
                assert r["err"] <= 1.0, (case, f_nom, r)
                if case[1] != 1.0:  # the subtracted latency never exceeds the real one
                    r = gridcases.run_volt_case(case, 2000, f_nom, onset=onset, duration=0.6, block_ms=1)
                    assert lat <= r["latency_ms"] <= lat + 2500 // f_nom, (case, f_nom, r)


def test_deep_sag_rides_through_clearing_time_minus_latency():
    # the RMS sees the sag's end as late as its start: below UV2 the guard tolerates
    # 0.16 s less the RMS latency (documented in gridfunc), then trips UV2
    assert _from_samples(0.40, 0.09) == 0
    assert _from_samples(0.40, 0.14) == F.UV2
