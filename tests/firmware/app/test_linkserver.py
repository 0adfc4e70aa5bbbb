# firmware-vm
"""The firmware side of the link: hello, ordered idempotent commands, Nacks that change
nothing."""

from firmware.app import faults, linkserver
from firmware.app.controller import Controller
from firmware.app.linkserver import LinkServer
from firmware.link import frame
from firmware.link import messages as m
from tests.firmware.vmcheck import FakeHal, board

V = m.PROTOCOL_VERSION


def ack_of(msg):
    """(acked type, frame seq) of an Ack, or the message itself (to fail a comparison)."""
    return (msg.acked_type, msg.acked_seq) if isinstance(msg, m.Ack) else msg


def nacks(out):
    """Each Nack as (acked type, frame seq, reason, field); other messages as they are."""
    return [(x.acked_type, x.acked_seq, x.reason, x.field) if isinstance(x, m.Nack) else x for x in out]


class Fw:
    """Our firmware's link server with a hand-driven host: `send` numbers each ordered
    command with the next order of its class in the epoch of the last Hello, unless
    told otherwise."""

    def __init__(self, grid=None, epoch=100):
        self.hal = FakeHal()
        self.now = 0
        self.c = Controller(self.hal, board(grid=grid), 0)
        self.s = LinkServer(self.c, b"test", 1, 0, epoch=epoch)
        self.s.data_to_send()
        self.applied = []
        self.s.on_applied = self.applied.append
        self.epoch = None
        self.orders = {}

    def wire(self, msg, seq, check=True, order=None, epoch=None):
        if not msg.ORDERED:
            return frame.pack(msg.encode(seq, check))
        k = m.order_class(msg)
        if order is None:
            order = self.orders.get(k, 0) + 1
        self.orders[k] = max(order, self.orders.get(k, 0))
        epoch = self.epoch if epoch is None else epoch
        return frame.pack(msg.encode(seq, check, epoch, order))

    def send(self, msg, seq, check=True, order=None, epoch=None):
        self.s.receive(self.wire(msg, seq, check, order, epoch), self.now)
        return self.replies()

    def raw(self, data):
        self.s.receive(data, self.now)
        return self.replies()

    def replies(self):
        r = frame.FrameReader()
        for chunk in self.s.data_to_send():
            r.feed(chunk)
        out = []
        while True:
            p = r.next_payload()
            if p is None:
                return out
            msg = m.decode(p)[1]
            if isinstance(msg, m.FirmwareHello):
                self.epoch = msg.epoch
                self.orders = {}
            out.append(msg)

    def hello(self, seq=1, session=1):
        return self.send(m.HostHello(V, V, session), seq)

    def state(self):
        c = self.c
        return (c.want_mode, c.want_duty, c.lease_allow, c.lease_da, c.lease_until,
                c.link_timeout_ms, c.safe_pilot, c.latched, c.contactor, c.last_rx)


def test_hello_answers_with_firmware_hello_and_status():
    fw = Fw()
    out = fw.hello()
    assert isinstance(out[0], m.FirmwareHello) and out[0].board == b"test"
    assert ack_of(out[1]) == (m.HostHello.TYPE, 1)
    assert isinstance(out[-1], m.Status)


def test_version_mismatch_is_nacked():
    fw = Fw()
    out = fw.send(m.HostHello(V + 1, V + 2, 1), 1)
    assert nacks(out) == [(m.HostHello.TYPE, 1, m.NACK_VERSION, 0xFF)]
    assert not fw.s.hello_done


def test_commands_before_hello_are_nacked():
    fw = Fw()
    out = fw.send(m.SetPilot(m.PILOT_PWM, 2666), 5, epoch=100)
    assert nacks(out) == [(m.SetPilot.TYPE, 5, m.NACK_NO_HELLO, 0xFF)]
    assert fw.c.want_mode == m.PILOT_X1


