# firmware-vm
"""Grid settings over the link (IEEE 1547-2018): frequency trips, droop, volt-watt and
enter service with their ranges of adjustability, each range edge on both sides; the
volt-watt curve point by point and its response time; the export ramp after entering
service; and the settings through the controller, in service."""

from firmware.app import faults
from firmware.app import gridfunc as F
from firmware.app import gridsync as G
from firmware.app.controller import GRID_CHANGED
from firmware.link import messages as m
from tests.firmware.app.test_controller_grid import TICK, GridBench

OK = G.SHORT_OK | G.PHASE_OK | G.LONG_OK | G.RMS_OK
VNOM = 230000
OOR = F.NACK_OUT_OF_RANGE
CONFLICT = F.NACK_CONFLICT


# ---------------------------------------------------------------- frequency trips


def _ftrips(**set_):
    """The 60 Hz defaults with stages replaced: of2=(mhz, ms), ..."""
    trips = F.TRIPS_60
    for name, reason in (("of2", F.OF2), ("of1", F.OF1), ("uf1", F.UF1), ("uf2", F.UF2)):
        if name in set_:
            mhz, ms = set_[name]
            trips = F.with_volt_setting(trips, reason, pm=mhz, ms=ms)
    return trips


def test_frequency_trip_defaults_are_inside_their_ranges():
    assert F.check_freq_trips(F.TRIPS_60, 60) == 0
    assert F.check_freq_trips(F.TRIPS_50, 50) == 0


def test_frequency_trip_range_edges_at_60_hz():
    cases = (
        # OF2: 61.8-66.0 Hz, 0.16-1000 s
        (dict(of2=(61799, 160)), OOR), (dict(of2=(61800, 160)), 0),
        (dict(of2=(66000, 160)), 0), (dict(of2=(66001, 160)), OOR),
        (dict(of2=(62000, 159)), OOR),
        (dict(of2=(62000, 1000000), of1=(61200, 1000000)), 0),
        (dict(of2=(62000, 1000001), of1=(61200, 1000000)), OOR),
        # OF1: 61.0-66.0 Hz, 180-1000 s
        (dict(of1=(60999, 300000)), OOR), (dict(of1=(61000, 300000)), 0),
        (dict(of1=(66000, 300000), of2=(66000, 160)), 0),
        (dict(of1=(66001, 300000), of2=(66000, 160)), OOR),
        (dict(of1=(61200, 179999)), OOR), (dict(of1=(61200, 180000)), 0),
        (dict(of1=(61200, 1000001)), OOR),
        # UF1: 50.0-59.0 Hz, 180-1000 s
        (dict(uf1=(49999, 300000), uf2=(50000, 160)), OOR),
        (dict(uf1=(50000, 300000), uf2=(50000, 160)), 0),
        (dict(uf1=(59000, 300000)), 0), (dict(uf1=(59001, 300000)), OOR),
        (dict(uf1=(58500, 179999)), OOR), (dict(uf1=(58500, 180000)), 0),
        # UF2: 50.0-57.0 Hz, 0.16-1000 s
        (dict(uf2=(49999, 160)), OOR), (dict(uf2=(50000, 160)), 0),
        (dict(uf2=(57000, 160)), 0), (dict(uf2=(57001, 160)), OOR),
        (dict(uf2=(56500, 159)), OOR),
        (dict(uf2=(56500, 1000000), uf1=(58500, 1000000)), 0),
    )
    for set_, want in cases:
        assert F.check_freq_trips(_ftrips(**set_), 60) == want, (set_, want)


def test_frequency_trip_stages_must_stay_in_order():
    assert F.check_freq_trips(_ftrips(of1=(62100, 300000)), 60) == CONFLICT  # above OF2
    assert F.check_freq_trips(_ftrips(of2=(62000, 400000)), 60) == CONFLICT  # OF1 faster
    assert F.check_freq_trips(_ftrips(uf1=(56000, 300000), uf2=(56500, 160)), 60) == CONFLICT
    assert F.check_freq_trips(_ftrips(uf2=(56500, 400000)), 60) == CONFLICT  # UF1 faster
    # 50 Hz: no IEEE ranges (local codes), but OF above and UF below nominal
    t50 = F.with_volt_setting(F.TRIPS_50, F.OF2, pm=50500, ms=100)
    assert F.check_freq_trips(t50, 50) == CONFLICT  # OF1 51.2 Hz above OF2 50.5 Hz
    t50 = F.with_volt_setting(t50, F.OF1, pm=50000)
    assert F.check_freq_trips(t50, 50) == CONFLICT  # OF1 at nominal
    t50 = F.with_volt_setting(t50, F.OF1, pm=50200)
    assert F.check_freq_trips(t50, 50) == 0
    assert F.check_freq_trips(F.with_volt_setting(F.TRIPS_50, F.UF1, pm=50000), 50) == CONFLICT


