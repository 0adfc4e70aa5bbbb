# firmware-vm
"""Frequency-droop, trip and ride-through, ROCOF limit, loss of grid, phase alignment."""

from firmware.app import gridfunc as F
from firmware.app import gridsync as G
from firmware.sim.grid import THD5, GridModel

OK = G.SHORT_OK | G.PHASE_OK | G.LONG_OK


def test_droop_presets_per_category():
    assert F.droop_preset("II") == (36, 36, 50, 50, 5000)
    assert F.droop_preset("III", "fastest") == (17, 17, 20, 20, 200)
    assert F.droop_preset("I", "fastest")[2] == 30
    for cat in ("I", "II", "III"):
        for prof in ("default", "fastest"):
            db_o, db_u, k_o, k_u, t = F.droop_preset(cat, prof)
            assert 17 <= db_o <= 36 and 20 <= k_o <= 50 and 200 <= t <= 5000


def test_droop_deadband_leaves_the_setpoint():
    d = F.Droop(50, 11000, 11000, 11000)
    for f in (49964, 50000, 50036):
        assert d.target_w(f, 7000) == 7000


def test_droop_over_frequency_while_discharging_and_charging():
    d = F.Droop(50, 11000, 11000, 11000)
    # (500 - 36) mHz / (50 Hz * 5 %) * 11 kW = 2041.6 W less export
    assert d.target_w(50500, 7000) == 7000 - 2041
    # charging harder, down to the import limit
    assert d.target_w(50500, -7000) == -9041
    assert d.target_w(52000, -7000) == -11000


def test_droop_under_frequency_while_charging_and_discharging():
    d = F.Droop(50, 11000, 11000, 11000)
    assert d.target_w(49500, -7000) == -4959  # charge less
    assert d.target_w(48000, -7000) == -7000 + 8641  # (2000 - 36) / 2500 * 11 kW: export
    assert d.target_w(47000, 3000) == 11000  # export up to the limit
    # a charge-only EV (no export allowed) stops charging but never exports
    c = F.Droop(50, 11000, 0, 11000)
    assert c.target_w(47000, -7000) == 0


