# firmware-vm
"""The DC charger hardware (firmware/app/dc.py) through the controller, tick by tick: the
close sequence with precharge, the open, the weld checks (aux contacts, dc_link_v after
~1 s), the isolation check and the IMD alarm, and the power-stage enable that drops in
the same tick as any interlock failure."""

from firmware.app import dc, events, faults, interlocks
from firmware.app.controller import Controller
from firmware.link import dcmessages as dm
from firmware.link import messages as m
from tests.firmware.vmcheck import DcFakeHal, dc_board

TICK = 10
BOTH = dm.DC_PLUS | dm.DC_MINUS


class Bench:
    def __init__(self, **fields):
        self.hal = DcFakeHal()
        self.now = 1000
        self.c = Controller(self.hal, dc_board(**fields), self.now)
        self.c.host_alive(self.now)
        self.trace = []  # (now, dc_bits, stage_on, refused) after each tick

    def tick(self):
        self.now += TICK
        self.c.host_alive(self.now)
        self.c.tick(self.now)
        self.trace.append((self.now, self.hal.dc_bits, self.hal.stage_on, self.c.refused))

    def run(self, ms):
        end = self.now + ms
        while self.now < end:
            self.tick()

    def ready(self):
        """EV in C, 5 % PWM, a lease, the connector locked (the lock's pulse is 50 ms):
        everything but the DC rows."""
        self.c.set_pilot(m.PILOT_PWM, 500)
        self.hal.set_cp(6000)
        self.c.set_lease(1, 0, 800, 60000, self.now, 40000)
        self.run(100)

    def cable_check(self):
        assert self.c.dc.isolation_request(1, 5000, self.now) == 0
        self.run(1000 + 2 * TICK)
        assert self.c.dc.isolation == dm.ISO_VALID, self.c.dc.isolation

    def closed(self):
        self.ready()
        self.cable_check()
        self.c.dc.request(1, 3600)
        self.run(5 * TICK)
        assert self.c.dc.phase == dm.DC_CLOSED, interlocks.names(self.c.refused)
        assert self.hal.dc_bits == BOTH and self.hal.stage_on


def test_the_dc_rows_refuse_until_cable_check_and_request():
    b = Bench()
    b.ready()
    assert b.c.refused == interlocks.ISOLATION_UNCHECKED | interlocks.DC_NOT_REQUESTED
    assert b.hal.dc_bits == 0 and not b.hal.stage_on
    b.c.dc.request(1, 3600)
    b.run(TICK)
    assert b.c.refused == interlocks.ISOLATION_UNCHECKED and b.hal.dc_bits == 0
    b.c.dc.request(0, 0)
    b.cable_check()
    assert b.c.refused == interlocks.DC_NOT_REQUESTED and b.hal.dc_bits == 0


def test_isolation_check_runs_the_stage_at_the_test_voltage_then_stops_it():
    b = Bench()
    b.ready()
    b.c.dc.isolation_request(1, 5000, b.now)
    b.tick()
    assert b.hal.stage_on and b.hal.stage_target == 5000 and b.c.dc.isolation == dm.ISO_RUNNING
    b.run(1000)
    assert b.c.dc.isolation == dm.ISO_VALID
    assert not b.hal.stage_on  # nothing to test any more: the stage is off until the close


def test_isolation_classes_of_the_reading_iec_61851_23():
    # kohm against the stage's rated 500 V: > 500 ohm/V valid, 100..500 warning, < 100 fault
    for kohm, expected in ((251, dm.ISO_VALID), (250, dm.ISO_WARNING), (50, dm.ISO_WARNING),
                           (49, dm.ISO_FAULT), (-1, dm.ISO_VALID)):
        b = Bench()
        b.ready()
        b.hal.kohm = kohm
        b.c.dc.isolation_request(1, 5000, b.now)
        b.run(1000 + 2 * TICK)
        assert b.c.dc.isolation == expected, (kohm, b.c.dc.isolation)
        refused = b.c.refused & interlocks.ISOLATION_UNCHECKED
        assert bool(refused) == (expected == dm.ISO_FAULT), kohm