def test_command_is_acked_then_status_with_actual_state():
    fw = Fw()
    fw.hello()
    out = fw.send(m.SetPilot(m.PILOT_PWM, 2666), 2)
    assert ack_of(out[0]) == (m.SetPilot.TYPE, 2)
    assert isinstance(out[1], m.Status) and out[1].duty == 2666 and out[1].pilot_mode == m.PILOT_PWM
    assert (out[1].last_class, out[1].last_epoch, out[1].last_order) == (0, fw.epoch, 1)
    assert (out[0].acked_class, out[0].acked_epoch, out[0].acked_order) == (0, fw.epoch, 1)


def test_repeated_lease_is_acked_but_not_reapplied():
    fw = Fw()
    fw.hello()
    lease = fw.wire(m.PowerLease(1, 0, 160, 1000), 3)
    fw.s.receive(lease, fw.now)
    fw.replies()
    until = fw.c.lease_until
    fw.now = 400
    fw.s.receive(lease, fw.now)  # the same frame again (a retransmission)
    out = fw.replies()
    assert ack_of(out[0]) == (m.PowerLease.TYPE, 3)
    assert fw.c.lease_until == until  # a retransmission cannot extend the lease
    fw.send(m.PowerLease(1, 0, 160, 1000), 4)
    assert fw.c.lease_until == 1400
    assert len(fw.applied) == 2


def test_repeating_a_command_changes_nothing():
    fw = Fw()
    fw.hello()
    fw.send(m.SetPilot(m.PILOT_PWM, 2666), 2, order=1)
    before = fw.state()
    fw.send(m.SetPilot(m.PILOT_PWM, 2666), 2, order=1)
    fw.send(m.SetPilot(m.PILOT_PWM, 2666), 3, order=1)  # the order counts, not the seq
    assert fw.state() == before and len(fw.applied) == 1


def test_withdrawn_lease_never_comes_back():
    # PowerLease(allow=1) is lost, PowerLease(allow=0) is applied, then the first one's
    # retransmission (the very same frame) arrives: it must not grant the lease again
    fw = Fw()
    fw.hello()
    grant = fw.wire(m.PowerLease(1, 0, 160, 5000), 2)
    out = fw.send(m.PowerLease(0, 0, 0, 5000), 3)
    assert ack_of(out[0]) == (m.PowerLease.TYPE, 3) and fw.c.lease_allow == 0
    fw.now = 50
    fw.s.receive(grant, fw.now)
    assert nacks(fw.replies()) == [(m.PowerLease.TYPE, 2, m.NACK_STALE, 0xFF)]
    assert fw.c.lease_allow == 0 and fw.c.lease_da == 0
    assert [x.allow for x in fw.applied] == [0]


def test_classes_are_ordered_independently():
    fw = Fw()
    fw.hello()
    fw.send(m.SetConfig(m.CFG_LINK_TIMEOUT, 1500), 2, order=7)
    fw.send(m.SetPilot(m.PILOT_PWM, 2666), 3, order=1)  # another type: its own order
    fw.send(m.SetConfig(m.CFG_SAFE_PILOT, m.PILOT_X1), 4, order=1)  # another key: too
    assert fw.c.want_duty == 2666 and fw.c.safe_pilot == m.PILOT_X1
    out = fw.send(m.SetConfig(m.CFG_LINK_TIMEOUT, 800), 5, order=6)  # older, same key
    assert nacks(out) == [(m.SetConfig.TYPE, 5, m.NACK_STALE, 0xFF)]
    assert fw.c.link_timeout_ms == 1500 and len(fw.applied) == 3


def test_frame_seq_gap_and_wrap_do_not_order_commands():
    # heartbeats number frames too; tens of thousands between two leases (more than
    # half the 16-bit space, then across its wrap) must not make the newer one look
    # older, and the older one must not apply again after it
    fw = Fw()
    fw.hello()
    grant = fw.wire(m.PowerLease(1, 0, 160, 5000), 2)
    fw.s.receive(grant, fw.now)
    fw.replies()
    for seq in (40000, 0xFFFF, 0, 1):
        withdraw = fw.wire(m.PowerLease(0, 0, 0, 5000), seq)
        fw.s.receive(withdraw, fw.now)
        assert ack_of(fw.replies()[0]) == (m.PowerLease.TYPE, seq)
        fw.s.receive(grant, fw.now)
        assert fw.replies()[0].reason == m.NACK_STALE and fw.c.lease_allow == 0
    assert [x.allow for x in fw.applied] == [1, 0, 0, 0, 0]