def test_a_lower_of2_setting_trips_where_the_default_rides_through():
    g = F.GridGuard(60, now=0, enter_delay_ms=1000)
    t = 0
    while t <= 1100:
        g.update(t, OK, 60000, 0)
        t += 10
    assert g.trip == 0
    start = t
    while t < start + 500:  # 61.9 Hz: below the default OF2 (62.0 Hz), OF1 takes 300 s
        g.update(t, OK, 61900, 0)
        t += 10
    assert g.trip == 0
    # OF2 at 61.8 Hz now: the running OF1 timer carries over, OF2 starts timing now
    g.configure("II", None, 50, 1000, 0, _ftrips(of2=(61800, 160)))
    assert g.trip == 0 and g.since[2] == start  # OF1's timer, kept
    at = t
    while g.trip == 0 and t < at + 1000:
        g.update(t, OK, 61900, 0)
        t += 10
    assert g.trip == F.OF2 and 160 <= t - at <= 180, t - at


# ---------------------------------------------------------------- droop


def test_droop_presets_are_inside_their_ranges():
    for cat in ("I", "II", "III"):
        for profile in ("default", "fastest"):
            assert F.check_droop(F.droop_preset(cat, profile), cat, 60) == 0, (cat, profile)


def test_droop_range_edges_per_category():
    base = F.droop_preset("II")  # (db_of, db_uf, k_of, k_uf, t_resp)

    def with_(i, v):
        p = list(base)
        p[i] = v
        return tuple(p)

    for cat, k_lo, t_lo in (("I", 30, 1000), ("II", 30, 1000), ("III", 20, 200)):
        for i in (0, 1):  # deadbands: 0.017-1.0 Hz
            assert F.check_droop(with_(i, 16), cat, 60) == OOR
            assert F.check_droop(with_(i, 17), cat, 60) == 0
            assert F.check_droop(with_(i, 1000), cat, 60) == 0
            assert F.check_droop(with_(i, 1001), cat, 60) == OOR
        for i in (2, 3):  # droops: 0.03 (Cat III 0.02) - 0.05
            assert F.check_droop(with_(i, k_lo - 1), cat, 60) == OOR, (cat, i)
            assert F.check_droop(with_(i, k_lo), cat, 60) == 0
            assert F.check_droop(with_(i, 50), cat, 60) == 0
            assert F.check_droop(with_(i, 51), cat, 60) == OOR
        # open-loop response time: 1 s (Cat III 0.2 s) - 10 s
        assert F.check_droop(with_(4, t_lo - 1), cat, 60) == OOR, cat
        assert F.check_droop(with_(4, t_lo), cat, 60) == 0
        assert F.check_droop(with_(4, 10000), cat, 60) == 0
        assert F.check_droop(with_(4, 10001), cat, 60) == OOR
    assert F.check_droop(with_(2, 10), "II", 50) == 0  # 50 Hz: the link's range only


# ---------------------------------------------------------------- volt-watt


def test_volt_watt_curve_point_by_point():
    vw = F.VoltWatt(VNOM, 11000)  # V1 1.06, V2 1.10, P2 0
    pu = VNOM // 1000
    assert vw.limit_w(VNOM) == 11000
    assert vw.limit_w(pu * 1060) == 11000  # V1: P1, the rating
    assert vw.limit_w(pu * 1070) == 8250
    assert vw.limit_w(pu * 1080) == 5500  # half-way
    assert vw.limit_w(pu * 1100) == 0  # V2: P2
    assert vw.limit_w(pu * 1200) == 0  # beyond V2: P2
    vw.set((1050, 1090, -500, 10000))  # a V2G charger absorbs above V2
    assert vw.limit_w(pu * 1050) == 11000
    assert vw.limit_w(pu * 1070) == 2750  # half-way from +11 kW to -5.5 kW
    assert vw.limit_w(pu * 1090) == -5500
    assert vw.limit_w(pu * 1150) == -5500


def test_volt_watt_follows_its_open_loop_response_time():
    vw = F.VoltWatt(VNOM, 11000, (1060, 1100, 0, 10000), now=0)
    high = VNOM * 1150 // 1000  # beyond V2: the curve says 0 W
    t = 0
    left = []
    while t < 11000:
        t += 10
        left.append(vw.update(t, high))
    # 90 % of the step after the response time, not at once, not much later
    assert left[0] > 10900
    assert left[950 - 1] > 1100  # 9.5 s
    assert left[1050 - 1] < 1100  # 10.5 s
    vw.set((1060, 1100, 0, 1000))  # a new response time: the lag carries on from there
    assert vw.lagged_w() == left[-1]


