"""One connector's policy for basic AC charging (IEC 61851-1, PWM only), sans-I/O.

    station = Station(Settings(...))
    station.handle_event(event, now)   # every host.link event: LinkUp/Down, reports, outcomes
    station.handle_timer(now)          # at station.get_timer()
    station.commands_to_send()         # -> messages for LinkClient.send, in order
    station.next_record()              # -> dicts for the timeline (JSON lines)
    station.finished                   # --sessions reached (or --report-only done)

The station follows the firmware's CP states: on B it offers `max_current_da` by PWM;
on C/D it grants a PowerLease and renews it every `renew_s` (the lease expires after
`lease_ms` if the host stops, and the firmware then opens by itself); leaving C/D it
withdraws the lease; on A it stops offering. A CpStateChanged the line ate is caught up
from the Statuses (the same other state twice in a row), and a report whose frame seq is
behind the newest (a replayed copy) is recorded but not acted on. It matches each
command's outcome by the message object it handed out, so the runner needs no
bookkeeping of its own.

After every LinkUp (the first one, a firmware reboot, the end of an outage) it starts
over: waits for the firmware's Status, clears the fail-safe latches the host itself
caused (link-timeout, lease-expired: Reset(clear fail-safe)), sends its configuration
one command at a time, then applies the desired state for the CP state it finds. A
weld, an RCD trip or an E-stop stays latched: only an operator clears those
(`--clear-faults`, Reset(clear faults), sent once at the station's first start-up only:
a latch raised later stays until an operator acts again). A failed command is reported as a record;
a lost one that is still wanted is sent again; a lease renewal never stops on an error.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from firmware.app import faults, gridfunc, lock, pilot, proximity
from firmware.link import dcmessages as dm
from firmware.link import messages as m
from host.link import events as ev
from host.station.dc import DcSteps, dc_record

Record = dict[str, Any]
Outcome = ev.CommandAcked | ev.CommandRejected | ev.CommandTimedOut | ev.CommandSuperseded

# the latches the host causes itself by going quiet, so it may clear them itself
HOST_LATCHES = faults.LINK_TIMEOUT | faults.LEASE_EXPIRED
OPERATOR_HINT = "an operator clears it: v2gate station --port DEV --clear-faults"
# frame seqs are 16 bits: a report up to half of that behind the newest is an old one
HALF_SEQ = 0x8000


@dataclass
class Settings:
    max_current_da: int = 160
    lease_ms: int = 1000
    renew_s: float = 0.25
    telemetry_ms: int = 250
    export: bool = False
    config: dict[int, int] = field(default_factory=dict)
    report_only: bool = False  # report the firmware's state and why, change nothing, finish
    clear_faults: bool = False  # the operator's Reset(clear faults), once, at the first LinkUp
    sessions: int | None = None  # finish after this many sessions (None: never)
    # DC (a board with DC hardware): the EV's voltage for the precharge (0.1 V; 0: AC),
    # offered by 5 % PWM, with CableCheck and the close with precharge (host/station/dc.py)
    dc_target_dv: int = 0
    dc_power_w: int = 40000  # the lease's power limit while charging DC


class Phase(Enum):
    DOWN = "down"  # no link: waiting for LinkUp
    STARTING = "starting"  # link up: Status, clearing, configuration, one at a time
    RUNNING = "running"  # following the CP states
    DONE = "done"


class Purpose(Enum):
    STEP = "step"  # a start-up step: the next one waits for its outcome
    PILOT = "pilot"
    LEASE = "lease"
    WITHDRAW = "withdraw"
    CLEAR = "clear"  # Reset(clear fail-safe) while running
    DC = "dc"  # DC: CableCheck, close, open


@dataclass
class _Sent:
    command: m.Message
    purpose: Purpose
    on_ack: Record | None  # the record that says it happened, emitted on the Ack


class Station:
    def __init__(self, settings: Settings | None = None) -> None:
        self.s = settings or Settings()
        self.phase = Phase.DOWN
        self.cp = m.CP_UNKNOWN
        self.sessions = 0
        self.ever_up = False
        self.hello_refused: str | None = None  # the firmware's reason for refusing our Hello
        self.droop_w = 0  # the firmware's frequency-droop adjustment, applied while charging
        self.current_da = self.s.max_current_da
        self._charged = False
        self._records: deque[Record] = deque()
        self._out: list[m.Message] = []
        self._sent: dict[int, _Sent] = {}  # id(command) -> what it was for
        self._steps: deque[tuple[m.Message, Record | None]] = deque()
        self._waiting_status = False
        self._pilot: m.SetPilot | None = None  # the pilot we want; resent if lost
        self._withdraw: m.PowerLease | None = None  # the withdrawal we want; resent if lost
        self._lease_on = False
        self._lease_reported = False
        self._renew_at: float | None = None
        self._kept_reported = 0  # operator latches already reported since the last LinkUp
        self._report_seq: int | None = None  # frame seq of the newest report since LinkUp
        self._cp_doubt: int | None = None  # a CP state one Status gave, not ours
        # the operator's clear is for the latches found at start; after an outage a new
        # E-stop or weld must stay latched, so it is sent once (never in report-only)
        self._clear_due = self.s.clear_faults and not self.s.report_only
        self._now = 0.0
        self.dc = DcSteps(self.s.dc_target_dv, lambda c, r: self._send(c, Purpose.DC, r)) \
            if self.s.dc_target_dv else None

    # ------------------------------------------------------------ API

    @property
    def finished(self) -> bool:
        return self.phase == Phase.DONE and not self._sent

    def commands_to_send(self) -> list[m.Message]:
        out, self._out = self._out, []
        return out

    def next_record(self) -> Record | None:
        return self._records.popleft() if self._records else None

    def get_timer(self) -> float | None:
        return self._renew_at if self.phase == Phase.RUNNING else None

    def handle_timer(self, now: float) -> None:
        self._now = now
        if self._renew_at is not None and now >= self._renew_at and self.phase == Phase.RUNNING:
            self._renew_at = now + self.s.renew_s
            self._renew()

    def handle_event(self, event: ev.Event, now: float) -> None:
        self._now = now
        if isinstance(event, ev.LinkUp):
            self._on_link_up(event)
        elif isinstance(event, ev.LinkDown):
            self._emit({"event": "link-down", "reason": event.reason})
            self._forget()
            if self.phase != Phase.DONE:
                self.phase = Phase.DOWN
        elif isinstance(event, ev.FirmwareReported):
            self.report(event.message)
            if self._fresh(event.seq):
                self._on_report(event.message)
        elif isinstance(event, ev.CommandRejected) and isinstance(event.command, m.HostHello):
            self._on_hello_refused(event)
        else:
            self._on_outcome(event)

    def _on_hello_refused(self, event: ev.CommandRejected) -> None:
        """The firmware answers but will not open a session: say why, once per reason
        (the client asks again every few tenths of a second)."""
        reason = m.NACK_NAMES.get(event.reason, str(event.reason))
        if reason != self.hello_refused:
            self.hello_refused = reason
            self._emit({"event": "hello-refused", "reason": reason})

    # ------------------------------------------------------------ link up, start-up

    def _on_link_up(self, up: ev.LinkUp) -> None:
        self.ever_up = True
        self.hello_refused = None
        self._emit({"event": "link-up", "board": up.board, "proto": up.hello.proto})
        self._forget()
        if self.phase == Phase.DONE:
            return
        self.phase = Phase.STARTING
        self._waiting_status = True  # the firmware's Status follows its Ack of our Hello
        self._kept_reported = 0
        self._report_seq = None
        self._cp_doubt = None

    def _forget(self) -> None:
        """Commands in flight are gone with the link (the client dropped them)."""
        self._sent.clear()
        self._out.clear()
        self._steps.clear()
        self._waiting_status = False
        self._pilot = None
        self._withdraw = None
        self._lease_on = False
        self._renew_at = None
        if self.dc is not None:
            self.dc.reset()

    def _first_status(self, st: m.Status) -> None:
        self._waiting_status = False
        self.cp = st.cp_state
        s = self.s
        if st.safe_reason:
            self._emit({"event": "failsafe-found", "fault": faults.label(st.safe_reason)})
        clearing = self._clear_due
        self._clear_due = False
        if clearing:
            self._steps.append((m.Reset(m.RESET_CLEAR_FAULTS), {"event": "faults-cleared"}))
        elif st.latched & HOST_LATCHES and not s.report_only:
            self._steps.append((m.Reset(m.RESET_CLEAR_FAILSAFE), {"event": "failsafe-cleared"}))
        if not clearing:
            self._report_kept(st.latched)
        if not s.report_only:
            self._steps.append((m.SetConfig(m.CFG_TELEMETRY_PERIOD, s.telemetry_ms), None))
            for key, value in s.config.items():
                self._steps.append((m.SetConfig(key, value),
                                    {"event": "config", "key": m.CONFIG_KEYS[key][0], "value": value}))
        self._next_step()

    def _next_step(self) -> None:
        if self._steps:
            command, record = self._steps[0]
            self._send(command, Purpose.STEP, record)
            return
        if self.s.report_only:
            self.phase = Phase.DONE
            return
        self.phase = Phase.RUNNING
        self._apply_cp(self.cp, resumed=True)

    def _report_kept(self, latched: int) -> None:
        """Latches only an operator may clear: say so once each, with how."""
        kept = latched & faults.FAILSAFE_MASK & ~HOST_LATCHES
        new = kept & ~self._kept_reported
        self._kept_reported = kept
        if new:
            self._emit({"event": "faults-latched", "faults": [faults.label(faults.code_of(b))
                        for b, _, _, _ in faults.TABLE if kept & b], "hint": OPERATOR_HINT})

    # ------------------------------------------------------------ firmware reports

    def _fresh(self, seq: int) -> bool:
        """Whether a report is newer than the newest since the LinkUp: the firmware
        numbers its frames in sending order, and a line that replays frames brings back
        old ones, however old, which must not move the CP state back. A firmware that
        restarted its numbering (a reboot) comes with a LinkUp, which resets this
        (the client announces a reboot even when its Hello was lost)."""
        last = self._report_seq
        if last is not None and not 0 < (seq - last) & 0xFFFF < HALF_SEQ:
            return False
        self._report_seq = seq
        return True

    def _on_report(self, msg: m.Message) -> None:
        if isinstance(msg, m.Status):
            if self._waiting_status:
                self._first_status(msg)
            elif self.phase == Phase.RUNNING:
                self._on_status(msg)
        elif self.phase == Phase.STARTING and isinstance(msg, m.CpStateChanged):
            self.cp = msg.new  # acted on once the start-up is done
        elif self.phase == Phase.RUNNING:
            if isinstance(msg, m.CpStateChanged):
                self._cp_doubt = None
                if msg.new != self.cp:  # else already followed from the Statuses
                    self._apply_cp(msg.new)
            elif isinstance(msg, m.GridStatus):
                self._on_droop(msg)
            elif isinstance(msg, dm.DcStatus) and self.dc is not None:
                self.dc.on_status(msg)

    def _on_status(self, st: m.Status) -> None:
        """A CP state other than ours in two Statuses in a row is a CpStateChanged
        we never got (it is sent once; the line may eat it): follow it, or an EV that asks
        to charge waits for a lease that never comes. One alone may be a Status sent
        just before its CpStateChanged (the firmware answers a Heartbeat before it
        reports its tick). A fail-safe the host caused while running (an outage shorter
        than the link's silence limit, a lease that ran out) is cleared as soon as it
        is seen."""
        if st.cp_state == self.cp:
            self._cp_doubt = None
        elif self._cp_doubt != st.cp_state:
            self._cp_doubt = st.cp_state
        else:
            self._cp_doubt = None
            self._emit({"event": "cp-missed", "from": m.CP_NAMES[self.cp], "to": m.CP_NAMES[st.cp_state]})
            self._apply_cp(st.cp_state)
            if self.phase != Phase.RUNNING:
                return
        self._report_kept(st.latched)
        if st.latched & HOST_LATCHES and not self._in_flight(Purpose.CLEAR):
            self._emit({"event": "failsafe-found", "fault": faults.label(faults.lowest_code(
                st.latched & HOST_LATCHES))})
            self._send(m.Reset(m.RESET_CLEAR_FAILSAFE), Purpose.CLEAR, {"event": "failsafe-cleared"})

    def _apply_cp(self, new: int, resumed: bool = False) -> None:
        old, self.cp = self.cp, new
        if new in (m.CP_C, m.CP_D):
            self._charged = True
            if not self._lease_on:
                self._lease_on = True
                self._lease_reported = False
                self._withdraw = None
                self._renew_at = self._now + self.s.renew_s
                self._renew()
            if resumed or self._pilot is None or self._pilot.mode != m.PILOT_PWM:
                # the offer the EV is drawing on: the firmware may have lost it (reboot)
                self._set_pilot(m.SetPilot(m.PILOT_PWM, self._duty(self.current_da)), None)
            if self.dc is not None:
                self.dc.start()
            return
        if self.dc is not None:
            self.dc.stop()
        if self._lease_on or (resumed and old in (m.CP_C, m.CP_D)):
            self._stop_lease()
        if new == m.CP_B:
            self.current_da = self.s.max_current_da
            self.droop_w = 0
            duty = self._duty(self.s.max_current_da)
            self._set_pilot(m.SetPilot(m.PILOT_PWM, duty), {
                "event": "offer", "current_a": self.s.max_current_da / 10, "duty_percent": duty / 100})
        elif new == m.CP_A or resumed:
            self._set_pilot(m.SetPilot(m.PILOT_X1, 10000), None)
        if new == m.CP_A and self._charged:
            self._charged = False
            self.sessions += 1
            self._emit({"event": "session-ended"})
            if self.s.sessions is not None and self.sessions >= self.s.sessions:
                self.phase = Phase.DONE

    def _duty(self, current_da: int) -> int:
        """The PWM offer: the current (IEC 61851-1), or 5 % for a DC session (ISO 15118)."""
        return pilot.DUTY_DIGITAL if self.dc is not None else pilot.duty_for_current(current_da)

    def _on_droop(self, g: m.GridStatus) -> None:
        """Apply the firmware's frequency-droop adjustment to a charging session.

        With PWM only (IEC 61851) the host can only move the current offer: lower at
        once, higher at most every 5 s (the firmware enforces that). Export sessions
        need ISO 15118-20 BPT to follow the droop; here they keep their lease.
        """
        if self.s.export or self.dc is not None or g.droop_w == self.droop_w \
                or self.cp not in (m.CP_C, m.CP_D):
            return
        self.droop_w = g.droop_w
        max_da = self.s.max_current_da
        volts = g.v_rms_mv / 1000 if g.v_rms_mv else 230.0
        charge_w = max_da / 10 * volts - g.droop_w  # droop_w > 0: charge less
        current_da = max(60, min(max_da, round(charge_w / volts * 10)))
        if current_da == self.current_da:
            return
        self.current_da = current_da
        self._set_pilot(m.SetPilot(m.PILOT_PWM, pilot.duty_for_current(current_da)),
                        {"event": "droop-applied", "droop_w": g.droop_w, "current_a": current_da / 10})

    # ------------------------------------------------------------ lease

    def _renew(self) -> None:
        s = self.s
        power_w = (-s.dc_power_w if s.export else s.dc_power_w) if self.dc is not None else 0
        self._send(m.PowerLease(1, 1 if s.export else 0, s.max_current_da, s.lease_ms, power_w),
                   Purpose.LEASE, None)

    def _stop_lease(self) -> None:
        self._lease_on = False
        self._renew_at = None
        self._withdraw = m.PowerLease(0, 0, 0, self.s.lease_ms)
        self._send(self._withdraw, Purpose.WITHDRAW, None)

    # ------------------------------------------------------------ commands

    def _set_pilot(self, command: m.SetPilot, record: Record | None) -> None:
        self._pilot = command
        self._send(command, Purpose.PILOT, record)

    def _send(self, command: m.Message, purpose: Purpose, on_ack: Record | None) -> None:
        self._sent[id(command)] = _Sent(command, purpose, on_ack)
        self._out.append(command)

    def _in_flight(self, purpose: Purpose) -> bool:
        return any(x.purpose == purpose for x in self._sent.values())

    def _on_outcome(self, event: Outcome) -> None:
        sent = self._sent.pop(id(event.command), None)
        if sent is None or sent.command is not event.command:
            return  # not ours, or from before the link went down
        if isinstance(event, ev.CommandAcked):
            self._on_acked(sent, event)
            return
        self._emit({"event": "command-error", "command": type(sent.command).__name__,
                    "purpose": sent.purpose.value, "error": _describe(event)})
        rejected = isinstance(event, ev.CommandRejected)
        if sent.purpose == Purpose.STEP:
            if rejected:
                self._steps.popleft()  # a Nack is final: go on without it
            self._next_step()  # else the same step again
        elif rejected:
            return
        elif sent.purpose == Purpose.PILOT and self._pilot is sent.command:
            self._send(sent.command, Purpose.PILOT, sent.on_ack)  # still wanted: again
        elif sent.purpose == Purpose.WITHDRAW and self._withdraw is sent.command and not self._lease_on:
            self._send(sent.command, Purpose.WITHDRAW, None)
        elif sent.purpose == Purpose.DC and self.dc is not None and self.dc.wanted is sent.command:
            self._send(sent.command, Purpose.DC, sent.on_ack)  # still wanted: again
        # a lost renewal needs nothing: the next one is due within renew_s

    def _on_acked(self, sent: _Sent, event: ev.CommandAcked) -> None:
        record = sent.on_ack
        if record is not None and record["event"] in ("failsafe-cleared", "faults-cleared"):
            st = event.status
            record = {**record, "still_latched": [] if st is None else faults.names(st.latched)}
        if record is not None:
            self._emit(record)
        if sent.purpose == Purpose.STEP:
            self._steps.popleft()
            self._next_step()
        elif sent.purpose == Purpose.LEASE and self._lease_on and not self._lease_reported:
            self._lease_reported = True
            s = self.s
            self._emit({"event": "lease", "current_a": s.max_current_da / 10,
                        "expiry_ms": s.lease_ms, "export": s.export})

    def _emit(self, record: Record) -> None:
        self._records.append(record)

    # ------------------------------------------------------------ records

    def report(self, msg: m.Message) -> None:
        """Turn a firmware message into a record for the timeline."""
        if isinstance(msg, m.CpStateChanged):
            self._emit({"event": "cp", "from": m.CP_NAMES[msg.old], "to": m.CP_NAMES[msg.new],
                        "fw_ms": msg.at_ms})
        elif isinstance(msg, m.ContactorChanged):
            self._emit({"event": "contactor", "closed": bool(msg.closed), "reason": msg.reason,
                        "fw_ms": msg.at_ms})
        elif isinstance(msg, m.Fault):
            self._emit({"event": "fault", "code": msg.code, "fault": faults.label(msg.code),
                        "detail_ms": msg.detail_ms, "fw_ms": msg.at_ms})
        elif isinstance(msg, m.Status):
            self._emit({"event": "status", "cp": m.CP_NAMES[msg.cp_state],
                        "pilot": m.PILOT_NAMES[msg.pilot_mode], "duty": msg.duty,
                        "contactor": msg.contactor, "faults": msg.faults, "latched": msg.latched,
                        "refused": msg.refused, "safe_reason": msg.safe_reason,
                        "limit_a": msg.limit_da / 10})
        elif isinstance(msg, m.Telemetry):
            self._emit({"event": "telemetry", "fw_ms": msg.at_ms, "current_a": msg.current_ma / 1000,
                        "temp_c": max(msg.temp_dc, msg.temp2_dc) / 10,
                        "cp_high_v": msg.cp_high_mv / 1000, "cp_low_v": msg.cp_low_mv / 1000})
        elif isinstance(msg, m.GridStatus):
            trip = gridfunc.TRIP_NAMES[msg.trip] if msg.trip < len(gridfunc.TRIP_NAMES) else msg.trip
            self._emit({"event": "grid", "fw_ms": msg.at_ms, "freq_hz": msg.freq_mhz / 1000,
                        "rocof_hz_s": msg.rocof_mhz_s / 1000, "v_rms": msg.v_rms_mv / 1000,
                        "refused": gridfunc.refused_names(msg.refused), "trip": trip,
                        "droop_w": msg.droop_w, "phase_err_mrad": msg.phase_err_mrad})
        elif isinstance(msg, dm.DcStatus):
            self._emit(dc_record(msg))
        elif isinstance(msg, m.Nack):
            self._emit({"event": "nack", "reason": m.NACK_NAMES.get(msg.reason, msg.reason)})
        # ---- issue 15: cable (PP, lock) and contactor wear ----
        elif isinstance(msg, m.CableStatus):
            self._emit({"event": "cable", "fw_ms": msg.at_ms, "pp": _name(proximity.NAMES, msg.pp_state),
                        "rating_a": msg.rating_da / 10, "pp_ohms": msg.pp_ohms,
                        "button": bool(msg.button),
                        "lock": None if msg.lock == m.LOCK_NONE else _name(lock.NAMES, msg.lock)})
        elif isinstance(msg, m.WearStatus):
            self._emit({"event": "wear", "fw_ms": msg.at_ms, "contactor": msg.contactor,
                        "operations": msg.operations, "under_load": msg.under_load,
                        "guard_ms": msg.guard_ms})


def _name(names: tuple[str, ...], i: int) -> str:
    return names[i] if i < len(names) else str(i)


def _describe(event: Outcome) -> str:
    if isinstance(event, ev.CommandRejected):
        return "rejected: " + event.describe()
    if isinstance(event, ev.CommandTimedOut):
        return f"unanswered after {event.attempts} attempts"
    return "superseded by a newer command of its class"