def test_order_and_epoch_at_the_top_of_their_range():
    fw = Fw(epoch=0xFFFFFFFE)
    fw.hello()
    assert fw.epoch == 0xFFFFFFFF
    fw.send(m.SetPilot(m.PILOT_PWM, 2666), 2, order=0xFFFFFFFF)
    out = fw.send(m.SetPilot(m.PILOT_PWM, 1000), 3, order=1)
    assert out[0].reason == m.NACK_STALE and fw.c.want_duty == 2666
    old = fw.epoch
    fw.hello(seq=4, session=2)
    assert fw.epoch == 0  # wrapped: 2**32 Hellos after boot, never in service
    out = fw.send(m.SetPilot(m.PILOT_PWM, 1000), 5, order=1)
    assert ack_of(out[0]) == (m.SetPilot.TYPE, 5) and fw.c.want_duty == 1000
    out = fw.send(m.SetPilot(m.PILOT_PWM, 3000), 6, order=0xFFFFFFFF, epoch=old)
    assert out[0].reason == m.NACK_STALE and fw.c.want_duty == 1000
    out = fw.send(m.SetPilot(m.PILOT_PWM, 3000), 7, order=0)  # 0 is never newer
    assert out[0].reason == m.NACK_STALE and fw.c.want_duty == 1000


def test_a_new_hello_opens_a_new_epoch_and_refuses_the_old_one():
    fw = Fw()
    fw.hello(seq=1, session=5)
    first = fw.epoch
    old_grant = fw.wire(m.PowerLease(1, 0, 160, 5000), 2)
    fw.s.receive(old_grant, fw.now)
    fw.replies()
    fw.hello(seq=1, session=5)  # the same HostHello again: the same epoch, orders kept
    assert fw.epoch == first
    fw.s.receive(old_grant, fw.now)
    assert ack_of(fw.replies()[0]) == (m.PowerLease.TYPE, 2) and len(fw.applied) == 1
    fw.hello(seq=1, session=6)  # a new host or session (whatever its seq): a new epoch
    assert fw.epoch == first + 1
    out = fw.send(m.PowerLease(0, 0, 0, 5000), 10, order=1)
    assert ack_of(out[0]) == (m.PowerLease.TYPE, 10) and fw.c.lease_allow == 0
    fw.s.receive(old_grant, fw.now)  # the old host's grant, replayed
    assert fw.replies()[0].reason == m.NACK_STALE and fw.c.lease_allow == 0
    assert [x.allow for x in fw.applied] == [1, 0]


def test_each_boot_starts_its_epochs_somewhere_new():
    c = Controller(FakeHal(), board(), 0)
    epochs = set(LinkServer(c, b"x", 1, 0).epoch for _ in range(8))
    assert len(epochs) > 1


class _Poorer:
    """The port without `random` (and maybe without os.urandom): linkserver's entropy
    sources replaced for the duration."""

    def __init__(self, urandom):
        self.urandom = urandom

    def __enter__(self):
        self.saved = (linkserver.getrandbits, getattr(linkserver, "urandom", None))
        linkserver.getrandbits = None
        linkserver.urandom = self.urandom
        return self

    def __exit__(self, *exc):
        linkserver.getrandbits, linkserver.urandom = self.saved


def test_without_random_the_epoch_comes_from_urandom():
    draws = [b"\x01\x02\x03\x04", b"\xfe\xff\x00\x80"]
    with _Poorer(lambda n: draws.pop(0)[:n]):
        c = Controller(FakeHal(), board(), 0)
        assert LinkServer(c, b"x", 1, 0).epoch == 0x04030201
        s = LinkServer(c, b"x", 1, 0)
    assert s.epoch == 0x8000FFFE and not s.no_entropy


