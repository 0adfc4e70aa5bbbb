"""Command ordering end to end: LinkClient and LinkServer with fake time (issue #10,
items 1 and 2). Each test is a sequence that re-granted a withdrawn lease, lost a
command or never came back on the link of protocol version 1."""

from __future__ import annotations

from firmware.link import frame
from firmware.link import messages as m
from host.link import events as ev
from host.link.protocol import LinkClient
from tests.host.link.test_protocol import Pair, connected

GRANT = m.PowerLease(1, 0, 160, 10000)
WITHDRAW = m.PowerLease(0, 0, 0, 10000)


def leases(p: Pair) -> list[int]:
    return [x.allow for x in p.applied if isinstance(x, m.PowerLease)]


def frames_of(p: Pair, kind: type) -> list[bytes]:
    """The host's frames of one message type, oldest first."""
    out = []
    for chunk in p.sent:
        r = frame.FrameReader()
        r.feed(chunk)
        while (payload := r.next_payload()) is not None:
            if payload[0] == kind.TYPE:
                out.append(frame.pack(payload))
    return out


def replay(p: Pair, wire: bytes) -> list[m.Message]:
    """Hand the firmware an old frame again; its answers."""
    p.fw.receive(wire, p.ms())
    r = frame.FrameReader()
    for chunk in p.fw.data_to_send():
        r.feed(chunk)
    out = []
    while (payload := r.next_payload()) is not None:
        out.append(m.decode(payload)[1])
    return out


def test_lost_grant_then_withdraw_never_reenables() -> None:
    p = connected()
    p.drop_to_fw = 1
    grant = p.host.send(GRANT, p.t)
    p.pump()  # the grant is lost
    withdraw = p.host.send(WITHDRAW, p.t)
    p.pump()
    p.advance(1.0)  # retransmission time for anything still pending
    assert p.ctrl.lease_allow == 0 and leases(p) == [0]
    sup = p.of(ev.CommandSuperseded)
    assert sup == [ev.CommandSuperseded(grant, GRANT, withdraw)]
    assert [e.seq for e in p.of(ev.CommandAcked)] == [withdraw]
    # and the grant's frame itself, should the line deliver it late, is refused
    answer = replay(p, frames_of(p, m.PowerLease)[0])
    assert isinstance(answer[0], m.Nack) and answer[0].reason == m.NACK_STALE
    assert p.ctrl.lease_allow == 0 and leases(p) == [0]


def test_more_than_half_the_frame_numbers_between_two_leases() -> None:
    p = connected(LinkClient(seq=0))
    p.host.send(GRANT, p.t)
    p.pump()
    first_seq = p.host._seq
    # 33,000 heartbeats (> 32,768 frame numbers) go by, 55 minutes of them; the
    # firmware sees them all, the host hears one answer in ten (enough to stay up)
    for i in range(33000):
        timer = p.host.get_timer()
        assert timer is not None
        p.t = timer
        p.host.handle_timer(p.t)
        for chunk in p.host.data_to_send():
            p.fw.receive(chunk, p.ms())
        answers = p.fw.data_to_send()
        if i % 10 == 0:
            p.host.receive(b"".join(answers), p.t)
    assert p.host.connected and (p.host._seq - first_seq) & 0xFFFF == 33000
    withdraw = p.host.send(WITHDRAW, p.t)
    p.pump()
    assert p.of(ev.CommandAcked)[-1].seq == withdraw and p.ctrl.lease_allow == 0
    answer = replay(p, frames_of(p, m.PowerLease)[0])  # the grant, replayed
    assert isinstance(answer[0], m.Nack) and p.ctrl.lease_allow == 0
    assert leases(p) == [1, 0]