def test_volt_watt_counts_a_long_gap_as_a_short_one():
    # a stalled tick must not turn (step x dt) into a big int on a 32-bit port, nor jump
    vw = F.VoltWatt(VNOM, 11000, (1060, 1100, 0, 1000), now=0)
    a = vw.update(5000, VNOM * 1150 // 1000)
    vw2 = F.VoltWatt(VNOM, 11000, (1060, 1100, 0, 1000), now=0)
    assert a == vw2.update(F.VW_MAX_DT_MS, VNOM * 1150 // 1000) and 0 < a < 11000


def test_volt_watt_range_edges_at_60_hz():
    d = F.VOLT_WATT  # (V1, V2, P2, response)
    assert F.check_volt_watt(d, 60) == 0
    cases = (
        ((1049, 1100, 0, 10000), OOR), ((1050, 1100, 0, 10000), 0),
        ((1090, 1100, 0, 10000), 0), ((1091, 1100, 0, 10000), OOR),
        ((1050, 1059, 0, 10000), OOR), ((1050, 1060, 0, 10000), 0),
        ((1060, 1101, 0, 10000), OOR),
        ((1060, 1100, -1001, 10000), OOR), ((1060, 1100, -1000, 10000), 0),
        ((1060, 1100, 1, 10000), OOR),
        ((1060, 1100, 0, 499), OOR), ((1060, 1100, 0, 500), 0),
        ((1060, 1100, 0, 60000), 0), ((1060, 1100, 0, 60001), OOR),
        ((1090, 1099, 0, 10000), CONFLICT),  # V2 less than 0.01 pu above V1
        ((1090, 1100, 0, 10000), 0),
    )
    for vw, want in cases:
        assert F.check_volt_watt(vw, 60) == want, (vw, want)
    assert F.check_volt_watt((1000, 1005, 500, 100), 50) == CONFLICT
    assert F.check_volt_watt((1000, 1010, 500, 100), 50) == 0  # 50 Hz: the link's ranges


# ---------------------------------------------------------------- enter service


def test_enter_service_range_edges_at_60_hz():
    d = F.enter_defaults(60)
    assert d == (917, 1050, 59500, 60100, 300000, 300000)
    assert F.check_enter(d, 60) == 0

    def with_(i, v):
        e = list(d)
        e[i] = v
        return tuple(e)

    cases = (
        (0, 879, OOR), (0, 880, 0), (0, 950, 0), (0, 951, OOR),
        (1, 1049, OOR), (1, 1050, 0), (1, 1060, 0), (1, 1061, OOR),
        (2, 58999, OOR), (2, 59000, 0), (2, 59900, 0), (2, 59901, OOR),
        (3, 60099, OOR), (3, 60100, 0), (3, 61000, 0), (3, 61001, OOR),
        (4, 0, 0), (4, 600000, 0), (4, 600001, OOR),
        (5, 999, OOR), (5, 1000, 0), (5, 1000000, 0), (5, 1000001, OOR),
    )
    for i, v, want in cases:
        assert F.check_enter(with_(i, v), 60) == want, (i, v, want)
    d50 = F.enter_defaults(50)
    assert F.check_enter(d50, 50) == 0
    assert F.check_enter((917, 1050, 50000, 50100, 0, 0), 50) == CONFLICT  # nominal outside
    assert F.check_enter((917, 1050, 49000, 50000, 0, 0), 50) == CONFLICT
    assert F.check_enter((500, 1200, 45000, 55000, 0, 0), 50) == 0


def test_a_wider_enter_window_lets_the_guard_enter_service():
    def run(enter):
        g = F.GridGuard(60, now=0, enter_delay_ms=1000)
        g.configure("II", None, 50, 1000, 0, None, enter)
        t = 0
        while t <= 1500:
            g.update(t, OK, 59400, 0)  # 0.6 Hz low: outside the default window
            t += 10
        return g.trip

    assert run(None) == F.LOSS  # never entered service
    assert run((917, 1050, 59000, 60100, 1000, 0)) == 0


def test_export_ramps_up_over_the_enter_service_period():
    g = F.GridGuard(60, now=0, enter_delay_ms=1000)
    g.configure("II", None, 50, 1000, 0, None, (917, 1050, 59500, 60100, 1000, 2000))
    t = 0
    while g.trip:
        assert g.ramp_pm(t) == 0  # out of service: nothing
        g.update(t, OK, 60000, 0)
        t += 10
    at = g.entered_at
    assert g.ramp_pm(at) == 0
    assert g.ramp_pm(at + 500) == 250
    assert g.ramp_pm(at + 1000) == 500
    assert g.ramp_pm(at + 2000) == 1000 and g.ramp_pm(at + 5000) == 1000


# ---------------------------------------------------------------- through the controller


def _exporting(**grid):
    g = GridBench(**grid)
    g.export()
    g.run(1500)
    assert g.c.contactor == 1 and g.c.guard.trip == 0
    return g


def test_every_new_grid_key_keeps_the_guard_in_service():
    # 50 Hz sim board: the link's ranges, the ordering checks
    settings = (
        (m.CFG_OF2_MHZ, 52500), (m.CFG_OF2_MS, 200), (m.CFG_OF1_MHZ, 51500),
        (m.CFG_OF1_MS, 200000), (m.CFG_UF1_MHZ, 48000), (m.CFG_UF1_MS, 200000),
        (m.CFG_UF2_MHZ, 47000), (m.CFG_UF2_MS, 300),
        (m.CFG_DROOP_DB_OF, 100), (m.CFG_DROOP_DB_UF, 100), (m.CFG_DROOP_K_OF, 40),
        (m.CFG_DROOP_K_UF, 40), (m.CFG_DROOP_RESP, 2000),
        (m.CFG_VW_ENABLE, 1), (m.CFG_VW_V1, 1070), (m.CFG_VW_V2, 1120),
        (m.CFG_VW_P2, -200), (m.CFG_VW_RESP, 5000),
        (m.CFG_ENTER_V_MIN, 900), (m.CFG_ENTER_V_MAX, 1060), (m.CFG_ENTER_F_MIN, 49000),
        (m.CFG_ENTER_F_MAX, 51000), (m.CFG_ENTER_RAMP, 1000),
    )
    for key, value in settings:
        g = _exporting()
        adj = g.c.droop.adj_mw
        assert g.c.configure_grid(key, value) == 0, key
        assert g.c.droop.adj_mw == adj, key
        g.run(500)
        assert g.c.contactor == 1 and g.c.guard.trip == 0, (key, g.c.guard.trip)
        assert not g.c.latched & faults.GRID_TRIP, key
    # and each took: the last bench has the ramp; check the others on one controller
    g = GridBench()
    for key, value in settings:
        assert g.c.configure_grid(key, value) == 0, key
    c = g.c
    assert sorted((t[0], t[2], t[3]) for t in c.guard.trips) == [
        (F.OF2, 52500, 200), (F.OF1, 51500, 200000), (F.UF1, 48000, 200000),
        (F.UF2, 47000, 300)]
    assert (c.droop.db_over, c.droop.db_under, c.droop.k_over, c.droop.k_under) == (100, 100, 40, 40)
    assert c.droop.tau_ms == 2000 * 10000 // 23026
    assert c.vw_on and c.vw.settings == (1070, 1120, -200, 5000)
    assert (c.guard.enter_f_lo, c.guard.enter_f_hi, c.guard.ramp_ms) == (49000, 51000, 1000)
    assert c.guard.enter_v_lo == VNOM * 900 // 1000 and c.guard.enter_v_hi == VNOM * 1060 // 1000


def _bench60(**grid):
    return GridBench(f_nom=60, **grid)


def test_refused_grid_settings_change_nothing():
    c = _bench60().c
    trips = c.guard.trips
    assert c.configure_grid(m.CFG_OF2_MHZ, 61799) == OOR  # 60 Hz: Table 18's range
    assert c.configure_grid(m.CFG_OF1_MHZ, 62100) == CONFLICT  # above OF2
    assert c.configure_grid(m.CFG_UF1_MS, 100) == OOR
    assert c.guard.trips == trips
    assert c.configure_grid(m.CFG_DROOP_K_OF, 20) == OOR  # Cat II: 3-5 %
    assert c.configure_grid(m.CFG_GRID_CATEGORY, 3) == 0
    assert c.configure_grid(m.CFG_DROOP_K_OF, 20) == 0  # Cat III: from 2 %
    assert c.droop.k_over == 20
    assert c.configure_grid(m.CFG_GRID_CATEGORY, 2) == 0  # a category: its preset again
    assert c.droop.k_over == 50
    assert c.configure_grid(m.CFG_VW_V2, 1065) == CONFLICT  # V1 is 1.06
    assert c.configure_grid(m.CFG_VW_RESP, 400) == OOR
    assert c.vw.settings == F.VOLT_WATT
    assert c.configure_grid(m.CFG_ENTER_F_MIN, 60000) == OOR
    assert c.configure_grid(m.CFG_ENTER_DELAY, 600000) == 0
    assert c.guard.enter_delay_ms == 600000
    c50 = GridBench().c
    assert c50.configure_grid(m.CFG_OF1_MHZ, 49000) == CONFLICT  # below nominal
    assert c50.configure_grid(m.CFG_ENTER_F_MIN, 50000) == CONFLICT  # nominal outside
    assert c50.guard.enter_f_lo == 49500


def test_a_frequency_trip_set_in_service_trips_at_its_clearing_time():
    g = GridBench(f0=50.05)  # 50 mHz above nominal, inside the enter-service window
    g.export()
    g.run(1500)
    assert g.c.contactor == 1 and g.c.guard.trip == 0
    assert g.c.configure_grid(m.CFG_OF1_MS, 1000) == 0
    assert g.c.configure_grid(m.CFG_OF1_MHZ, 50040) == 0  # the grid is beyond it now
    t0 = g.now
    while g.c.contactor and g.now < t0 + 3000:
        g.run(TICK)
    assert g.c.contactor == 0 and g.c.latched & faults.GRID_TRIP
    assert g.c.guard.trip == F.OF1
    # the measurement's latency (65 ms on the sim board) comes off the clearing time
    assert 1000 - 65 - 2 * TICK <= g.now - t0 <= 1000, g.now - t0


def test_volt_watt_limits_export_in_a_swell_with_its_response_time():
    g = GridBench(events=[["swell", 2.0, 8.0, 0.09]], enter_ramp_ms=0)
    c = g.c
    assert c.configure_grid(m.CFG_VW_P2, -500) == 0  # 50 Hz: the link's ranges
    assert c.configure_grid(m.CFG_VW_RESP, 1000) == 0
    assert c.configure_grid(m.CFG_VW_ENABLE, 1) == 0
    g.export()
    g.run(1900)
    assert c.contactor == 1 and c.grid_adjust_w == 0  # nominal voltage: no limit
    g.run(300)  # 0.2 s into the swell to 1.09 pu: on its way, not there
    want = c.vw.limit_w(c.guard.v_mv) - c.lease_power_w()
    assert want < -4000, want
    # the lagged limit is between the curve and the rating: the adjustment lags too
    assert c.vw.limit_w(c.guard.v_mv) < c.vw.lagged_w() < 11000
    assert want < c.grid_adjust_w <= 0, (c.grid_adjust_w, want)
    g.run(3000)  # three response times
    want = c.vw.limit_w(c.guard.v_mv) - c.lease_power_w()
    # within the curve's slope over 0.1 % of voltage (412 W): the half-cycle RMS is noisy,
    # the lagged limit follows its mean
    assert abs(c.grid_adjust_w - want) < 412, (c.grid_adjust_w, want)
    # the host hears it in GridStatus (the droop_w field carries every grid adjustment)
    assert [e for e in g.events if e[0] == GRID_CHANGED and e[1] < -4000]
    assert c.contactor == 1  # a limit, not a trip


def test_volt_watt_is_off_by_default():
    g = GridBench(events=[["swell", 2.0, 8.0, 0.09]], enter_ramp_ms=0)
    g.export()
    g.run(4000)
    assert g.c.contactor == 1 and g.c.grid_adjust_w == 0


def test_export_ramps_after_entering_service_in_the_controller():
    g = GridBench(enter_ramp_ms=2000)
    g.export()
    while g.c.guard.trip:
        g.run(TICK)
    p_set = g.c.lease_power_w()
    assert p_set > 3000
    # entering service: export capped by the ramp, 0 W at first, rated after 2 s
    assert p_set + g.c.grid_adjust_w <= 11000 * TICK // 2000
    g.run(300)
    assert abs(p_set + g.c.grid_adjust_w - 11000 * 300 // 2000) <= 11000 * TICK // 2000
    g.run(700)  # 1 s: the cap (5.5 kW) is above the lease
    assert g.c.grid_adjust_w == 0


def test_the_ramp_leaves_charging_alone():
    g = GridBench(enter_ramp_ms=2000)
    g.c.set_pilot(m.PILOT_PWM, 2666)
    g.hal.set_cp(6000)
    g.c.set_lease(1, 0, 160, 60000, g.now)
    while g.c.guard.trip:
        g.run(TICK)
    g.run(TICK)
    assert g.c.lease_power_w() < -3000 and g.c.grid_adjust_w == 0
