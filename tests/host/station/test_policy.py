"""The station policy against our firmware over our link, with fake time (no I/O)."""

from __future__ import annotations

from firmware.app import faults, linkserver
from firmware.app.linkserver import LinkServer
from firmware.link import frame
from firmware.link import messages as m
from host.link import events as ev
from host.station.policy import Settings, Station
from tests.firmware.vmcheck import FakeHal
from tests.host.station.rig import Rig, charging

MINE = faults.LINK_TIMEOUT | faults.LEASE_EXPIRED


def test_a_whole_session_offer_lease_withdraw_stop() -> None:
    rig = charging(Settings(sessions=1))
    assert rig.rec("link-up") and rig.rec("offer")[0]["duty_percent"] == 26.66
    assert rig.rec("lease")[0]["current_a"] == 16.0
    assert rig.ctrl.out_mode == m.PILOT_PWM and rig.ctrl.out_duty == 2666
    renewed = rig.ctrl.lease_until
    rig.advance(0.5)
    assert rig.ctrl.lease_until > renewed  # renewed every renew_s
    rig.cp(m.CP_B)
    rig.advance(0.3)
    assert rig.ctrl.lease_allow == 0 and rig.ctrl.contactor == 0  # withdrawn, not expired
    rig.advance(1.5)
    assert rig.ctrl.latched == 0 and not rig.rec("fault")
    assert not rig.station.finished
    rig.cp(m.CP_A)
    rig.advance(0.2)
    assert rig.rec("session-ended") and rig.station.finished
    assert rig.ctrl.out_mode == m.PILOT_X1
    assert not rig.rec("command-error")


def test_startup_sends_its_configuration_one_command_at_a_time() -> None:
    rig = Rig(Settings(config={m.CFG_SAFE_PILOT: m.PILOT_X1, m.CFG_LINK_TIMEOUT: 800}))
    rig.connect()
    rig.advance(0.3)
    assert rig.ctrl.safe_pilot == m.PILOT_X1 and rig.ctrl.link_timeout_ms == 800
    assert [r["key"] for r in rig.rec("config")] == ["safe_pilot", "link_timeout_ms"]
    assert rig.fw.telemetry_ms == 250


def test_a_rejected_config_is_reported_and_the_rest_goes_on() -> None:
    rig = Rig(Settings(config={m.CFG_GRID_CATEGORY: 3, m.CFG_SAFE_PILOT: m.PILOT_X1}))
    rig.connect()  # the rig's board has no grid sensing: Nack(bad-state)
    rig.cp(m.CP_B)
    rig.advance(0.5)
    err = rig.rec("command-error")
    assert len(err) == 1 and "bad-state" in err[0]["error"]
    assert rig.ctrl.safe_pilot == m.PILOT_X1 and rig.rec("offer")


def test_lease_renewal_survives_a_nack_and_a_timeout() -> None:
    rig = charging()
    refuse = dict(LinkServer._HANDLERS)
    refuse[m.PowerLease.TYPE] = lambda *args: (m.NACK_BAD_STATE, 0)
    rig.fw._HANDLERS = refuse  # type: ignore[assignment]  # the firmware refuses leases
    rig.advance(0.3)
    del rig.fw._HANDLERS
    t = rig.t
    rig.cut(to_fw=False)  # the Acks are lost for longer than the client retries
    rig.advance(0.45)
    rig.mend()
    until = rig.ctrl.lease_until
    rig.advance(0.6)
    errors = [r["error"] for r in rig.rec("command-error") if r["command"] == "PowerLease"]
    assert any("rejected: bad-state" in e for e in errors)
    assert any("unanswered" in e for e in errors)
    assert rig.ctrl.lease_until > until and rig.ctrl.lease_allow == 1  # still renewing
    assert rig.ctrl.latched == 0 and rig.ctrl.contactor == 1
    assert not rig.since(t, "fault")


def _message(cls: type, **given: object) -> m.Message:
    """A message with the given fields and zeros elsewhere."""
    return cls(**{name: given.get(name, 0) for name in cls.FIELDS})  # type: ignore[no-any-return]