def test_isolation_check_is_void_when_the_stage_must_stop():
    b = Bench()
    b.ready()
    b.c.dc.isolation_request(1, 5000, b.now)
    b.run(300)
    assert b.hal.stage_on
    b.c.set_lease(0, 0, 0, 1000, b.now)  # the session is gone mid-check
    b.tick()
    assert not b.hal.stage_on and b.c.dc.isolation == dm.ISO_NONE
    b.c.set_lease(1, 0, 800, 60000, b.now, 40000)
    b.run(1000)
    assert b.c.dc.isolation == dm.ISO_NONE  # not valid without a new check


def test_a_dc_board_with_an_rcd_tests_the_stage_then_the_rcd_then_closes():
    b = Bench(rcd={"present": True, "self_test": True, "no_reclose": False})
    b.ready()
    assert b.c.refused & interlocks.RCD_UNTESTED
    b.cable_check()  # the stage ran although the RCD is untested: that only gates a close
    b.c.dc.request(1, 3600)
    b.tick()
    assert b.hal.rcd_test_on and b.hal.dc_bits == 0  # the self-test first
    b.run(150)
    assert not b.hal.rcd_test_on and b.c.dc.phase == dm.DC_CLOSED


def test_isolation_check_needs_an_open_pair():
    b = Bench()
    b.closed()
    assert b.c.dc.isolation_request(1, 5000, b.now) == m.NACK_BAD_STATE


def test_close_sequence_minus_and_relay_then_plus_near_the_target_then_relay_off():
    b = Bench()
    b.ready()
    b.cable_check()
    b.hal.stage_holds = False  # the stage has not got there yet
    b.c.dc.request(1, 3600)
    b.tick()
    assert b.hal.dc_bits == dm.DC_MINUS | dm.DC_PRECHARGE and b.c.contactor == 1
    assert b.hal.stage_on and b.hal.stage_target == 3600
    b.run(5 * TICK)
    assert b.hal.dc_bits == dm.DC_MINUS | dm.DC_PRECHARGE  # + waits for dc_link_v
    b.hal.link_stuck_dv = 3600 - 250  # 25 V off: outside the 20 V tolerance
    b.run(2 * TICK)
    assert not b.hal.dc_bits & dm.DC_PLUS
    b.hal.link_stuck_dv = 3600 - 200
    b.tick()
    assert b.hal.dc_bits == BOTH | dm.DC_PRECHARGE and b.c.dc.phase == dm.DC_CLOSED
    b.tick()
    assert b.hal.dc_bits == BOTH  # the precharge relay opens once + carries the current
    assert b.hal.stage_target == 0  # current mode: the host's setpoint
    b.run(200)
    assert not b.c.latched  # both aux contacts followed


def test_a_board_without_precharge_relay_closes_minus_alone_first():
    board = dc_board()
    cfg = dict(board["dc"])
    cfg["precharge_relay"] = False
    b = Bench(dc=cfg)
    b.ready()
    b.cable_check()
    b.hal.stage_holds = False
    b.c.dc.request(1, 3600)
    b.tick()
    assert b.hal.dc_bits == dm.DC_MINUS


def test_precharge_that_never_gets_there_fails_and_the_next_request_clears_it():
    b = Bench()
    b.ready()
    b.cable_check()
    b.hal.stage_holds = False
    b.c.dc.request(1, 3600)
    b.run(5000 + 2 * TICK)
    assert b.c.latched & faults.PRECHARGE_FAILED and faults.lowest_code(b.c.latched) == 95
    assert b.hal.dc_bits == 0 and not b.hal.stage_on and b.c.contactor == 0
    b.c.dc.request(1, 3600)
    assert not b.c.latched & faults.PRECHARGE_FAILED