def test_without_any_random_source_the_link_is_refused():
    # each boot would start at the same epoch: a grant recorded in the first session
    # of an earlier boot (epoch 1, order 1) would apply in the first one after a reboot
    fw = Fw()
    with _Poorer(None):
        fw.c = Controller(FakeHal(), board(), 0)
        fw.s = LinkServer(fw.c, b"test", 1, 0)  # the reboot
        fw.s.on_applied = fw.applied.append
    boot = fw.replies()
    assert isinstance(boot[0], m.FirmwareHello)
    out = fw.hello(seq=3, session=2)
    grant = fw.wire(m.PowerLease(1, 0, 160, 5000), 2, order=1, epoch=1)
    fw.s.receive(grant, fw.now)
    answer = fw.replies()
    assert fw.c.lease_allow == 0 and fw.applied == []
    assert nacks(out) == [(m.HostHello.TYPE, 3, m.NACK_NO_ENTROPY, 0xFF)]
    assert nacks(answer) == [(m.PowerLease.TYPE, 2, m.NACK_NO_HELLO, 0xFF)]
    assert m.NACK_NAMES[m.NACK_NO_ENTROPY] == "no-entropy" and fw.s.no_entropy


def test_bad_input_is_nacked_counted_and_changes_nothing():
    fw = Fw()
    fw.hello()
    fw.send(m.SetPilot(m.PILOT_PWM, 2666), 2, order=2)
    before = fw.state()
    bad = (
        (m.SetPilot(m.PILOT_PWM, 15000), m.NACK_OUT_OF_RANGE, 1),
        (m.SetPilot(m.PILOT_PWM, 2000), m.NACK_STALE, 0xFF),
        (m.PowerLease(1, 0, 160, 0), m.NACK_OUT_OF_RANGE, 3),
        (m.PowerLease(1, 0, 0xFFF6, 1000), m.NACK_OUT_OF_RANGE, 2),
        (m.SetConfig(m.CFG_LINK_TIMEOUT, 100), m.NACK_OUT_OF_RANGE, 1),
        (m.SetConfig(99, 1), m.NACK_BAD_KEY, 0),
        (m.Ack(1, 1, 0, 0, 0), m.NACK_UNKNOWN_TYPE, 0xFF),
    )
    fw.now = 100
    seq = 10
    for msg, reason, field in bad:
        seq += 1
        order = 1 if reason == m.NACK_STALE else None  # older than the applied one
        out = fw.send(msg, seq, check=False, order=order)
        assert nacks(out) == [(msg.TYPE, seq, reason, field)], (msg, out)
    assert fw.state() == before
    assert fw.s.nacks == len(bad)


def test_unknown_type_and_garbage():
    fw = Fw()
    fw.hello()
    before = fw.state()
    out = fw.raw(frame.pack(b"\x7e\x05\x00abc"))
    assert nacks(out) == [(0x7E, 5, m.NACK_UNKNOWN_TYPE, 0xFF)]
    out = fw.raw(b"\xff\x13\x37garbage\x00\x00\x02\x00")
    assert out == []  # not a frame: dropped and counted, nothing to answer
    assert fw.s.reader.total_dropped() >= 1
    assert fw.state() == before


def test_config_applies():
    fw = Fw()
    fw.hello()
    fw.send(m.SetConfig(m.CFG_LINK_TIMEOUT, 1500), 2)
    fw.send(m.SetConfig(m.CFG_SAFE_PILOT, m.PILOT_X1), 3)
    assert fw.c.link_timeout_ms == 1500 and fw.c.safe_pilot == m.PILOT_X1


def test_failsafe_reason_is_reported_after_the_host_comes_back():
    fw = Fw()
    fw.hello()
    for t in range(10, 700, 10):
        fw.now = t
        fw.c.tick(t)
        fw.s.poll(t)
    sent = fw.replies()
    faults_sent = [x for x in sent if isinstance(x, m.Fault)]
    assert faults_sent and faults_sent[0].code == 10  # sent into the void at the time
    out = fw.hello()
    kinds = [type(x) for x in out]
    assert kinds[:4] == [m.FirmwareHello, m.Ack, m.Fault, m.Status]
    assert out[2].code == 10 and 500 <= out[2].detail_ms <= 510
    assert out[3].safe_reason == 10
    fw.send(m.Reset(m.RESET_CLEAR_FAULTS), 2)
    assert fw.c.safe_reason() == 0
    assert [type(x) for x in fw.hello()] == [m.FirmwareHello, m.Ack, m.Status]


