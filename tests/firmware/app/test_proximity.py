# firmware-vm
"""Proximity pilot: each band edge of the IEC 61851-1 B.2 coding and of the J1772 latch
switch, and what the controller does with the reading (cap, fault, button stop)."""

from firmware.app import faults, interlocks, proximity
from firmware.app.controller import Controller
from firmware.app.pilot import duty_for_current
from firmware.app.proximity import (
    OK,
    OPEN,
    OUT_OF_BAND,
    PRESSED,
    SHORT,
    classify_iec,
    classify_j1772,
)
from firmware.link import messages as m
from tests.firmware.vmcheck import FakeHal, board

TICK = 10


def ok(da):
    return OK | da << 4


def test_iec_band_edges():
    # (resistance, expected): every edge of every band, and one step outside it
    cases = (
        (0, SHORT), (49, SHORT), (50, OUT_OF_BAND), (74, OUT_OF_BAND),
        (75, ok(630)), (100, ok(630)), (140, ok(630)), (141, OUT_OF_BAND),
        (159, OUT_OF_BAND), (160, ok(320)), (220, ok(320)), (300, ok(320)), (301, OUT_OF_BAND),
        (459, OUT_OF_BAND), (460, ok(200)), (680, ok(200)), (940, ok(200)), (941, OUT_OF_BAND),
        (1099, OUT_OF_BAND), (1100, ok(130)), (1500, ok(130)), (2200, ok(130)),
        (2201, OUT_OF_BAND), (3299, OUT_OF_BAND), (3300, OPEN), (32767, OPEN),
    )
    for ohms, want in cases:
        assert classify_iec(ohms) == want, (ohms, classify_iec(ohms), want)