def test_a_superseded_renewal_is_reported_and_renewing_goes_on() -> None:
    station = Station(Settings())
    hello = _message(m.FirmwareHello, proto=1, board=b"x")
    station.handle_event(ev.LinkUp(hello), 0.0)
    status = _message(m.Status, cp_state=m.CP_C, duty=2666, link_timeout_ms=500)
    station.handle_event(ev.FirmwareReported(1, status), 0.0)
    cmds = station.commands_to_send()  # SetConfig(telemetry)
    station.handle_event(ev.CommandAcked(1, cmds[0]), 0.01)
    lease = [c for c in station.commands_to_send() if isinstance(c, m.PowerLease)]
    assert lease and lease[0].allow == 1
    station.handle_event(ev.CommandSuperseded(2, lease[0], 3), 0.02)
    records = []
    while (r := station.next_record()) is not None:
        records.append(r)
    assert any(r["event"] == "command-error" and "superseded" in r["error"] for r in records)
    timer = station.get_timer()
    assert timer is not None
    station.handle_timer(timer)
    assert [c for c in station.commands_to_send() if isinstance(c, m.PowerLease) and c.allow]


def test_a_failsafe_raised_while_running_is_cleared_when_the_link_is_back() -> None:
    rig = charging()
    t = rig.t
    rig.cut()  # longer than link_timeout_ms, shorter than silence_s
    rig.advance(0.8)
    assert rig.ctrl.latched & faults.LINK_TIMEOUT and rig.ctrl.contactor == 0
    rig.mend()
    rig.advance(0.5)
    assert rig.ctrl.latched == 0
    assert rig.since(t, "failsafe-found")[0]["fault"] == "F-010 link-timeout"
    assert rig.since(t, "failsafe-cleared")
    rig.advance(0.5)
    assert rig.ctrl.lease_allow == 1 and rig.ctrl.contactor == 1  # charging again
    assert not rig.rec("link-down")


def test_the_station_comes_back_by_itself_after_a_long_outage() -> None:
    rig = charging()
    t = rig.t
    rig.cut()
    rig.advance(6.0)
    assert rig.rec("link-down") and not rig.host.connected
    rig.mend()
    rig.advance(1.0)
    assert len(rig.since(t, "link-up")) == 1 and rig.since(t, "failsafe-cleared")
    assert rig.ctrl.latched == 0 and rig.ctrl.lease_allow == 1 and rig.ctrl.contactor == 1


def test_the_station_follows_a_firmware_reboot() -> None:
    rig = charging()
    t = rig.t
    rig.boot()  # the firmware restarts: its boot Hello reaches the client
    rig.advance(0.2)
    rig.cp(m.CP_C)
    rig.advance(1.0)
    assert rig.since(t, "link-up") and rig.ctrl.out_mode == m.PILOT_PWM
    assert rig.ctrl.lease_allow == 1 and rig.ctrl.contactor == 1


def _latched_firmware(bits: int) -> FakeHal:
    """A HAL whose controller latches `bits` at boot and whose causes are gone since."""
    hal = FakeHal()
    hal.feedback = bool(bits & faults.CONTACTOR_WELD)  # the boot self-test sees a weld
    hal.estop_on = bool(bits & faults.ESTOP)
    return hal


def test_a_host_start_does_not_clear_a_weld_or_an_estop() -> None:
    hal = _latched_firmware(faults.CONTACTOR_WELD | faults.ESTOP)
    rig = Rig(hal=hal)
    rig.ctrl.tick(10)
    rig.ctrl._raise(faults.LINK_TIMEOUT, 600, 10)  # and the last host went quiet
    hal.feedback = hal.estop_on = False  # the causes are gone; the latches stay
    rig.ctrl.tick(20)
    rig.connect()
    rig.advance(0.5)
    assert rig.ctrl.latched == faults.CONTACTOR_WELD | faults.ESTOP  # F-010 cleared, rest kept
    kept = rig.rec("faults-latched")
    assert kept and kept[0]["faults"] == ["F-040 estop", "F-092 contactor-weld"]
    assert "--clear-faults" in kept[0]["hint"]
    assert not any(isinstance(c, m.Reset) and c.what == m.RESET_CLEAR_FAULTS for c in rig.commands)
    # the operator's command clears them
    op = Rig(Settings(clear_faults=True), hal=hal)
    op.ctrl = rig.ctrl
    op.fw = rig.fw
    op.connect()
    op.advance(0.3)
    assert op.ctrl.latched == 0 and op.rec("faults-cleared")[0]["still_latched"] == []


