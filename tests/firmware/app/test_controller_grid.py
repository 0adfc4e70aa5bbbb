# firmware-vm
"""Grid sync in the controller: export interlock, phase alignment, trips, droop."""

from firmware.app import events, faults, interlocks
from firmware.app.controller import GRID_CHANGED, Controller
from firmware.link import messages as m
from firmware.sim.grid import GridModel
from tests.firmware.vmcheck import FakeHal, board

TICK = 10


class GridBench:
    def __init__(self, events=(), offset_mrad=10, f0=None, edges=None, **grid_overrides):
        b = board(grid=True)
        if edges is not None:  # a zero-cross comparator too: stamps from an EdgeModel
            b["pins"] = {"grid_zero_cross": 1}
        g = dict(b["grid"])
        g["enter_delay_ms"] = 500
        for k in grid_overrides:
            g[k] = grid_overrides[k]
        b["grid"] = g
        self.hal = FakeHal()
        self.hal.grid_model = GridModel(g["fs"], g["f_nom"], f0=f0, seed=3, noise_lsb=2.0).apply(events)
        self.hal.grid_per_tick = g["fs"] * TICK // 1000
        self.hal.ref_offset16 = offset_mrad * 65536 // 6283
        if edges is not None:
            self.hal.edge_stamps = edges
        self.now = 0
        self.c = Controller(self.hal, b, self.now)
        self.events = []

    def run(self, ms):
        end = self.now + ms
        while self.now < end:
            self.now += TICK
            self.c.host_alive(self.now)
            self.c.tick(self.now)
            while True:
                e = self.c.events.pop()
                if e is None:
                    break
                self.events.append(e)

    def export(self):
        self.c.set_pilot(m.PILOT_PWM, 2666)
        self.hal.set_cp(6000)
        self.c.set_lease(1, 1, 160, 60000, self.now)


def test_export_waits_for_enter_service_then_closes():
    g = GridBench()
    g.export()
    g.run(300)
    assert g.c.contactor == 0 and g.c.refused & interlocks.GRID
    g.run(1200)  # measurement valid, then 500 ms inside the enter-service window
    assert g.c.guard.trip == 0
    assert g.c.contactor == 1, interlocks.names(g.c.refused)


def test_phase_misaligned_converter_refuses_export():
    g = GridBench(offset_mrad=200)  # threshold 50 mrad
    g.export()
    g.run(1500)
    assert g.c.contactor == 0 and g.c.refused & interlocks.GRID
    assert g.c.grid_refused & 8  # gridfunc.PHASE


def test_charging_needs_no_grid_service():
    g = GridBench()
    g.c.set_pilot(m.PILOT_PWM, 2666)
    g.hal.set_cp(6000)
    g.c.set_lease(1, 0, 160, 60000, g.now)
    g.run(200)
    assert g.c.contactor == 1


def test_loss_of_grid_while_exporting_opens_within_a_few_cycles():
    g = GridBench(events=[["dropout", 2.0, 4.0]])
    g.export()
    g.run(1900)
    assert g.c.contactor == 1
    g.run(100)  # until the dropout
    t0 = g.now
    while g.c.contactor and g.now < t0 + 2000:
        g.run(TICK)
    assert g.c.contactor == 0
    assert g.now - t0 <= 100, g.now - t0  # IEEE 1547 allows 2 s; three cycles is 60 ms
    assert g.c.latched & faults.GRID_TRIP


def test_underfrequency_dip_reduces_charging_by_droop():
    g = GridBench(events=[["ramp", 1.0, 1.6, -0.5]], droop_profile="fastest")
    g.c.set_pilot(m.PILOT_PWM, 2666)
    g.hal.set_cp(6000)
    g.c.set_lease(1, 0, 160, 60000, g.now)
    g.run(1000)
    assert abs(g.c.droop.adjustment_w()) < 50
    g.run(2000)
    adj = g.c.droop.adjustment_w()
    # 0.3 Hz below 50 Hz, 17 mHz deadband, 3 % droop of 11 kW: about +2.1 kW (less charging)
    assert 1500 < adj < 2600, adj
    grid_events = [e for e in g.events if e[0] == GRID_CHANGED]
    assert grid_events and max(e[1] for e in grid_events) > 1000
    assert g.c.contactor == 1  # charging rides through