def test_iec_nominal_resistors_within_3_percent_keep_their_rating():
    for nominal, da in ((100, 630), (220, 320), (680, 200), (1500, 130)):
        for r in (nominal * 97 // 100, nominal * 103 // 100 + 1):
            assert classify_iec(r) == ok(da), r


def test_j1772_band_edges():
    cases = (
        (49, SHORT), (50, OUT_OF_BAND), (99, OUT_OF_BAND), (100, OK), (142, OK), (150, OK),
        (220, OK), (221, OUT_OF_BAND), (329, OUT_OF_BAND), (330, PRESSED), (411, PRESSED),
        (480, PRESSED), (650, PRESSED), (651, OUT_OF_BAND), (999, OUT_OF_BAND), (1000, OPEN),
    )
    for ohms, want in cases:
        assert classify_j1772(ohms) == want, (ohms, classify_j1772(ohms), want)


def test_counts_to_ohms_through_the_pull_up():
    # 1 kOhm pull-up, 12-bit ADC: the counts each nominal resistor gives, back to ohms
    for r in (100, 220, 680, 1500):
        c = 4095 * r // (r + 1000)
        back = proximity.ohms_from_counts(c, 1000, 4095)
        assert abs(back - r) * 100 <= r * 2, (r, back)  # within 2 %
    assert proximity.ohms_from_counts(4095, 1000, 4095) == proximity.OPEN_OHMS
    assert proximity.ohms_from_counts(0, 1000, 4095) == 0


class Bench:
    def __init__(self, **fields):
        self.hal = FakeHal()
        self.now = 1000
        self.c = Controller(self.hal, board(**fields), self.now)
        self.c.host_alive(self.now)

    def run(self, ms):
        end = self.now + ms
        while self.now < end:
            self.now += TICK
            self.c.host_alive(self.now)
            self.c.tick(self.now)

    def charging(self, duty=2666, current_da=160):
        self.c.set_pilot(m.PILOT_PWM, duty)
        self.hal.set_cp(6000)
        self.c.set_lease(1, 0, current_da, 60000, self.now)
        self.run(200)
        assert self.c.contactor == 1, interlocks.names(self.c.refused)


def test_a_13a_cable_caps_a_32a_offer_and_the_lease():
    b = Bench()
    b.hal.set_pp(1500)
    b.run(30)
    b.charging(duty=5333, current_da=320)  # the host offers 32 A
    assert b.hal.pilot == (m.PILOT_PWM, duty_for_current(130))  # 21.66 %: 13 A
    assert b.c.limit_da() == 130 and b.c.pp.rating_da == 130
    b.hal.set_pp(680)  # a 20 A cable (the PP reads it on the fly)
    b.run(30)
    assert b.c.limit_da() == 200


def test_pp_open_with_an_ev_opens_at_once_and_raises_f070():
    b = Bench()
    b.charging()
    b.hal.set_pp(None)  # the coding resistor's wire breaks
    b.run(TICK)
    assert b.c.contactor == 1  # one read is not enough (noise)
    b.run(TICK)
    assert b.c.contactor == 0 and b.c.refused & interlocks.CABLE
    assert b.c.faults & faults.PROXIMITY and faults.code_of(faults.PROXIMITY) == 70
    assert b.hal.pilot[0] == m.PILOT_X1  # no valid cable: nothing offered
    raised = [b.c.events.pop() for _ in range(40)]
    assert [r for r in raised if r and r[0] == 3 and r[1] == faults.PROXIMITY and r[2] == 32767]
    b.hal.set_pp(220)
    b.run(3000)  # AUTO: clears with the cause; closes again after the anti-chatter gap
    assert not b.c.latched and b.c.contactor == 1


def test_pp_short_and_out_of_band_are_faults_open_without_ev_is_no_cable():
    for ohms in (20, 400, 2500):
        b = Bench()
        b.hal.set_pp(ohms)
        b.run(30)
        assert b.c.faults & faults.PROXIMITY and b.c.refused & interlocks.CABLE, ohms
    b = Bench()
    b.hal.set_pp(None)
    b.hal.set_cp(12000)
    b.run(50)
    assert b.c.pp.state == proximity.NO_CABLE and not b.c.faults
    b.hal.set_cp(9000)  # an EV, but no cable in the socket: the PP is a fault now
    b.run(100)
    assert b.c.pp.state == proximity.OPEN and b.c.faults & faults.PROXIMITY


def test_a_tethered_board_has_its_fixed_rating():
    b = Bench(pp={"mode": "tethered", "rating_da": 200})
    b.hal.set_pp(None)  # no PP input: never read
    b.charging(duty=5333, current_da=320)
    assert b.c.limit_da() == 200 and b.hal.pilot == (m.PILOT_PWM, duty_for_current(200))


def _j1772():
    b = Bench(pp={"mode": "j1772", "r_pull": 1000, "adc_max": 4095, "rating_da": 320})
    b.hal.set_pp(142)  # latched, plugged into the vehicle (150 || 2.7k)
    b.charging()
    b.hal.current = 16000
    return b


def test_j1772_button_withdraws_the_offer_and_opens_when_the_current_falls():
    b = _j1772()
    b.hal.set_pp(411)  # button pressed
    b.run(2 * TICK)
    assert b.c.pp.state == PRESSED and b.hal.pilot[0] == m.PILOT_X1
    assert b.c.contactor == 1  # still under load: never opened under it
    b.run(1000)
    assert b.c.contactor == 1
    b.hal.current = 300  # the EV stopped drawing
    b.run(TICK)
    assert b.c.contactor == 0 and b.c.wear.under_load[0] == 0


def test_j1772_button_opens_under_load_only_after_the_timeout():
    b = _j1772()
    b.c.button_stop_ms = 1500
    b.hal.set_pp(480)
    b.run(2 * TICK)
    pressed = b.now
    while b.c.contactor:
        b.run(TICK)
    assert 1500 <= b.now - pressed <= 1500 + 2 * TICK
    assert b.c.wear.under_load[0] == 1  # the forced opening is counted apart


def test_j1772_button_does_not_hold_against_another_interlock():
    b = _j1772()
    b.hal.set_pp(411)
    b.run(2 * TICK)
    b.hal.estop_on = True
    b.run(TICK)
    assert b.c.contactor == 0  # E-stop opens at once, load or not


def test_the_button_stop_tick_allocates_nothing():
    """The J1772 paths (pressed, held under load, opened, released) under heap_lock."""
    from tests.firmware.heaplock import heap_lock, heap_unlock

    b = _j1772()
    hal = b.hal
    c = b.c
    latched = 4095 * 142 // 1142
    pressed = 4095 * 411 // 1411
    now = b.now
    opened = bytearray(1)
    for block in range(12):
        hal.pp_c = pressed if block % 4 == 1 else latched
        hal.current = 0 if block % 4 == 2 else 16000
        if block % 4 == 3:
            c.set_lease(1, 0, 160, 60000, now)
        heap_lock()
        try:
            for _ in range(60):
                now += TICK
                c.host_alive(now)
                c.tick(now)
                if c.pp.state == PRESSED and not c.contactor:
                    opened[0] = 1
        finally:
            heap_unlock()
        while c.events.pop() is not None:
            pass
    assert opened[0] and c.events.lost == 0