def test_droop_first_order_response_reaches_90_percent_at_the_response_time():
    for preset, t_resp in ((F.droop_preset("II"), 5000), (F.droop_preset("III", "fastest"), 200)):
        d = F.Droop(60, 10000, 10000, 10000, preset=preset)
        target = d.target_w(60600, 0)
        assert target < -1000
        t = 0
        reached = None
        while t <= 3 * t_resp:
            p = d.update(t, 60600, 0)
            if reached is None and p <= target * 9 // 10:
                reached = t
            t += 10
        assert reached is not None and abs(reached - t_resp) <= t_resp * 5 // 100 + 10, reached
        assert abs(d.p_w - target) <= max(20, -target // 50)


def test_droop_setpoint_changes_apply_at_once():
    d = F.Droop(50, 11000, 11000, 11000)
    d.update(0, 50000, 5000)
    assert d.update(10, 50000, -3000) == -3000
    assert d.adjustment_w() == 0


def _guard(f_nom=60, **kw):
    g = F.GridGuard(f_nom, now=0, enter_delay_ms=1000, **kw)
    t = 0
    while t <= 1100:  # enter service at nominal first
        g.update(t, OK, f_nom * 1000, 0)
        t += 10
    assert g.refused == 0, g.refused
    return g, t


def _hold(g, t, ms, f_mhz, rocof=0, flags=OK):
    end = t + ms
    first = None
    while t < end:
        if g.update(t, flags, f_mhz, rocof) & F.TRIPPED and first is None:
            first = t
        t += 10
    return t, first


def test_starts_tripped_until_enter_service():
    g = F.GridGuard(60, now=0, enter_delay_ms=1000)
    assert g.update(0, OK, 60000, 0) & F.TRIPPED
    t, _ = _hold(g, 10, 500, 59400)  # below the enter-service window
    assert g.refused & F.TRIPPED
    t, _ = _hold(g, t, 990, 60000)
    assert g.refused & F.TRIPPED
    t, _ = _hold(g, t, 30, 60000)
    assert g.refused == 0


def test_of2_trips_at_its_clearing_time_and_rides_through_shorter():
    g, t = _guard()
    t, first = _hold(g, t, 150, 62100)
    assert first is None
    t, first = _hold(g, t, 200, 60000)
    assert first is None and g.refused == 0
    start = t
    t, first = _hold(g, t, 300, 62100)
    assert first is not None and 160 <= first - start <= 170 and g.trip == F.OF2
    assert F.TRIP_NAMES[g.trip] == "OF2"


def test_uf1_needs_its_long_clearing_time():
    g, t = _guard()
    start = t
    t, first = _hold(g, t, 299000, 58400)
    assert first is None
    t, first = _hold(g, t, 2000, 58400)
    assert first is not None and first - start >= 300000 and g.trip == F.UF1


def test_50hz_preset_and_latency_allowance():
    assert F.trips_for(50)[0][2] == 52000 and F.trips_for(60)[0][2] == 62000
    g, t = _guard(50, latency_ms=40)
    start = t
    t, first = _hold(g, t, 300, 46400)
    assert g.trip == F.UF2 and first - start <= 130


def test_rocof_limit_by_category():
    g, t = _guard(category="II")
    t, first = _hold(g, t, 80, 60000, rocof=2500)
    assert first is None
    t, first = _hold(g, t, 100, 60000, rocof=-2500)
    assert first is not None and g.trip == F.ROCOF
    g3, t = _guard(category="III")
    t, first = _hold(g3, t, 500, 60000, rocof=2500)
    assert first is None


def test_frequency_held_while_the_estimator_refills():
    g, t = _guard()
    # after a phase jump the short window refills: no trip, but unsynced for export
    bits = g.update(t, G.PHASE_OK, 0, 0)
    assert bits & F.UNSYNCED and not bits & F.TRIPPED
    assert g.f_mhz == 60000


def test_loss_of_grid_flag_ceases_export_at_once():
    g, t = _guard()
    bits = g.update(t, G.LOST, 0, 0)
    assert bits & F.LOST and bits & F.TRIPPED and g.trip == F.LOSS


def test_stale_measurement_is_loss_of_grid_within_2_s():
    g, t = _guard(loss_ms=5000)  # capped at 2 s
    start = t
    lost = None
    while t < start + 3000:
        if g.update(t, 0, 0, 0) & F.LOST and lost is None:
            lost = t
        t += 10
    assert lost is not None and lost - start <= 2000


def test_islanding_from_samples_to_refusal_within_a_few_cycles():
    fs = 4000
    grid = GridModel(fs, 60, harmonics=THD5, dc=30).dropout(0.6, 2.0)
    gs = G.GridSync(fs, 60)
    guard = F.GridGuard(60, now=0, enter_delay_ms=200)
    w = 0
    lost_at = None
    for b in range(100):
        w = grid.fill(gs.ring, w, 40, gs.mask)
        flags = gs.process(40)
        now = grid.n * 1000 // fs
        bits = guard.update(now, flags, gs.freq_mhz(), gs.rocof_mhz_s)
        if b == 55:
            assert bits == 0, F.refused_names(bits)
        if bits & F.LOST and lost_at is None and now > 600:
            lost_at = now
    assert lost_at is not None and lost_at - 600 <= 3 * 1000 // 60 + 10, lost_at


def test_phase_alignment_before_closing():
    g, t = _guard()
    thr = F.mrad_to_q16(50)
    assert thr == 521
    assert g.close_refused(OK, 1000, 1000 + 500) == 0
    assert g.close_refused(OK, 1000, 1000 - 600) == F.PHASE
    assert g.close_refused(OK, 65500, 300) == 0  # across the wrap
    assert g.close_refused(G.SHORT_OK, 0, 0) & F.PHASE  # no phase estimate yet
    assert F.phase_error(65000, 100) == 636
    assert F.refused_names(F.PHASE | F.LOST) == ["grid-lost", "grid-phase"]