def test_a_restarted_host_is_obeyed_and_the_old_ones_frames_are_not() -> None:
    p = connected(LinkClient(seq=0))
    p.host.send(GRANT, p.t)
    p.pump()
    assert p.ctrl.lease_allow == 1
    old_grant = frames_of(p, m.PowerLease)[0]
    # the host restarts: its counters start again (here: on the very same numbers)
    p.host = LinkClient(seq=0)
    p.host.connect(p.t)
    p.pump()
    withdraw = p.host.send(WITHDRAW, p.t)
    p.pump()
    assert p.of(ev.CommandAcked)[-1].seq == withdraw
    assert p.ctrl.lease_allow == 0 and leases(p) == [1, 0]
    answer = replay(p, old_grant)
    assert isinstance(answer[0], m.Nack) and answer[0].reason == m.NACK_STALE
    assert p.ctrl.lease_allow == 0 and leases(p) == [1, 0]


def test_frame_numbers_wrap_under_commands() -> None:
    p = connected(LinkClient(seq=0xFFF0))
    duties = list(range(1000, 1000 + 40 * 10, 10))
    for duty in duties:
        seq = p.host.send(m.SetPilot(m.PILOT_PWM, duty), p.t)
        p.advance(0.02)
        assert p.of(ev.CommandAcked)[-1].seq == seq and p.ctrl.want_duty == duty
    assert [x.duty for x in p.applied] == duties  # each once, in order, across 0xFFFF -> 0
    assert p.host._seq < 0xFFF0  # it did wrap


def test_order_counter_at_its_end_opens_a_new_epoch() -> None:
    p = connected()
    first = p.host.epoch
    klass = m.order_class(m.SetPilot(m.PILOT_PWM, 1000))
    p.host._orders[klass] = m.ORDER_MAX - 1  # as if 2**32 - 2 SetPilots had gone out
    p.host.send(m.SetPilot(m.PILOT_PWM, 1000), p.t)
    p.pump()
    assert p.applied[-1].order == m.ORDER_MAX and p.ctrl.want_duty == 1000
    seq = p.host.send(m.SetPilot(m.PILOT_PWM, 2000), p.t)
    p.pump()
    assert p.host.epoch == (first or 0) + 1 and p.applied[-1].order == 1
    assert p.of(ev.CommandAcked)[-1].seq == seq and p.ctrl.want_duty == 2000
    assert len(p.of(ev.LinkUp)) == 1  # the same link, a new epoch


def test_nack_of_another_type_does_not_end_the_pending_command() -> None:
    p = connected()
    p.drop_to_fw = 1
    seq = p.host.send(m.SetPilot(m.PILOT_PWM, 2666), p.t)
    p.pump()
    wire_seq, pilot = m.decode(_payload(frames_of(p, m.SetPilot)[0]))
    # a Nack with that frame number and order but for another type (an old frame's
    # answer, or a garbled one): not an answer to our SetPilot
    nack = m.Nack(m.PowerLease.TYPE, wire_seq, m.NACK_OUT_OF_RANGE, 3, m.order_class(pilot), pilot.epoch, pilot.order)
    p.host.receive(frame.pack(nack.encode(9)), p.t)
    p.advance(0.2)
    assert [e.seq for e in p.of(ev.CommandAcked)] == [seq] and p.ctrl.want_duty == 2666
    assert not p.of(ev.CommandRejected)


def _payload(wire: bytes) -> bytes:
    r = frame.FrameReader()
    r.feed(wire)
    got = r.next_payload()
    assert got is not None
    return got


def test_a_stray_hello_moves_the_epoch_and_the_command_still_goes_through() -> None:
    p = connected()
    first = p.host.epoch
    stray = frame.pack(m.HostHello(m.PROTOCOL_VERSION, m.PROTOCOL_VERSION, 7).encode(0x1234))
    p.fw.receive(stray, p.ms())  # e.g. a replayed Hello: the firmware opens another epoch
    seq = p.host.send(m.SetPilot(m.PILOT_PWM, 2666), p.t)
    p.advance(0.3)
    assert p.host.epoch not in (None, first) and p.host.connected
    assert p.of(ev.CommandAcked)[-1].seq == seq and p.ctrl.want_duty == 2666
    assert not p.of(ev.CommandRejected)


def test_command_sent_while_the_firmware_reboots_is_applied_after() -> None:
    p = connected()
    p.reboot_firmware()
    seq = p.host.send(m.SetPilot(m.PILOT_PWM, 2666), p.t)  # before the host heard of it
    p.advance(0.3)
    assert p.of(ev.CommandAcked)[-1].seq == seq and p.ctrl.want_duty == 2666
    assert len(p.of(ev.LinkUp)) == 2 and not p.of(ev.CommandRejected)