def test_open_drops_everything_in_one_tick_and_a_new_close_needs_a_new_cable_check():
    b = Bench()
    b.closed()
    b.c.dc.request(0, 0)
    b.tick()
    assert b.hal.dc_bits == 0 and not b.hal.stage_on and b.c.contactor == 0
    assert b.c.dc.phase == dm.DC_SETTLING
    b.run(1100)
    assert b.c.dc.phase == dm.DC_OPEN and not b.c.latched
    b.c.dc.request(1, 3600)
    b.run(50)
    # and the anti-chatter gap (2 s from the last close) still holds
    assert b.c.refused == interlocks.ISOLATION_UNCHECKED | interlocks.CHATTER_GUARD
    assert b.hal.dc_bits == 0


def test_the_pair_counts_its_wear_and_keeps_the_anti_chatter_gap():
    """Each contactor of the pair (and the precharge relay) counts its closes, an opening
    under load counts apart, and a new close waits out contactor_min_gap_ms from the
    last one; a CableCheck may run meanwhile (the gap only gates a close)."""
    b = Bench()
    b.closed()
    w = b.c.wear
    w.min_gap_ms = 5000  # as SetConfig contactor_min_gap_ms sets it
    assert w.n == 3 and list(w.ops) == [1, 1, 1]  # -, +, precharge relay
    assert list(w.under_load) == [0, 0, 0]  # the relay opened with no current
    closed_at = w.closed_at[dc.WEAR_MINUS]
    b.hal.current = 20000  # 20 A through the pair when it opens
    b.c.dc.request(0, 0)
    b.tick()
    assert list(w.ops) == [1, 1, 1] and list(w.under_load) == [1, 1, 0]
    b.run(1100)  # settled; CableCheck again during the gap
    b.hal.current = 0
    b.cable_check()
    b.c.dc.request(1, 3600)
    b.run(50)
    assert b.c.refused == interlocks.CHATTER_GUARD and b.hal.dc_bits == 0
    assert b.c.dc.phase == dm.DC_OPEN and not b.hal.stage_on
    while b.hal.dc_bits == 0:
        b.tick()
    assert b.now - closed_at >= w.min_gap_ms  # the - contactor closed again only then
    assert b.now - closed_at < w.min_gap_ms + 2 * TICK
    b.run(5 * TICK)
    assert b.c.dc.phase == dm.DC_CLOSED and list(w.ops) == [2, 2, 2]


def test_imd_alarm_mid_loop_opens_and_stops_the_stage_in_the_same_tick():
    b = Bench()
    b.closed()
    b.hal.imd_on = True
    b.tick()
    assert b.hal.dc_bits == 0 and not b.hal.stage_on and b.c.contactor == 0
    assert b.c.latched & faults.IMD_ALARM and b.c.refused & interlocks.IMD_ACTIVE
    assert b.c.safe_reason() == 80 and b.hal.pilot == (m.PILOT_F, 10000)
    b.c.clear_faults()
    assert b.c.latched & faults.IMD_ALARM  # still alarming: stays
    b.hal.imd_on = False
    b.tick()
    b.c.clear_faults()
    assert not b.c.latched & faults.IMD_ALARM


def test_the_reading_below_the_alarm_threshold_alarms_too():
    b = Bench()
    b.closed()
    assert b.c.dc.configure(m.CFG_DC_IMD_ALARM, 100) == 0
    b.hal.kohm = 99
    b.tick()
    assert b.c.latched & faults.IMD_ALARM and b.hal.dc_bits == 0


def test_imd_alarm_during_the_cable_check_is_an_isolation_fault():
    b = Bench()
    b.ready()
    b.c.dc.isolation_request(1, 5000, b.now)
    b.run(300)
    b.hal.imd_on = True
    b.tick()
    assert b.c.dc.isolation == dm.ISO_FAULT and not b.hal.stage_on