def test_grid_config_over_the_link_keys():
    g = GridBench()
    assert g.c.configure_grid(m.CFG_PHASE_MRAD, 300) == 0
    assert g.c.guard.phase_q16 == 300 * 65536 // 6283
    assert g.c.configure_grid(m.CFG_GRID_CATEGORY, 3) == 0 and g.c.guard.rocof_limit == 3000
    b = board()  # no grid sensing
    c = Controller(FakeHal(), b, 0)
    assert c.configure_grid(m.CFG_PHASE_MRAD, 300) == m.NACK_BAD_STATE


def _exporting():
    g = GridBench()
    g.export()
    g.run(1500)
    assert g.c.contactor == 1 and g.c.guard.trip == 0, interlocks.names(g.c.refused)
    return g


def test_a_setting_that_touches_no_trip_keeps_exporting():
    for key, value in ((m.CFG_DROOP_STEP, 500), (m.CFG_DROOP_PROFILE, 1),
                       (m.CFG_PHASE_MRAD, 300), (m.CFG_ENTER_DELAY, 2000),
                       (m.CFG_GRID_LATENCY, 40)):
        g = _exporting()
        adj = g.c.droop.adj_mw
        assert g.c.configure_grid(key, value) == 0
        assert g.c.droop.adj_mw == adj, key  # the droop's lag is not restarted
        g.run(500)
        assert g.c.contactor == 1 and g.c.guard.trip == 0, (key, g.c.guard.trip)
        assert not g.c.latched & faults.GRID_TRIP, key
    assert g.c.guard.latency_ms == 40  # and the setting took


def test_a_new_trip_setting_applies_in_service_without_a_loss_of_grid():
    g = _exporting()
    assert g.c.configure_grid(m.CFG_GRID_CATEGORY, 3) == 0  # other trips, still in service
    assert g.c.guard.rocof_limit == 3000
    assert g.c.configure_grid(m.CFG_UV1_MS, 2000) == 0
    assert g.c.configure_grid(m.CFG_UV2_MS, 2000) == 0
    g.run(500)
    assert g.c.contactor == 1 and g.c.guard.trip == 0 and not g.c.latched
    # UV1 above the grid's 1.0 pu: the new threshold is timed from now and trips at its
    # clearing time (less the tick and the contactor's opening), as UV1
    assert g.c.configure_grid(m.CFG_UV1_PM, 1030) == 0
    t0 = g.now
    while g.c.contactor and g.now < t0 + 3000:
        g.run(TICK)
    assert g.c.contactor == 0 and g.c.latched & faults.GRID_TRIP
    assert g.c.guard.trip == 9  # gridfunc.UV1, not loss-of-grid
    assert 2000 - 30 - 20 <= g.now - t0 <= 2000, g.now - t0


def test_phase_jump_and_sag_ride_through_while_exporting():
    g = GridBench(events=[["jump", 2.0, 30], ["sag", 2.5, 2.7, 0.5], ["jump", 3.0, -30]])
    g.export()
    g.run(1900)
    assert g.c.contactor == 1
    opened = False
    for _ in range(200):
        g.run(TICK)
        opened = opened or not g.c.contactor
    assert not opened and g.c.guard.trip == 0 and not g.c.latched


def test_no_grid_sensing_refuses_export_with_its_own_reason():
    from firmware.app import gridfunc

    hal = FakeHal()
    c = Controller(hal, board(), 0)  # the sim board without its grid section
    c.set_pilot(m.PILOT_PWM, 2666)
    hal.set_cp(6000)
    c.set_lease(1, 1, 160, 60000, 0)
    for t in range(10, 3000, 10):
        c.host_alive(t)
        c.tick(t)
    assert c.contactor == 0 and c.refused & interlocks.GRID
    assert gridfunc.refused_names(c.grid_refused) == ["grid-no-sensing"]
    c.set_lease(1, 0, 160, 60000, 3000)  # charging needs no grid sensing
    for t in range(3010, 4000, 10):
        c.host_alive(t)
        c.tick(t)
    assert not c.refused & interlocks.GRID


def _edges(f0, seconds, **impair):
    from tests.firmware.edgecases import EdgeModel

    return EdgeModel(f0).stamps(seconds, t0_us=0, **impair)


def test_zero_cross_edges_give_frequency_and_phase_the_adc_the_voltage():
    # the ADC sees 50.0 Hz, the comparator 49.8 Hz: the guard must follow the edges
    g = GridBench(edges=_edges(49.8, 3.0, jitter_us=5.0, chatter_every=5))
    assert g.c.es is not None
    g.export()
    g.run(1500)
    assert abs(g.c.grid_f_mhz - 49800) <= 3, g.c.grid_f_mhz
    assert abs(g.c.gs.freq_mhz() - 50000) <= 3
    assert g.c.grid_flags & 8  # RMS_OK: from the ADC
    assert 225000 < g.c.gs.rms_mv < 235000
    assert g.c.contactor == 1, interlocks.names(g.c.refused)
    assert g.c.es.glitches > 0  # the chatter was there, and was rejected
    assert g.c.guard.f_mhz == g.c.grid_f_mhz