def test_commands_wait_for_the_link_and_only_the_newest_goes() -> None:
    p = Pair()
    a = p.host.send(m.SetPilot(m.PILOT_PWM, 1000), p.t)
    b = p.host.send(m.SetPilot(m.PILOT_PWM, 2000), p.t)
    c = p.host.send(m.SetConfig(m.CFG_SAFE_PILOT, m.PILOT_X1), p.t)  # another class
    p.host.connect(p.t)
    p.pump()
    assert p.of(ev.CommandSuperseded) == [ev.CommandSuperseded(a, m.SetPilot(m.PILOT_PWM, 1000), b)]
    assert sorted(e.seq for e in p.of(ev.CommandAcked)) == [b, c]
    assert [type(x).__name__ for x in p.applied] == ["SetPilot", "SetConfig"]
    assert p.ctrl.want_duty == 2000


def outage(seconds: float) -> None:
    p = connected()
    p.drop_to_fw = p.drop_to_host = 10**9  # the line is cut both ways
    p.advance(seconds, step=0.05)
    assert len(p.of(ev.LinkDown)) == 1
    p.drop_to_fw = p.drop_to_host = 0
    p.advance(0.6)  # at most one hello_retry_s later the link is back by itself
    assert len(p.of(ev.LinkUp)) == 2 and p.host.connected
    seq = p.host.send(m.SetPilot(m.PILOT_PWM, 2666), p.t)
    p.advance(0.1)
    assert p.of(ev.CommandAcked)[-1].seq == seq and p.ctrl.want_duty == 2666


def test_link_comes_back_after_a_2_s_outage() -> None:
    outage(2.0)


def test_link_comes_back_after_a_60_s_outage() -> None:
    outage(60.0)


def test_hello_goes_out_every_hello_retry_s_while_down() -> None:
    p = connected(LinkClient(hello_retry_s=0.25))
    p.drop_to_fw = p.drop_to_host = 10**9
    p.advance(2.0)
    down_at = p.t
    start = len(frames_of(p, m.HostHello))
    p.advance(2.0)
    assert p.of(ev.LinkDown) and down_at >= 1.5
    assert len(frames_of(p, m.HostHello)) - start == 8


def test_no_command_ends_without_an_event_when_the_port_goes() -> None:
    p = Pair()
    seq = p.host.send(m.SetPilot(m.PILOT_PWM, 2666), p.t)  # waits: the link is not up
    p.host.lost("port closed")
    p.pump()
    assert [(type(e), e.seq) for e in p.events if hasattr(e, "seq")] == [(ev.CommandTimedOut, seq)]


def test_each_reset_kind_and_config_key_is_its_own_class() -> None:
    p = connected()
    sent = [p.host.send(msg, p.t) for msg in (
        m.Reset(m.RESET_CLEAR_FAULTS), m.Reset(m.RESET_REBOOT),
        m.SetConfig(m.CFG_SAFE_PILOT, m.PILOT_X1), m.SetConfig(m.CFG_TELEMETRY_PERIOD, 500),
    )]
    p.pump()
    assert not p.of(ev.CommandSuperseded)
    assert sorted(e.seq for e in p.of(ev.CommandAcked)) == sent
    assert p.fw.reboot_requested and p.ctrl.safe_pilot == m.PILOT_X1 and p.fw.telemetry_ms == 500


def ends(p: Pair, seq: int) -> list[ev.Event]:
    """How the command send() numbered `seq` ended (every event that ends one)."""
    kinds = (ev.CommandAcked, ev.CommandRejected, ev.CommandTimedOut, ev.CommandSuperseded)
    return [e for e in p.events if isinstance(e, kinds) and e.seq == seq]


def _answers_of(p: Pair, *kinds: type) -> list[bytes]:
    """The firmware's frames of these types, oldest first."""
    out = []
    for chunk in p.answers:
        r = frame.FrameReader()
        r.feed(chunk)
        while (payload := r.next_payload()) is not None:
            if payload[0] in [k.TYPE for k in kinds]:
                out.append(frame.pack(payload))
    return out