def test_power_stage_drops_in_the_same_tick_as_any_interlock_failure():
    """Every way an interlock fails while closed: in the tick where `refused` becomes
    non-zero the enable output is already off (and it was on the tick before)."""
    cases = (
        ("cp-b", lambda b: b.hal.set_cp(9000)),
        ("lease", lambda b: b.c.set_lease(0, 0, 0, 1000, b.now)),
        ("estop", lambda b: setattr(b.hal, "estop_on", True)),
        ("override", lambda b: setattr(b.hal, "override_on", True)),
        ("imd", lambda b: setattr(b.hal, "imd_on", True)),
        ("pilot", lambda b: b.c.set_pilot(m.PILOT_X1, 10000)),
        ("open", lambda b: b.c.dc.request(0, 0)),
        ("aux", lambda b: setattr(b.hal, "aux_stuck", dm.DC_PLUS_AUX)),
    )
    for name, fail in cases:
        b = Bench()
        b.closed()
        b.run(200)
        before = len(b.trace)
        fail(b)
        for _ in range(30):
            b.tick()
            if b.c.refused:
                break
        now, bits, stage, refused = b.trace[-1]
        assert refused, name
        assert not stage and bits == 0, (name, interlocks.names(refused))
        assert b.trace[-2][2], name  # on until that very tick
        assert len(b.trace) > before


def test_stage_lapses_with_the_host_in_the_tick_of_the_link_timeout():
    b = Bench()
    b.closed()
    while not b.c.refused:
        b.now += TICK
        b.c.tick(b.now)  # the host went quiet
        if not b.c.refused:
            assert b.hal.stage_on
    assert not b.hal.stage_on and b.hal.dc_bits == 0 and b.c.latched & faults.LINK_TIMEOUT


def test_weld_found_by_the_aux_contact_blocks_every_later_close():
    b = Bench()
    b.closed()
    b.hal.weld_bits = dm.DC_PLUS
    b.c.dc.request(0, 0)
    b.run(100 + 2 * TICK)
    assert b.c.latched & faults.DC_WELD
    rec = None
    while True:
        r = b.c.events.pop()
        if r is None:
            break
        if r[0] == events.FAULT_RAISED and r[1] == faults.DC_WELD:
            rec = r
    assert rec is not None and rec[2] == dc.WELD_PLUS_AUX  # which contact, in the detail
    b.c.clear_faults()
    assert b.c.latched & faults.DC_WELD  # the aux still reads closed: stays
    b.c.dc.isolation_request(1, 5000, b.now)
    b.run(1100)
    b.c.dc.request(1, 3600)
    b.run(200)
    assert b.hal.dc_bits == 0 and b.c.contactor == 0 and b.c.refused & interlocks.FAULT


def test_weld_found_by_the_voltage_about_a_second_after_opening():
    # both contacts welded and their aux contacts broken (reading open): only dc_link_v,
    # still at the battery's voltage after weld_check_ms, tells
    b = Bench()
    b.closed()
    b.hal.weld_bits = BOTH
    b.hal.aux_stuck = 0
    b.c.dc.request(0, 0)
    b.run(1000 - TICK)
    assert not b.c.latched & faults.DC_WELD  # not before the check
    b.run(2 * TICK)
    assert b.c.latched & faults.DC_WELD and b.c.safe_reason() == 93
    b.c.clear_faults()
    assert b.c.latched & faults.DC_WELD  # dc_link_v still high
    b.hal.weld_bits = 0
    b.tick()
    b.c.clear_faults()
    assert not b.c.latched & faults.DC_WELD


def test_a_healthy_open_bleeds_below_the_safe_voltage_and_raises_nothing():
    b = Bench()
    b.closed()
    b.c.dc.request(0, 0)
    b.run(1100)
    assert not b.c.latched and b.c.dc.phase == dm.DC_OPEN


def test_aux_contact_that_does_not_follow_a_close_is_no_feedback():
    b = Bench()
    b.ready()
    b.cable_check()
    b.hal.aux_stuck = dm.DC_MINUS_AUX  # + aux never reads closed
    b.c.dc.request(1, 3600)
    b.run(150)
    assert b.c.latched & faults.DC_NO_FEEDBACK and faults.lowest_code(b.c.latched) == 94
    assert b.hal.dc_bits == 0