def test_clear_failsafe_clears_only_the_hosts_own_latches():
    fw = Fw()
    fw.hello()
    fw.send(m.PowerLease(1, 0, 160, 100), 2)
    for t in range(10, 700, 10):
        fw.now = t
        # the E-stop pressed, then released: latched until an operator clears it
        fw.hal.estop_on = 200 <= t < 250
        fw.c.tick(t)
    fw.hal.feedback = True  # contacts stuck closed with the coil released: a weld
    fw.c._raise(faults.CONTACTOR_WELD, 0, fw.now)
    mine = faults.LINK_TIMEOUT | faults.LEASE_EXPIRED
    assert fw.c.latched & mine == mine
    out = fw.send(m.Reset(m.RESET_CLEAR_FAILSAFE), 3)
    assert ack_of(out[0]) == (m.Reset.TYPE, 3)
    assert fw.c.latched & mine == 0
    assert fw.c.latched & faults.ESTOP and fw.c.latched & faults.CONTACTOR_WELD
    assert out[1].safe_reason == 40 and out[1].pilot_mode == m.PILOT_F
    fw.send(m.Reset(m.RESET_CLEAR_FAULTS), 4)  # the operator: the E-stop is released,
    assert fw.c.latched == faults.CONTACTOR_WELD  # the weld is still there
    assert fw.c.safe_reason() == 92


def test_reboot_request():
    fw = Fw()
    fw.hello()
    out = fw.send(m.Reset(m.RESET_REBOOT), 2)
    assert ack_of(out[0]) == (m.Reset.TYPE, 2) and fw.s.reboot_requested


def test_voltage_trip_settings_are_nacked_precisely():
    fw = Fw(grid=True)
    fw.hello()
    cases = (
        (m.SetConfig(m.CFG_OV1_MS, 5), m.NACK_OUT_OF_RANGE),  # the key's own range
        (m.SetConfig(m.CFG_UV1_PM, 400), m.NACK_CONFLICT),  # below UV2's 0.45 pu
        (m.SetConfig(m.CFG_OV1_MS, 100), m.NACK_CONFLICT),  # faster than OV2
    )
    seq = 10
    for msg, reason in cases:
        seq += 1
        out = fw.send(msg, seq, check=False)
        assert nacks(out) == [(m.SetConfig.TYPE, seq, reason, 1)], (msg, out)
    seq += 1
    out = fw.send(m.SetConfig(m.CFG_OV1_MS, 1000), seq)
    assert ack_of(out[0]) == (m.SetConfig.TYPE, seq)
    assert fw.c.guard.v_trips[2][3] == 1000


def test_power_lease_reports_its_capped_power():
    fw = Fw()
    fw.hello()
    out = fw.send(m.PowerLease(1, 0, 160, 1000, 50000), 2)  # 50 kW: above the rating
    assert ack_of(out[0]) == (m.PowerLease.TYPE, 2)
    assert out[1].limit_w == 7360 and fw.c.lease_w == 50000  # the sim board's 32 A * 230 V
    out = fw.send(m.PowerLease(1, 0, 160, 1000, 4000), 3)
    assert out[1].limit_w == 4000
    out = fw.send(m.PowerLease(1, 0, 160, 1000), 4)  # an AC lease: current only
    assert out[1].limit_w == 0 and out[1].limit_da == 160