def test_old_answers_replayed_to_a_restarted_host_complete_nothing() -> None:
    # Ack and Status named a command only by its frame number and type: a restarted host
    # whose frame numbers repeat took the old grant's Ack and Status, replayed, for its
    # own withdrawal, which the firmware never received (it still had allow=1)
    p = connected(LinkClient(seq=100))
    p.host.send(GRANT, p.t)
    p.pump()
    old = _answers_of(p, m.Ack, m.Status)
    grant_seq = m.decode(_payload(frames_of(p, m.PowerLease)[0]))[0]
    p.host = LinkClient(seq=100)  # restarted; its counter starts where the old one did
    p.host.connect(p.t)
    p.pump()
    p.drop_to_fw = 1
    withdraw = p.host.send(WITHDRAW, p.t)  # lost on the way
    p.pump()
    assert m.decode(_payload(frames_of(p, m.PowerLease)[-1]))[0] == grant_seq  # the same number
    for wire in old:
        p.host.receive(wire, p.t)
    p.pump()
    assert p.ctrl.lease_allow == 1
    assert not [e for e in p.of(ev.CommandAcked) if e.command == WITHDRAW]
    p.advance(0.2)  # its retransmission gets through, and only that completes it
    acked = [e for e in p.of(ev.CommandAcked) if e.command == WITHDRAW]
    assert [e.seq for e in acked] == [withdraw] and p.ctrl.lease_allow == 0
    assert acked[0].status is not None and acked[0].status.lease_ms == 0


def test_a_refused_command_retires_the_one_it_replaced() -> None:
    # link_timeout 300 is delayed on the line, 5000 (out of range) replaces it and is
    # refused; the late 300 must not be applied after it
    p = connected()
    before = p.ctrl.link_timeout_ms
    p.drop_to_fw = 1
    p.host.send(m.SetConfig(m.CFG_LINK_TIMEOUT, 300), p.t)
    p.pump()
    late = frames_of(p, m.SetConfig)[-1]
    p.host.send(m.SetConfig(m.CFG_LINK_TIMEOUT, 5000), p.t)
    p.pump()
    assert [e.reason for e in p.of(ev.CommandRejected)] == [m.NACK_OUT_OF_RANGE]
    answer = replay(p, late)
    assert isinstance(answer[0], m.Nack) and answer[0].reason == m.NACK_STALE
    assert p.ctrl.link_timeout_ms == before and not p.applied


def test_a_reboot_whose_ack_the_reset_cuts_off_happens_once() -> None:
    # the reset cut the Ack off; the host re-sent the Reset(reboot) in the new epoch,
    # which rebooted the firmware again, for ever (1499 reboots in 3 s)
    p = connected()
    p.cut_on_reboot = True
    seq = p.host.send(m.Reset(m.RESET_REBOOT), p.t)
    p.pump()
    p.advance(3.0)
    assert p.reboots == 1
    assert ends(p, seq) == [ev.CommandAcked(seq, m.Reset(m.RESET_REBOOT), None)]
    assert p.host.connected and len(p.of(ev.LinkUp)) == 2
    again = p.host.send(m.Reset(m.RESET_REBOOT), p.t)  # a later one is a new request
    p.advance(0.5)
    assert p.reboots == 2 and [e.seq for e in p.of(ev.CommandAcked)][-1] == again


def test_a_reboot_is_never_sent_again_in_a_new_epoch() -> None:
    # its copy went out, then the firmware answered from another epoch (rebooted, or
    # moved by a stray Hello): sent again there it would reboot a firmware that may
    # just have rebooted
    p = connected()
    p.drop_to_fw = 1
    seq = p.host.send(m.Reset(m.RESET_REBOOT), p.t)
    p.pump()
    p.reboot_firmware()  # the firmware says Hello unasked: a new epoch
    p.advance(0.5)
    assert not p.fw.reboot_requested
    assert ends(p, seq) == [ev.CommandAcked(seq, m.Reset(m.RESET_REBOOT), None)]