def test_boot_with_an_aux_contact_closed_is_a_weld():
    hal = DcFakeHal()
    hal.weld_bits = dm.DC_MINUS
    c = Controller(hal, dc_board(), 0)
    assert c.latched & faults.DC_WELD


def test_dc_status_event_on_change():
    b = Bench()
    b.ready()
    while b.c.events.pop() is not None:
        pass
    b.c.dc.isolation_request(1, 5000, b.now)
    b.tick()
    kinds = []
    while True:
        r = b.c.events.pop()
        if r is None:
            break
        kinds.append(r[0])
    assert events.DC_CHANGED in kinds
    b.tick()
    assert b.c.events.pop() is None  # nothing changed: nothing sent


def test_dc_tick_paths_allocate_nothing():
    """The DC paths of the tick under heap_lock on MicroPython: CableCheck, precharge,
    closed, the IMD alarm's open, settling with both weld checks, a weld by voltage, a
    failed precharge and a lost aux contact. The link's calls (request, Reset) and the
    event reading run between the locked blocks, as the link task does."""
    from tests.firmware.heaplock import heap_lock, heap_unlock

    b = Bench()
    b.ready()
    hal = b.hal
    c = b.c
    seen = [0, 0, 0, 0]  # closed, F-080, F-093, F-095

    def locked(ticks):
        heap_lock()
        try:
            for _ in range(ticks):
                b.now += TICK
                c.host_alive(b.now)
                c.tick(b.now)
                if c.dc.phase == dm.DC_CLOSED:
                    seen[0] = 1
        finally:
            heap_unlock()
        while c.events.pop() is not None:
            pass

    for round_ in range(4):
        hal.imd_on = False
        hal.weld_bits = 0
        hal.aux_stuck = -1
        hal.stage_holds = round_ != 2  # round 2: the precharge never gets there
        c.dc.configure(m.CFG_DC_PRECHARGE_MS, 500)
        locked(110)  # settle
        c.clear_faults()
        c.set_lease(1, 0, 800, 60000, b.now, 40000)
        c.dc.isolation_request(1, 5000, b.now)
        locked(110)  # the check and its result
        c.dc.request(1, 3600)
        locked(60 if round_ == 2 else 30)
        if round_ == 0:
            hal.imd_on = True  # mid-loop alarm: open in the tick
        elif round_ == 1:
            hal.weld_bits = BOTH  # the weld shows at the open, by aux and by voltage
            c.dc.request(0, 0)
        elif round_ == 3:
            hal.aux_stuck = dm.DC_MINUS_AUX  # + drops out while closed
        locked(120)
        seen[1] |= bool(c.latched & faults.IMD_ALARM)
        seen[2] |= bool(c.latched & faults.DC_WELD)
        seen[3] |= bool(c.latched & faults.PRECHARGE_FAILED)
    assert seen == [1, 1, 1, 1], seen
    assert c.events.lost == 0


def test_the_connector_stays_locked_until_the_output_is_dead():
    """IEC 61851-23: no unlock while the connector may be live. The EV leaves (state A)
    with the pair closed: the pair opens at once, the lock waits for the weld checks
    and for dc_link_v below safe_dv (held up here as by two welded contacts)."""
    b = Bench()
    b.closed()
    assert b.hal.locked and b.c.lock.locked()
    b.hal.link_stuck_dv = 3600
    b.hal.set_cp(12000)
    b.run(5 * TICK)
    assert b.hal.dc_bits == 0 and b.c.dc.phase == dm.DC_SETTLING
    b.run(1500)  # the weld checks are done: F-093 by the voltage, and still live
    assert b.c.dc.phase == dm.DC_OPEN and b.c.latched & faults.DC_WELD
    assert b.hal.locked and b.c.lock.locked()
    b.hal.link_stuck_dv = 0  # the output bled down
    b.run(100)
    assert not b.hal.locked
