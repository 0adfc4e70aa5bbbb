"""LinkClient (host) against LinkServer + Controller (firmware) with fake time."""

from __future__ import annotations

from firmware.app import linkserver
from firmware.app.controller import Controller
from firmware.app.linkserver import LinkServer
from firmware.link import messages as m
from host.link import events as ev
from host.link.protocol import LinkClient, LocalProtocolError
from tests.firmware.vmcheck import FakeHal, board


class Pair:
    """Our host client and our firmware, wired back to back (h11's roundtrip idea).

    `sent` keeps every frame the host wrote and `answers` every one the firmware
    wrote (for replays), `applied` every command the firmware applied
    (LinkServer.on_applied). With `cut_on_reboot` a Reset(reboot) reboots the firmware
    before anything it wrote after it leaves (a UART whose TX buffer the reset cuts off)."""

    def __init__(self, host: LinkClient | None = None) -> None:
        self.t = 0.0
        self.hal = FakeHal()
        self.ctrl = Controller(self.hal, board(), 0)
        self.fw = LinkServer(self.ctrl, b"pair", 1, 0)
        self.host = host or LinkClient()
        self.drop_to_fw = 0  # frames to lose host -> firmware
        self.drop_to_host = 0  # frames to lose firmware -> host
        self.events: list[ev.Event] = []
        self.sent: list[bytes] = []
        self.answers: list[bytes] = []
        self.cut_on_reboot = False
        self.reboots = 0
        self.applied: list[m.Message] = []
        self.fw.on_applied = self.applied.append

    def reboot_firmware(self) -> None:
        self.fw = LinkServer(self.ctrl, b"pair", 2, self.ms())  # says Hello unasked
        self.fw.on_applied = self.applied.append

    def ms(self) -> int:
        return int(self.t * 1000)

    def pump(self) -> None:
        for _ in range(10):
            moved = False
            for chunk in self.host.data_to_send():
                moved = True
                self.sent.append(chunk)
                if self.drop_to_fw:
                    self.drop_to_fw -= 1
                    continue
                self.fw.receive(chunk, self.ms())
                if self.cut_on_reboot and self.fw.reboot_requested:
                    self.fw.data_to_send()  # gone with the reset
                    self.reboots += 1
                    self.reboot_firmware()
            self.fw.poll(self.ms())
            for chunk in self.fw.data_to_send():
                moved = True
                self.answers.append(chunk)
                if self.drop_to_host:
                    self.drop_to_host -= 1
                    continue
                self.host.receive(chunk, self.t)
            while (e := self.host.next_event()) is not None:
                self.events.append(e)
            if not moved:
                return

    def advance(self, seconds: float, step: float = 0.01) -> None:
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.t = round(self.t + step, 6)
            self.ctrl.tick(self.ms())
            timer = self.host.get_timer()
            if timer is not None and timer <= self.t:
                self.host.handle_timer(self.t)
            self.pump()

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def connected(host: LinkClient | None = None) -> Pair:
    p = Pair(host)
    p.host.connect(p.t)
    p.pump()  # the firmware's boot Hello crosses our HostHello; one LinkUp results
    assert len(p.of(ev.LinkUp)) == 1
    return p


def test_hello_brings_link_up() -> None:
    p = connected()
    up = p.of(ev.LinkUp)[0]
    assert up.board == "pair" and up.hello.proto == m.PROTOCOL_VERSION
    assert p.host.status is not None


def test_heartbeats_keep_the_firmware_out_of_failsafe() -> None:
    p = connected()
    p.advance(3.0)
    assert p.ctrl.latched == 0
    assert not p.of(ev.LinkDown)


def test_host_silence_puts_firmware_in_failsafe() -> None:
    p = connected()
    p.drop_to_fw = 10**6  # nothing the host sends arrives
    p.advance(0.6)
    assert p.ctrl.safe_reason() == 10 and p.hal.pilot[0] == m.PILOT_F


def test_command_acked() -> None:
    p = connected()
    seq = p.host.send(m.SetPilot(m.PILOT_PWM, 2666), p.t)
    p.pump()
    assert p.of(ev.CommandAcked)[-1].seq == seq
    assert p.host.status is not None and p.host.status.duty == 2666


def test_lost_command_is_retransmitted_with_same_seq() -> None:
    p = connected()
    p.drop_to_fw = 1
    seq = p.host.send(m.SetPilot(m.PILOT_PWM, 2666), p.t)
    p.pump()
    assert not p.of(ev.CommandAcked)
    p.advance(0.1)
    acked = p.of(ev.CommandAcked)
    assert acked and acked[-1].seq == seq and p.ctrl.want_duty == 2666


def test_unanswered_command_times_out_after_bounded_retries() -> None:
    p = connected()
    p.drop_to_fw = 1000
    p.host.send(m.SetPilot(m.PILOT_PWM, 2666), p.t)
    p.advance(0.5)
    out = p.of(ev.CommandTimedOut)
    assert len(out) == 1 and out[0].attempts == p.host.retries + 1


