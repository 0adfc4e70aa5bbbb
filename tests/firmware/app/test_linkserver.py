# firmware-vm
"""The firmware side of the link: hello, idempotent commands, Nacks that change nothing."""

from firmware.app import faults
from firmware.app.controller import Controller
from firmware.app.linkserver import LinkServer
from firmware.link import frame
from firmware.link import messages as m
from tests.firmware.vmcheck import FakeHal, board


class Fw:
    def __init__(self):
        self.hal = FakeHal()
        self.now = 0
        self.c = Controller(self.hal, board(), 0)
        self.s = LinkServer(self.c, b"test", 1, 0)
        self.s.data_to_send()

    def send(self, msg, seq, check=True):
        self.s.receive(frame.pack(msg.encode(seq, check)), self.now)
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
            out.append(m.decode(p)[1])

    def hello(self):
        return self.send(m.HostHello(1, 1), 1)

    def state(self):
        c = self.c
        return (c.want_mode, c.want_duty, c.lease_allow, c.lease_da, c.lease_until,
                c.link_timeout_ms, c.safe_pilot, c.latched, c.contactor, c.last_rx)


def test_hello_answers_with_firmware_hello_and_status():
    fw = Fw()
    out = fw.hello()
    assert isinstance(out[0], m.FirmwareHello) and out[0].board == b"test"
    assert out[1] == m.Ack(m.HostHello.TYPE, 1)
    assert isinstance(out[-1], m.Status)


def test_version_mismatch_is_nacked():
    fw = Fw()
    out = fw.send(m.HostHello(2, 3), 1)
    assert out == [m.Nack(m.HostHello.TYPE, 1, m.NACK_VERSION, 0xFF)]
    assert not fw.s.hello_done


def test_commands_before_hello_are_nacked():
    fw = Fw()
    out = fw.send(m.SetPilot(m.PILOT_PWM, 2666), 5)
    assert out == [m.Nack(m.SetPilot.TYPE, 5, m.NACK_NO_HELLO, 0xFF)]
    assert fw.c.want_mode == m.PILOT_X1


def test_command_is_acked_then_status_with_actual_state():
    fw = Fw()
    fw.hello()
    out = fw.send(m.SetPilot(m.PILOT_PWM, 2666), 2)
    assert out[0] == m.Ack(m.SetPilot.TYPE, 2)
    assert isinstance(out[1], m.Status) and out[1].duty == 2666 and out[1].pilot_mode == m.PILOT_PWM
    assert out[1].last_seq == 2


def test_repeated_lease_is_acked_but_not_reapplied():
    fw = Fw()
    fw.hello()
    fw.send(m.PowerLease(1, 0, 160, 1000), 3)
    until = fw.c.lease_until
    fw.now = 400
    out = fw.send(m.PowerLease(1, 0, 160, 1000), 3)
    assert out[0] == m.Ack(m.PowerLease.TYPE, 3)
    assert fw.c.lease_until == until  # a retransmission cannot extend the lease
    fw.send(m.PowerLease(1, 0, 160, 1000), 4)
    assert fw.c.lease_until == 1400


def test_repeating_a_command_changes_nothing():
    fw = Fw()
    fw.hello()
    fw.send(m.SetPilot(m.PILOT_PWM, 2666), 2)
    before = fw.state()
    fw.send(m.SetPilot(m.PILOT_PWM, 2666), 2)
    fw.send(m.SetPilot(m.PILOT_PWM, 2666), 3)
    assert fw.state() == before


def test_bad_input_is_nacked_counted_and_changes_nothing():
    fw = Fw()
    fw.hello()
    fw.send(m.SetPilot(m.PILOT_PWM, 2666), 2)
    before = fw.state()
    bad = (
        (m.SetPilot(m.PILOT_PWM, 15000), m.NACK_OUT_OF_RANGE, 1),
        (m.PowerLease(1, 0, 160, 0), m.NACK_OUT_OF_RANGE, 3),
        (m.PowerLease(1, 0, 0xFFF6, 1000), m.NACK_OUT_OF_RANGE, 2),
        (m.SetConfig(m.CFG_LINK_TIMEOUT, 100), m.NACK_OUT_OF_RANGE, 1),
        (m.SetConfig(99, 1), m.NACK_BAD_KEY, 0),
        (m.Ack(1, 1), m.NACK_UNKNOWN_TYPE, 0xFF),
    )
    fw.now = 100
    seq = 10
    for msg, reason, field in bad:
        seq += 1
        out = fw.send(msg, seq, check=False)
        assert out == [m.Nack(msg.TYPE, seq, reason, field)], (msg, out)
    assert fw.state() == before
    assert fw.s.nacks == len(bad)


def test_unknown_type_and_garbage():
    fw = Fw()
    fw.hello()
    before = fw.state()
    out = fw.raw(frame.pack(b"\x7e\x05\x00abc"))
    assert out == [m.Nack(0x7E, 5, m.NACK_UNKNOWN_TYPE, 0xFF)]
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
    assert out[0] == m.Ack(m.Reset.TYPE, 3)
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
    assert out[0] == m.Ack(m.Reset.TYPE, 2) and fw.s.reboot_requested


def test_voltage_trip_settings_are_nacked_precisely():
    fw = Fw()
    fw.c = Controller(fw.hal, board(grid=True), 0)
    fw.s = LinkServer(fw.c, b"test", 1, 0)
    fw.s.data_to_send()
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
        assert out == [m.Nack(m.SetConfig.TYPE, seq, reason, 1)], (msg, out)
    seq += 1
    out = fw.send(m.SetConfig(m.CFG_OV1_MS, 1000), seq)
    assert out[0] == m.Ack(m.SetConfig.TYPE, seq)
    assert fw.c.guard.v_trips[2][3] == 1000