def test_report_only_changes_nothing() -> None:
    hal = _latched_firmware(faults.CONTACTOR_WELD)
    rig = Rig(Settings(report_only=True), hal=hal)
    rig.ctrl._raise(faults.LINK_TIMEOUT, 600, 0)
    rig.connect()
    rig.advance(0.2)
    assert rig.station.finished and rig.commands == []
    assert rig.rec("failsafe-found")[0]["fault"] == "F-092 contactor-weld"
    assert rig.ctrl.latched & MINE


def _running_in(cp: int) -> tuple[Station, list[m.Message]]:
    """A station past its start-up with the firmware in `cp`; the commands it sent."""
    station = Station(Settings())
    station.handle_event(ev.LinkUp(_message(m.FirmwareHello, proto=1, board=b"x")), 0.0)
    station.handle_event(ev.FirmwareReported(1, _message(m.Status, cp_state=cp, link_timeout_ms=500)), 0.0)
    cmds = station.commands_to_send()  # SetConfig(telemetry)
    station.handle_event(ev.CommandAcked(1, cmds[0]), 0.01)
    return station, station.commands_to_send()


def _grants(cmds: list[m.Message]) -> list[m.Message]:
    return [c for c in cmds if isinstance(c, m.PowerLease) and c.allow]


def test_a_lost_cp_change_is_followed_from_the_firmwares_status() -> None:
    # the line ate CpStateChanged(B -> C): the Statuses say C, and the EV waits for a lease
    station, cmds = _running_in(m.CP_B)
    assert not _grants(cmds)
    charging = _message(m.Status, cp_state=m.CP_C, duty=2666, link_timeout_ms=500)
    station.handle_event(ev.FirmwareReported(10, charging), 0.1)
    assert not _grants(station.commands_to_send())  # one alone may precede its CpStateChanged
    station.handle_event(ev.FirmwareReported(12, charging), 0.2)
    assert _grants(station.commands_to_send())
    records = []
    while (r := station.next_record()) is not None:
        records.append(r)
    assert {"event": "cp-missed", "from": "B", "to": "C"} in records


def test_replayed_reports_do_not_move_the_cp_state() -> None:
    # a line that replays frames brings back the firmware's CpStateChanged and Statuses
    # from before the EV asked to charge: their frame seqs are behind the newest
    station, cmds = _running_in(m.CP_C)
    assert _grants(cmds)
    station.handle_event(ev.FirmwareReported(40, _message(m.Status, cp_state=m.CP_C)), 0.1)
    station.handle_event(ev.FirmwareReported(19, _message(m.CpStateChanged, old=m.CP_C, new=m.CP_B)), 0.2)
    ready = _message(m.Status, cp_state=m.CP_B, duty=2666, link_timeout_ms=500)
    for seq in (20, 21):
        station.handle_event(ev.FirmwareReported(seq, ready), 0.2)
    withdrawals = [c for c in station.commands_to_send() if isinstance(c, m.PowerLease) and not c.allow]
    assert not withdrawals and station.cp == m.CP_C
    station.handle_event(ev.FirmwareReported(41, _message(m.CpStateChanged, old=m.CP_C, new=m.CP_B)), 0.3)
    assert station.cp == m.CP_B  # a new one is followed


def test_the_operators_clear_is_sent_once_not_after_an_outage() -> None:
    # --clear-faults clears what the operator saw at start; an E-stop pressed later and a
    # line outage after it: the station must not clear that latch by itself
    rig = charging(Settings(clear_faults=True))
    assert len(rig.rec("faults-cleared")) == 1
    rig.hal.estop_on = True
    rig.advance(0.3)
    rig.hal.estop_on = False
    rig.advance(1.0)
    assert rig.ctrl.latched & faults.ESTOP
    t = rig.t
    rig.cut()
    rig.advance(2.0)
    rig.mend()
    rig.advance(1.0)
    assert rig.since(t, "link-up")  # the station did start over
    assert rig.ctrl.latched & faults.ESTOP and rig.ctrl.contactor == 0
    assert not rig.since(t, "faults-cleared")
    assert sum(isinstance(c, m.Reset) and c.what == m.RESET_CLEAR_FAULTS for c in rig.commands) == 1
    assert rig.since(t, "faults-latched")[0]["faults"] == ["F-040 estop"]


def test_report_only_with_clear_faults_sends_nothing() -> None:
    hal = _latched_firmware(faults.ESTOP)
    rig = Rig(Settings(report_only=True, clear_faults=True), hal=hal)
    rig.ctrl.tick(10)
    hal.estop_on = False
    rig.ctrl.tick(20)
    rig.connect()
    rig.advance(0.2)
    assert rig.station.finished and rig.commands == []
    assert rig.ctrl.latched & faults.ESTOP