def test_power_against_the_lease_direction_is_a_conflict_and_changes_nothing():
    fw = Fw()
    fw.hello()
    before = fw.state()
    for seq, lease in ((2, m.PowerLease(1, 0, 160, 1000, -5000)),  # discharge, no export
                       (3, m.PowerLease(1, 1, 160, 1000, 5000))):  # charge on an export lease
        out = fw.send(lease, seq)
        assert nacks(out) == [(m.PowerLease.TYPE, seq, m.NACK_CONFLICT, 4)], out
    assert fw.state() == before and fw.c.lease_w == 0 and not fw.applied
    out = fw.send(m.PowerLease(1, 1, 160, 1000, -5000), 4)  # discharge with export: taken
    assert ack_of(out[0]) == (m.PowerLease.TYPE, 4) and out[1].limit_w == -5000
    # a withdrawal is never refused, whatever its power field says
    out = fw.send(m.PowerLease(0, 0, 0, 1000, -5000), 5)
    assert ack_of(out[0]) == (m.PowerLease.TYPE, 5) and fw.c.lease_allow == 0
    assert out[1].limit_w == 0


def test_a_withdrawn_power_lease_never_comes_back():
    fw = Fw()
    fw.hello()
    grant = fw.wire(m.PowerLease(1, 1, 160, 5000, -5000), 2, order=1)
    fw.raw(grant)
    assert fw.c.limit_w() == -5000
    fw.send(m.PowerLease(0, 0, 0, 5000), 3, order=2)
    assert fw.c.limit_w() == 0
    out = fw.raw(grant)  # a late copy of the grant: the same class, an older order
    assert nacks(out) == [(m.PowerLease.TYPE, 2, m.NACK_STALE, 0xFF)], out
    assert fw.c.limit_w() == 0 and fw.c.lease_allow == 0


def test_thermal_limit_key_never_above_the_board():
    fw = Fw()
    fw.hello()
    out = fw.send(m.SetConfig(m.CFG_MAX_TEMP, 901), 2)  # the sim board's limit is 90.0 C
    assert nacks(out) == [(m.SetConfig.TYPE, 2, m.NACK_OUT_OF_RANGE, 1)], out
    assert fw.c.foldback.limit_dc == 900
    out = fw.send(m.SetConfig(m.CFG_MAX_TEMP, 1600), 3, check=False)  # the key's own range
    assert nacks(out) == [(m.SetConfig.TYPE, 3, m.NACK_OUT_OF_RANGE, 1)], out
    out = fw.send(m.SetConfig(m.CFG_MAX_TEMP, 750), 4)  # MAX_TEMP_CELSIUS=75
    assert ack_of(out[0]) == (m.SetConfig.TYPE, 4) and fw.c.foldback.limit_dc == 750


def test_grid_settings_over_the_link():
    fw = Fw(grid=True)
    fw.hello()
    cases = (
        (m.SetConfig(m.CFG_OF2_MS, 5), m.NACK_OUT_OF_RANGE),  # the key's own range
        (m.SetConfig(m.CFG_OF1_MHZ, 49000), m.NACK_CONFLICT),  # OF1 below 50 Hz
        (m.SetConfig(m.CFG_VW_V2, 1065), m.NACK_CONFLICT),  # less than 0.01 pu above V1
        (m.SetConfig(m.CFG_ENTER_F_MAX, 50000), m.NACK_CONFLICT),  # nominal outside
    )
    seq = 10
    for msg, reason in cases:
        seq += 1
        out = fw.send(msg, seq, check=False)
        assert nacks(out) == [(m.SetConfig.TYPE, seq, reason, 1)], (msg, out)
    for key, value in ((m.CFG_VW_ENABLE, 1), (m.CFG_OF1_MHZ, 51000),
                       (m.CFG_DROOP_RESP, 2000), (m.CFG_ENTER_RAMP, 60000)):
        seq += 1
        out = fw.send(m.SetConfig(key, value), seq)
        assert ack_of(out[0]) == (m.SetConfig.TYPE, seq), (key, out)
    c = fw.c
    assert c.vw_on and c.droop.tau_ms == 2000 * 10000 // 23026 and c.guard.ramp_ms == 60000
    from firmware.app import gridfunc

    assert (gridfunc.OF1, 51000) in [(t[0], t[2]) for t in c.guard.trips]
    nogrid = Fw()
    nogrid.hello()
    out = nogrid.send(m.SetConfig(m.CFG_VW_ENABLE, 1), 2)
    assert nacks(out) == [(m.SetConfig.TYPE, 2, m.NACK_BAD_STATE, 0)], out