def test_comparator_frequency_outside_the_enter_window_keeps_export_off():
    g = GridBench(edges=_edges(50.3, 3.0))  # the ADC's 50.0 Hz would be inside it
    g.export()
    g.run(2000)
    assert g.c.contactor == 0 and g.c.grid_refused & 2  # TRIPPED: not yet in service


def test_adc_loss_opens_although_the_comparator_still_toggles():
    g = GridBench(events=[["dropout", 2.0, 4.0]], edges=_edges(50.0, 5.0))
    g.export()
    g.run(1900)
    assert g.c.contactor == 1
    g.run(300)
    assert g.c.contactor == 0 and g.c.latched & faults.GRID_TRIP
    assert g.c.es.flags & 1  # the edges alone still look like a grid (SHORT_OK)


def test_comparator_silent_opens_although_the_adc_sees_a_grid():
    g = GridBench(edges=_edges(50.0, 2.0))  # the comparator stops after 2 s
    g.export()
    g.run(1950)
    assert g.c.contactor == 1
    g.run(200)
    assert g.c.contactor == 0 and g.c.grid_flags & 16  # LOST
    assert g.c.gs.flags & 1  # the ADC still measures


def _opened_by_voltage(g, at_ms):
    """Export, then run past `at_ms`: (ms from at_ms to the open, the Fault's detail)."""
    g.export()
    g.run(at_ms - 100)
    assert g.c.contactor == 1, interlocks.names(g.c.refused)
    g.run(100)
    t0 = g.now
    while g.c.contactor and g.now < t0 + 3000:
        g.run(TICK)
    details = [e[2] for e in g.events if e[0] == events.FAULT_RAISED and e[1] == faults.GRID_TRIP]
    return g.now - t0, details


def test_sag_to_40_percent_trips_uv2_and_the_fault_names_it():
    from firmware.app import gridfunc

    g = GridBench(events=[["sag", 2.0, 4.0, 0.6]])
    ms, details = _opened_by_voltage(g, 2000)
    assert g.c.guard.trip == gridfunc.UV2 and details == [gridfunc.UV2]
    # the coil lets go early enough for the sim contactor (20 ms) to part by 0.16 s
    assert 160 - 20 - 10 - 10 - 3 <= ms <= 160 - 20, ms


def test_voltage_comes_from_the_adc_with_zero_cross_edges():
    from firmware.app import gridfunc

    # the comparator keeps toggling at 50 Hz; only the ADC sees the swell to 1.25 pu
    g = GridBench(events=[["swell", 2.0, 4.0, 0.25]], edges=_edges(50.0, 5.0))
    ms, details = _opened_by_voltage(g, 2000)
    assert g.c.guard.trip == gridfunc.OV2 and details == [gridfunc.OV2]
    assert 160 - 20 - 10 - 10 - 3 <= ms <= 160 - 20, ms


def test_a_dead_grid_sampler_is_a_lost_grid():
    """Stale flags must not keep export on: with no samples the guard hears 'no grid'."""
    g = GridBench()
    g.export()
    g.run(2000)
    assert g.c.contactor == 1
    g.hal.grid_per_tick = 0  # the ADC timer stopped
    t0 = g.now
    g.run(100)
    assert g.c.contactor == 1  # a stall up to SAMPLER_STALL_MS rides through
    while g.c.contactor and g.now < t0 + 1000:
        g.run(TICK)
    assert g.c.contactor == 0 and g.now - t0 <= 100 + 2 * TICK, g.now - t0
    assert g.c.latched & faults.GRID_TRIP


def test_a_tick_without_samples_feeds_no_old_voltages_again():
    g = GridBench()
    g.run(500)
    fed = []
    feed = g.c.guard.feed_voltage

    def counting(now, mv, age):
        fed.append(now)
        feed(now, mv, age)

    g.c.guard.feed_voltage = counting
    g.run(TICK)
    assert fed  # a 10 ms block holds about one half-cycle RMS at 50 Hz
    fed.clear()
    g.hal.grid_per_tick = 0
    g.run(TICK)
    assert fed == []  # re-fed under a later `now`, they would move a stage's start