def test_a_reboot_whose_hello_is_lost_is_followed() -> None:
    # the rebooted firmware forgot the pilot, the lease and the configuration, and
    # numbers its frames from 1 again: the station must start over and believe them
    rig = charging(Settings(config={m.CFG_LINK_TIMEOUT: 1500}))
    assert rig.ctrl.link_timeout_ms == 1500
    t = rig.t
    rig.boot()
    rig.fw.data_to_send()  # its boot FirmwareHello is lost on the line
    rig.cp(m.CP_C)
    rig.advance(3.0)
    assert rig.since(t, "link-up")
    assert rig.ctrl.out_mode == m.PILOT_PWM and rig.ctrl.out_duty == 2666
    assert rig.ctrl.link_timeout_ms == 1500
    assert rig.ctrl.contactor == 1 and rig.ctrl.lease_allow == 1


def test_commands_issued_while_a_session_reopens_are_not_lost() -> None:
    # a replayed HostHello moves the firmware's epoch (its answers lost): the host
    # reopens without LinkUp, its first new Hello is lost too, and the EV stops charging
    # meanwhile. The withdrawal must go out once the session is open and the grant it
    # replaced must never go out after it; every command gets an outcome.
    rig = charging(Settings())
    reopen = rig.host._new_session
    withdrawn: list[int] = []

    def reopening(now: float | None) -> int:
        seq = reopen(now)
        if not withdrawn:
            rig.drop_to_fw = 1
            rig.cp(m.CP_B)
            withdrawn.append(len(rig.applied))
        return seq

    rig.host._new_session = reopening  # type: ignore[method-assign]
    rig.fw.receive(frame.pack(m.HostHello(m.PROTOCOL_VERSION, m.PROTOCOL_VERSION, 12345).encode(7)), rig.ms())
    rig.fw.data_to_send()
    rig.advance(3.0)
    assert withdrawn
    leases = [c.allow for c in rig.applied[withdrawn[0]:] if isinstance(c, m.PowerLease)]
    assert leases == [0]
    assert rig.ctrl.lease_allow == 0 and rig.ctrl.out_mode == m.PILOT_PWM
    assert not rig.station._sent  # every command the station issued has its outcome


def test_a_refused_hello_is_reported_with_the_firmwares_reason() -> None:
    saved = linkserver.getrandbits, linkserver.urandom
    linkserver.getrandbits = linkserver.urandom = None  # a board with no random source
    try:
        rig = Rig()
        rig.boot()
    finally:
        linkserver.getrandbits, linkserver.urandom = saved
    rig.connect()
    rig.advance(3.0)
    assert not rig.station.ever_up and rig.station.hello_refused == "no-entropy"
    assert [r["reason"] for r in rig.rec("hello-refused")] == ["no-entropy"]  # once, not each retry


def test_a_replay_however_old_does_not_move_the_cp_state() -> None:
    # 200 frames is some seconds of a busy line: still a replay, not a restarted
    # firmware (a reboot comes with a LinkUp, which starts the numbering over)
    station, cmds = _running_in(m.CP_C)
    assert _grants(cmds)
    station.handle_event(ev.FirmwareReported(400, _message(m.Status, cp_state=m.CP_C)), 1.0)
    station.handle_event(ev.FirmwareReported(200, _message(m.CpStateChanged, old=m.CP_C, new=m.CP_B)), 1.1)
    assert station.cp == m.CP_C
    assert not [c for c in station.commands_to_send() if isinstance(c, m.PowerLease) and not c.allow]
    # across the 16-bit wrap, ahead is ahead
    for seq in (0x4000, 0x8000, 0xC000, 0xFFF0):
        station.handle_event(ev.FirmwareReported(seq, _message(m.Status, cp_state=m.CP_C)), 1.2)
    station.handle_event(ev.FirmwareReported(3, _message(m.CpStateChanged, old=m.CP_C, new=m.CP_B)), 1.3)
    assert station.cp == m.CP_B
    # after a LinkUp the numbering may start anywhere
    station.handle_event(ev.LinkUp(_message(m.FirmwareHello, proto=1, board=b"x")), 2.0)
    station.handle_event(ev.FirmwareReported(1, _message(m.Status, cp_state=m.CP_A, link_timeout_ms=500)), 2.0)
    assert station.cp == m.CP_A
