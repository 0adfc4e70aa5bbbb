# firmware-vm
"""The link's cable and wear messages (issue 15): Lock, CableStatus, WearStatus and the
SetConfig keys 60-62."""

from firmware.app import lock, proximity
from firmware.link import messages as m
from tests.firmware.app.test_linkserver import Fw


def of(out, cls):
    return [x for x in out if isinstance(x, cls)]


def tick(fw, ms):
    for _ in range(ms // 10):
        fw.now += 10
        fw.c.host_alive(fw.now)
        fw.c.tick(fw.now)
        fw.s.poll(fw.now)


def test_lock_command_is_ordered_acked_and_applied():
    fw = Fw()
    fw.hello()
    out = fw.send(m.Lock(0), 2)
    ack = of(out, m.Ack)[0]
    assert ack.acked_type == m.Lock.TYPE and ack.acked_class == m.order_class(m.Lock(0))
    assert fw.c.lock_hold and fw.applied == [m.Lock(0)]
    fw.send(m.Lock(1), 3)
    assert not fw.c.lock_hold
    out = fw.send(m.Lock(0), 4, order=1)  # a late copy of the first: stale, not applied
    assert of(out, m.Nack)[0].reason == m.NACK_STALE and not fw.c.lock_hold


def test_lock_command_on_a_board_without_a_lock_is_bad_state():
    fw = Fw()
    fw.c.lock = None
    fw.hello()
    nack = of(fw.send(m.Lock(0), 2), m.Nack)[0]
    assert nack.reason == m.NACK_BAD_STATE and nack.acked_type == m.Lock.TYPE


def test_cable_and_wear_reports_on_change_and_with_telemetry():
    fw = Fw()
    fw.hello()
    fw.hal.set_pp(1500)
    fw.hal.set_cp(9000)
    fw.now += 10
    fw.replies()
    tick(fw, 200)
    out = fw.replies()
    cables = of(out, m.CableStatus)
    assert cables, out
    last = cables[-1]
    assert (last.pp_state, last.rating_da, last.button) == (proximity.OK, 130, 0)
    assert 1450 <= last.pp_ohms <= 1550 and last.lock == lock.LOCKED
    # a close and an open: a WearStatus after each
    fw.send(m.SetPilot(m.PILOT_PWM, 2000), 2)
    fw.send(m.PowerLease(1, 0, 130, 5000), 3)
    fw.hal.set_cp(6000)
    fw.hal.current = 13000
    tick(fw, 300)
    fw.hal.set_cp(9000)
    tick(fw, 50)
    wears = of(fw.replies(), m.WearStatus)
    assert [(w.operations, w.under_load) for w in wears][-2:] == [(1, 0), (1, 1)]
    assert wears[-1].min_gap_ms == 2000 and 0 < wears[-1].guard_ms <= 2000
    tick(fw, 1000)  # the telemetry period: both again
    out = fw.replies()
    assert of(out, m.Telemetry) and of(out, m.CableStatus) and of(out, m.WearStatus)


def test_cable_settings_over_the_link():
    fw = Fw()
    fw.hello()
    fw.send(m.SetConfig(m.CFG_MIN_GAP, 10000), 2)
    fw.send(m.SetConfig(m.CFG_F_UNLOCK, 5000), 3)
    fw.send(m.SetConfig(m.CFG_BUTTON_STOP, 800), 4)
    assert (fw.c.wear.min_gap_ms, fw.c.f_unlock_ms, fw.c.button_stop_ms) == (10000, 5000, 800)
    nack = of(fw.send(m.SetConfig(m.CFG_BUTTON_STOP, 400), 5), m.Nack)[0]
    assert (nack.reason, nack.field) == (m.NACK_OUT_OF_RANGE, 1) and fw.c.button_stop_ms == 800
