# firmware-vm
"""The sim board's grid model: deterministic, 12-bit, and its events do what they say."""

from array import array

from firmware.sim.grid import THD5, GridModel


def _samples(g, n):
    return [g.sample() for _ in range(n)]


def test_same_seed_same_samples_other_seed_other_samples():
    a = _samples(GridModel(4000, 50, seed=5, harmonics=THD5), 400)
    b = _samples(GridModel(4000, 50, seed=5, harmonics=THD5), 400)
    c = _samples(GridModel(4000, 50, seed=6, harmonics=THD5), 400)
    assert a == b and a != c


def test_noise_and_offset_statistics():
    g = GridModel(4000, 50, peak=0, dc=25, noise_lsb=2.0, seed=3)
    xs = _samples(g, 8000)
    mean = sum(xs) / len(xs)
    var = sum((x - mean) ** 2 for x in xs) / len(xs)
    assert abs(mean - 2073) < 0.2
    # sigma 2 LSB plus the ADC's own rounding (1/12 LSB^2)
    assert 3.6 < var < 4.6, var


def test_twelve_bit_range_is_clipped():
    xs = _samples(GridModel(1000, 50, peak=2500, noise_lsb=0), 200)
    assert min(xs) == 0 and max(xs) == 4095


def test_step_ramp_and_jump_change_frequency_and_phase():
    g = GridModel(1000, 50, noise_lsb=0, record=True).step(0.1, 0.5).ramp(0.2, 0.3, -3.0)
    g.jump(0.4, 30)
    assert g.freq_hz(99) == 50 and g.freq_hz(100) == 50.5
    assert abs(g.freq_hz(300) - 50.2) < 1e-9 and abs(g.freq_hz(350) - 50.2) < 1e-9
    _samples(g, 500)
    # 0.1 s at 50, 0.1 at 50.5, 0.1 ramping 50.5 -> 50.2, 0.1 at 50.2, a jump of 1/12
    expected = 5 + 5.05 + 5.035 + 5.02 + 1 / 12.0
    assert abs(g.phase_at(400.0) - expected) < 0.002, g.phase_at(400.0)


def test_sag_and_dropout_scale_the_amplitude():
    g = GridModel(2000, 50, noise_lsb=0).sag(0.1, 0.2, 0.5).dropout(0.2, 0.3)
    xs = _samples(g, 800)
    assert max(xs[:200]) - min(xs[:200]) > 3100
    assert 1500 < max(xs[200:400]) - min(xs[200:400]) < 1700
    assert max(xs[400:600]) - min(xs[400:600]) <= 1
    assert max(xs[600:]) - min(xs[600:]) > 3100
    assert abs(g.rms_counts(300) - 800 / 2 ** 0.5) < 1


def test_fill_writes_a_ring_with_wrap_around():
    ring = array("H", [0] * 16)
    g = GridModel(1000, 50, noise_lsb=0)
    nxt = g.fill(ring, 12, 8, 15)
    assert nxt == 4 and g.n == 8
    ref = _samples(GridModel(1000, 50, noise_lsb=0), 8)
    assert [ring[(12 + i) & 15] for i in range(8)] == ref


def test_scenario_params_and_due_samples():
    params = {"f_nom": 60, "f0": 60.0, "thd": True, "dc": 10, "seed": 4,
              "events": [["step", 0.1, -0.5], ["ramp", 0.2, 0.3, 1.0], ["jump", 0.05, 30],
                         ["sag", 0.4, 0.5, 0.5], ["dropout", 0.6, 0.7]]}
    g = GridModel.from_params(2000, params)
    assert g.f_nom == 60 and len(g.events) == 5 and len(g.harmonics) == 3
    assert g.freq_hz(400) == 59.5 and abs(g.freq_hz(700) - 59.6) < 1e-9
    assert g.scale(900) == 0.5 and g.scale(1300) == 0.0
    assert g.due(10) == 20
    _samples(g, 15)
    assert g.due(10) == 5
    try:
        GridModel(1000).apply([["flicker", 1]])
    except ValueError:
        pass
    else:
        raise AssertionError("unknown event accepted")