def test_a_refused_command_still_takes_its_order():
    # order 2 replaced order 1 and was refused; order 1, arriving late, was then applied
    # after it (a newer one of its class): it must be stale, and a repeat of order 2
    # gets the same refusal, never an Ack
    fw = Fw()
    fw.hello()
    before = fw.c.link_timeout_ms
    late = fw.wire(m.SetConfig(m.CFG_LINK_TIMEOUT, 300), 2, order=1)
    refused = fw.wire(m.SetConfig(m.CFG_LINK_TIMEOUT, 5000), 3, order=2)
    fw.s.receive(refused, fw.now)
    assert nacks(fw.replies()) == [(m.SetConfig.TYPE, 3, m.NACK_OUT_OF_RANGE, 1)]
    fw.s.receive(late, fw.now)
    assert nacks(fw.replies()) == [(m.SetConfig.TYPE, 2, m.NACK_STALE, 0xFF)]
    fw.s.receive(refused, fw.now)
    assert nacks(fw.replies()) == [(m.SetConfig.TYPE, 3, m.NACK_OUT_OF_RANGE, 1)]
    assert fw.c.link_timeout_ms == before and fw.applied == []
    out = fw.send(m.SetConfig(m.CFG_LINK_TIMEOUT, 800), 4, order=3)  # a newer one applies
    assert ack_of(out[0]) == (m.SetConfig.TYPE, 4) and fw.c.link_timeout_ms == 800


def test_a_grid_conflict_still_takes_its_order():
    fw = Fw(grid=True)
    fw.hello()
    before = fw.c.guard.v_trips[2][3]
    late = fw.wire(m.SetConfig(m.CFG_OV1_MS, 1000), 2, order=1)
    out = fw.send(m.SetConfig(m.CFG_OV1_MS, 100), 3, order=2)  # faster than OV2
    assert nacks(out) == [(m.SetConfig.TYPE, 3, m.NACK_CONFLICT, 1)]
    fw.s.receive(late, fw.now)
    assert nacks(fw.replies()) == [(m.SetConfig.TYPE, 2, m.NACK_STALE, 0xFF)]
    assert fw.c.guard.v_trips[2][3] == before and fw.applied == []


def test_answers_name_the_command_by_class_epoch_and_order():
    # a frame number recurs (16 bits, a restarted host): the answers say which command
    fw = Fw()
    fw.hello()
    k = m.order_class(m.SetConfig(m.CFG_SAFE_PILOT, m.PILOT_X1))
    out = fw.send(m.SetConfig(m.CFG_SAFE_PILOT, m.PILOT_X1), 7, order=5)
    assert (out[0].acked_class, out[0].acked_epoch, out[0].acked_order) == (k, fw.epoch, 5)
    assert (out[1].last_class, out[1].last_epoch, out[1].last_order) == (k, fw.epoch, 5)
    out = fw.send(m.SetConfig(m.CFG_SAFE_PILOT, m.PILOT_F), 7, order=4)
    assert (out[0].acked_class, out[0].acked_epoch, out[0].acked_order) == (k, fw.epoch, 4)
    out = fw.send(m.SetConfig(m.CFG_SAFE_PILOT, m.PILOT_F), 8, order=6, epoch=fw.epoch + 1)
    assert (out[0].reason, out[0].acked_class, out[0].acked_epoch) == (m.NACK_STALE, k, fw.epoch + 1)
    out = fw.raw(frame.pack(b"\x7e\x05\x00abc"))  # not a command: names none
    assert (out[0].acked_class, out[0].acked_epoch, out[0].acked_order) == (m.NO_CLASS, 0, 0)
    hello = fw.hello(seq=9, session=77)
    assert (hello[1].acked_class, hello[1].acked_epoch) == (m.NO_CLASS, fw.epoch)