def test_nack_becomes_rejection_with_field() -> None:
    p = connected()
    seq = p.host.send(m.SetConfig(m.CFG_LINK_TIMEOUT, 100), p.t)  # in i32, not in the key's range
    p.pump()
    rej = p.of(ev.CommandRejected)
    assert rej and rej[0].seq == seq and rej[0].reason == m.NACK_OUT_OF_RANGE
    assert rej[0].describe() == "out-of-range (SetConfig.value)"


def test_firmware_silence_declares_link_down() -> None:
    p = connected()
    p.fw.poll = lambda now: None  # type: ignore[method-assign]
    p.fw.data_to_send = lambda: []  # type: ignore[method-assign]
    p.advance(2.0)
    assert p.of(ev.LinkDown)


def test_firmware_reboot_triggers_new_hello() -> None:
    p = connected()
    p.reboot_firmware()
    p.pump()
    assert len(p.of(ev.LinkUp)) == 2


def test_client_refuses_firmware_messages() -> None:
    p = connected()
    try:
        p.host.send(m.Status(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), p.t)
    except LocalProtocolError:
        return
    raise AssertionError("sent a firmware->host message")


def test_random_bytes_from_the_port_are_ignored() -> None:
    p = connected()
    p.host.receive(b"\x00\x17\x42garbage\x00" + bytes(range(256)), p.t)
    p.pump()
    assert p.host.connected


def test_ack_completes_with_the_status_that_follows() -> None:
    p = connected()
    seq = p.host.send(m.SetPilot(m.PILOT_PWM, 2666), p.t)
    # deliver the firmware's answer one frame at a time: Ack alone is not completion
    for chunk in p.host.data_to_send():
        p.fw.receive(chunk, p.ms())
    frames = p.fw.data_to_send()
    assert len(frames) == 2
    p.host.receive(frames[0], p.t)
    assert p.host.next_event() is None
    p.host.receive(frames[1], p.t)
    acked = [e for e in iter(p.host.next_event, None) if isinstance(e, ev.CommandAcked)]
    assert acked and acked[0].seq == seq and acked[0].status is not None
    assert acked[0].status.duty == 2666


def test_ack_without_status_still_completes_after_timeout() -> None:
    p = connected()
    p.host.send(m.SetPilot(m.PILOT_PWM, 2666), p.t)
    for chunk in p.host.data_to_send():
        p.fw.receive(chunk, p.ms())
    p.host.receive(p.fw.data_to_send()[0], p.t)  # the Status is lost
    p.host.handle_timer(p.t + 1)
    acked = [e for e in iter(p.host.next_event, None) if isinstance(e, ev.CommandAcked)]
    assert acked and acked[0].status is None


def test_port_lost_after_the_ack_reports_the_command_acked() -> None:
    # the Ack arrived, the Status after it did not, then the port went: the command was
    # applied, so it must not be reported as timed out
    p = connected()
    withdraw = m.PowerLease(0, 0, 0, 5000)
    seq = p.host.send(withdraw, p.t)
    for chunk in p.host.data_to_send():
        p.fw.receive(chunk, p.ms())
    p.host.receive(p.fw.data_to_send()[0], p.t)  # the Ack; the Status is lost
    p.host.lost("port closed", p.t)
    ends = [e for e in iter(p.host.next_event, None) if hasattr(e, "seq")]
    assert ends == [ev.CommandAcked(seq, withdraw, None)]


def test_a_reboot_whose_hello_is_lost_still_brings_link_up() -> None:
    # the firmware Nacks our next frame with no-hello: it started afresh, so the
    # session that opens then must be announced like after a boot Hello we heard
    p = connected()
    p.advance(0.2)
    p.reboot_firmware()
    p.fw.data_to_send()  # its boot FirmwareHello is lost on the line
    p.advance(0.5)
    assert len(p.of(ev.LinkUp)) == 2
    assert p.host.connected and p.host.epoch == p.fw.epoch


def test_a_firmware_that_refuses_every_hello_ends_the_waiting_commands() -> None:
    # rebooted without entropy, the firmware talks (Nacks) but opens no session: a
    # command waiting for one ends with the firmware's reason, and the Hellos slow down
    p = connected()
    p.advance(0.2)
    saved = linkserver.getrandbits, linkserver.urandom
    linkserver.getrandbits = linkserver.urandom = None
    try:
        p.reboot_firmware()
    finally:
        linkserver.getrandbits, linkserver.urandom = saved
    p.pump()
    pilot = m.SetPilot(m.PILOT_PWM, 2666)
    p.host.send(pilot, p.t)
    p.advance(10.0)
    ends = [e for e in p.events if getattr(e, "command", None) is pilot]
    assert [type(e) for e in ends] == [ev.CommandRejected] and ends[0].reason == m.NACK_NO_ENTROPY
    hellos = [e for e in p.of(ev.CommandRejected) if isinstance(e.command, m.HostHello)]
    assert 10 <= len(hellos) <= 10 / p.host.hello_retry_s + 2  # every hello_retry_s, not ack_timeout_s
