# firmware-vm
"""NTC fixed-point conversion and continuous foldback."""

import math

from firmware.app import thermal


def _counts_float(temp_c, beta=3950, r25=10000, rs=10000, adc_max=4095):
    t = temp_c + 273.15
    r = r25 * math.exp(beta * (1 / t - 1 / 298.15))
    return int(adc_max * r / (r + rs) + 0.5)


def test_ntc_matches_beta_equation_within_half_a_degree():
    ntc = thermal.NtcTable(3950, 10000, 10000, 4095)
    for c in range(-35, 146, 3):
        got = ntc.to_dc(_counts_float(c))
        assert ntc.status == thermal.SENSOR_OK
        assert abs(got - c * 10) <= 5, (c, got)


def test_ntc_open_and_short():
    ntc = thermal.NtcTable(3950, 10000, 10000, 4095)
    ntc.to_dc(4094)
    assert ntc.status == thermal.SENSOR_OPEN
    ntc.to_dc(3)
    assert ntc.status == thermal.SENSOR_SHORT
    ntc.to_dc(2048)
    assert ntc.status == thermal.SENSOR_OK


def test_counts_at_inverts_to_dc():
    ntc = thermal.NtcTable(3950, 10000, 10000, 4095)
    for dc in range(-300, 1400, 37):
        assert abs(ntc.to_dc(ntc.counts_at(dc)) - dc) <= 3, dc


def test_foldback_linear_from_start_to_limit():
    fb = thermal.Foldback(900, 85, 30)  # start 76.5 C, limit 90 C
    rated = 320
    prev = rated
    for t in range(700, 905, 5):
        fb.follow(t)
        got = fb.limit_da(rated)
        assert got <= prev  # never rises while heating
        prev = got
        if t <= 765:
            assert got == rated
        elif t >= 900:
            assert got == 0
        else:
            exact = rated * (900 - t) // (900 - 765)
            assert got == (exact if exact >= 60 else 0), (t, got)


def test_never_below_six_amps_except_stop():
    fb = thermal.Foldback(900, 85, 30)
    for t in range(765, 901):
        fb.follow(t)
        v = fb.limit_da(320)
        assert v == 0 or v >= 60


def test_hysteresis_on_the_way_down():
    fb = thermal.Foldback(900, 85, 30)
    fb.follow(850)
    hot = fb.limit_da(320)
    fb.follow(830)  # 2 C cooler: inside the play, no change
    assert fb.limit_da(320) == hot
    fb.follow(800)  # 5 C cooler: follows, 3 C behind
    assert fb.effective_dc == 830 and fb.limit_da(320) > hot
    fb.follow(700)
    assert fb.limit_da(320) == 320
