"""DC charger hardware: the contactor pair with precharge, weld detection, the isolation
monitor (IMD) and the power-stage enable. Loaded only on boards with a `dc` section.

The controller owns the decision (the interlock table, one tick, one order); this owns
the DC sequence and its checks, driven from the controller's tick:

  check(now)    before the interlocks: read the aux contacts, dc_link_v and the IMD;
                raise F-080 on an IMD alarm, finish an isolation check, move the
                precharge on (+ closes once dc_link_v is near the target; the relay
                opens the tick after), and the weld and feedback checks
  refused()     the DC rows of the interlock table
  switch(c, t)  the controller's close/open: close starts the precharge (- and the
                relay), open drops everything at once
  drive(now)    after the decision: the power-stage enable. It is on only while the pair
                closes or is closed with no interlock refusing, or while an isolation
                test runs with nothing refusing but the close gates (a check that loses
                the stage is void), so it drops in the same tick as any interlock failure.

Weld detection: each aux contact must read open `feedback_ms` after opening; and
`weld_check_ms` (IEC 61851-23: the output below 60 V within 1 s) after opening,
dc_link_v must be below `safe_dv`, or both contacts stayed together (one welded contact
alone leaves the circuit open: the aux contacts find that one). Either latches F-093,
which only a Reset clears and only once the cause is gone. Allocation-free: ints only.
"""

from firmware.app import faults, interlocks
from firmware.app.cable import WEAR_CHANGED
from firmware.app.events import DC_CHANGED
from firmware.compat import const, ticks_diff
from firmware.link import dcmessages as dm
from firmware.link import messages as m

_DRIVEN = dm.DC_PLUS | dm.DC_MINUS | dm.DC_PRECHARGE  # (const() takes no other module's names)
_BOTH_AUX = dm.DC_PLUS_AUX | dm.DC_MINUS_AUX
# weld causes, in the fault's detail: which aux contact, or the voltage
WELD_PLUS_AUX = const(1)
WELD_MINUS_AUX = const(2)
WELD_VOLTAGE = const(4)
# the pair's indices in the controller's wear counters (cable.make_wear): - first, as it
# starts every close, so that the anti-chatter row (interlocks, index 0) gates the pair
WEAR_MINUS = const(0)
WEAR_PLUS = const(1)
WEAR_PRECHARGE = const(2)


# The link's DC commands (LinkServer looks them up in DcStage.LINK_HANDLERS on a DC
# board). Each returns None when applied, or (Nack reason, field), as LinkServer's own
# handlers do.


def _on_dc_contactor(server, msg, now):
    server.ctrl.dc.request(msg.close, msg.target_dv)
    return None


def _on_isolation(server, msg, now):
    reason = server.ctrl.dc.isolation_request(msg.run, msg.test_dv, now)
    return (reason, 0) if reason else None


class DcStage:
    LINK_HANDLERS = {
        dm.DcContactor.TYPE: _on_dc_contactor,
        dm.IsolationRequest.TYPE: _on_isolation,
    }

    def __init__(self, ctrl, hal, cfg, now):
        self.c = ctrl
        self.hal = hal
        self.relay = cfg["precharge_relay"]  # the board has a precharge relay
        self.precharge_ms = cfg["precharge_ms"]
        self.tolerance_dv = cfg["precharge_tol_dv"]
        self.weld_check_ms = cfg["weld_check_ms"]
        self.safe_dv = cfg["safe_dv"]
        self.isolation_ms = cfg["isolation_ms"]
        self.rated_dv = cfg["rated_dv"]  # the stage's maximum: the ohm/V classes refer to it
        self.alarm_kohm = cfg.get("imd_alarm_kohm", 0)
        self.feedback_ms = ctrl.feedback_ms
        self.phase = dm.DC_OPEN
        self.phase_at = now
        self.driven = 0  # DC_PLUS | DC_MINUS | DC_PRECHARGE as driven now
        self.aux = 0
        self.link_dv = 0
        self.imd_now = False
        self.kohm = -1
        self.isolation = dm.ISO_NONE
        self.iso_at = now
        self.test_dv = 0
        self.want_close = False
        self.target_dv = 0
        self.stage = False
        self.aux_due = False  # the aux check after an open is still to come
        self.weld_cause = 0
        self.reported = -1  # what the last DcStatus showed, packed
        hal.dc_contactors(0)
        hal.power_stage(False, 0)

    # ------------------------------------------------------------ host commands

    def request(self, close, target_dv):
        """DcContactor: the desired state. A close is asked once (after any open the
        host asks again); it clears a failed precharge, which is the host's to retry."""
        self.want_close = bool(close)
        if close:
            self.target_dv = target_dv
            self.c._clear(faults.PRECHARGE_FAILED)

    def isolation_request(self, run, test_dv, now):
        """IsolationRequest: returns a Nack reason or 0."""
        if not run:
            if self.isolation == dm.ISO_RUNNING:
                self.isolation = dm.ISO_NONE
            return 0
        if self.phase != dm.DC_OPEN:
            return m.NACK_BAD_STATE  # CableCheck is for an open pair, settled
        self.isolation = dm.ISO_RUNNING
        self.iso_at = now
        self.test_dv = test_dv
        return 0

    def configure(self, key, value):
        if key == m.CFG_DC_PRECHARGE_MS:
            self.precharge_ms = value
        elif key == m.CFG_DC_PRECHARGE_TOL:
            self.tolerance_dv = value
        elif key == m.CFG_DC_IMD_ALARM:
            self.alarm_kohm = value
        return 0

    # ------------------------------------------------------------ the tick

    def boot_check(self, now):
        """With every coil released, both aux contacts must read open."""
        aux = self.hal.dc_aux() & _BOTH_AUX
        if aux:
            self.weld_cause = _aux_cause(aux)
            self.c._raise(faults.DC_WELD, self.weld_cause, now)

    def check(self, now):
        hal = self.hal
        c = self.c
        self.aux = hal.dc_aux() & _BOTH_AUX
        self.link_dv = hal.dc_link_dv()
        kohm = hal.imd_kohm()
        self.kohm = kohm
        alarm = hal.imd_alarm() or (0 <= kohm < self.alarm_kohm)
        self.imd_now = alarm
        if alarm:
            c._raise(faults.IMD_ALARM, kohm if kohm > 0 else 0, now)
        else:
            c._clear(faults.IMD_ALARM)
        self._check_isolation(alarm, now)
        phase = self.phase
        since = ticks_diff(now, self.phase_at)
        if phase == dm.DC_PRECHARGING:
            d = self.link_dv - self.target_dv
            if -self.tolerance_dv <= d <= self.tolerance_dv:
                self._drive(dm.DC_PLUS | dm.DC_MINUS | (self.driven & dm.DC_PRECHARGE), now)
                self.phase = dm.DC_CLOSED
                self.phase_at = now
            elif since >= self.precharge_ms:
                c._raise(faults.PRECHARGE_FAILED, since, now)  # opens through the interlocks
        elif phase == dm.DC_CLOSED:
            if self.driven & dm.DC_PRECHARGE:
                self._drive(dm.DC_PLUS | dm.DC_MINUS, now)  # + carries the current now
            # from feedback_ms on, for as long as it is closed: a contact that drops out
            # under load (coil, supply) is found in the tick its aux opens
            if since >= self.feedback_ms and self.aux != _BOTH_AUX:
                c._raise(faults.DC_NO_FEEDBACK, _aux_cause(_BOTH_AUX & ~self.aux), now)
        elif phase == dm.DC_SETTLING:
            if self.aux_due and since >= self.feedback_ms:
                self.aux_due = False
                if self.aux:
                    self.weld_cause = _aux_cause(self.aux)
                    c._raise(faults.DC_WELD, self.weld_cause, now)
            if since >= self.weld_check_ms:
                if self.link_dv >= self.safe_dv:
                    self.weld_cause |= WELD_VOLTAGE
                    c._raise(faults.DC_WELD, self.weld_cause, now)
                self.phase = dm.DC_OPEN
                self.phase_at = now

    def _check_isolation(self, alarm, now):
        if self.isolation != dm.ISO_RUNNING:
            return
        if alarm:
            self.isolation = dm.ISO_FAULT
        elif ticks_diff(now, self.iso_at) >= self.isolation_ms:
            kohm = self.kohm
            if kohm < 0:  # no reading: the alarm contact is all the IMD says
                self.isolation = dm.ISO_VALID
            else:  # IEC 61851-23: > 500 ohm/V valid, 100..500 warning, below fault
                per_v = kohm * 10000 // (self.rated_dv if self.rated_dv > 0 else 1)  # ohm/V
                if per_v > 500:
                    self.isolation = dm.ISO_VALID
                elif per_v >= 100:
                    self.isolation = dm.ISO_WARNING
                else:
                    self.isolation = dm.ISO_FAULT

    def refused(self):
        bits = 0
        if self.imd_now:
            bits |= interlocks.IMD_ACTIVE
        if self.isolation != dm.ISO_VALID and self.isolation != dm.ISO_WARNING:
            bits |= interlocks.ISOLATION_UNCHECKED
        if not self.want_close:
            bits |= interlocks.DC_NOT_REQUESTED
        if self.phase == dm.DC_SETTLING:
            bits |= interlocks.DC_SETTLING
        return bits

    def switch(self, closed, now):
        if closed:
            self._drive(dm.DC_MINUS | (dm.DC_PRECHARGE if self.relay else 0), now)
            self.phase = dm.DC_PRECHARGING
        else:
            self._drive(0, now)
            self.stage_off()
            self.phase = dm.DC_SETTLING
            self.aux_due = True
            self.want_close = False  # asked once: a new close after any open
            self.isolation = dm.ISO_NONE  # and a new CableCheck before it
        self.phase_at = now

    def drive(self, now):
        c = self.c
        refused = c.refused
        phase = self.phase
        if phase == dm.DC_PRECHARGING or phase == dm.DC_CLOSED:
            on = not refused
            target = self.target_dv if phase == dm.DC_PRECHARGING else 0
        elif self.isolation == dm.ISO_RUNNING and phase == dm.DC_OPEN:
            on = not refused & ~interlocks.DC_CLOSE_GATES
            target = self.test_dv
            if not on:  # a check without the test voltage on says nothing: void
                self.isolation = dm.ISO_NONE
        else:
            on = False
            target = 0
        if on != self.stage or on:
            self.stage = on
            self.hal.power_stage(on, target if on else 0)
        word = phase | self.driven << 2 | self.aux << 2 | self.isolation << 8 | on << 11 \
            | self.imd_now << 12
        if word != self.reported:
            self.reported = word
            c.events.push(DC_CHANGED, phase, self.isolation, now)

    def dead(self):
        """The output may be touched: the pair open and its weld checks done, the stage
        off, dc_link_v below safe_dv. The connector lock holds until then."""
        return self.phase == dm.DC_OPEN and not self.stage and self.link_dv < self.safe_dv

    def stage_off(self):
        self.stage = False
        self.hal.power_stage(False, 0)

    def _drive(self, bits, now):
        bits &= _DRIVEN
        old = self.driven
        if bits != old:  # each contactor's wear (wear.py): closes, and openings under load
            ma = self.hal.current_ma()
            self._wear(old, bits, dm.DC_MINUS, WEAR_MINUS, ma, now)
            self._wear(old, bits, dm.DC_PLUS, WEAR_PLUS, ma, now)
            if self.relay:
                self._wear(old, bits, dm.DC_PRECHARGE, WEAR_PRECHARGE, ma, now)
        self.driven = bits
        self.hal.dc_contactors(bits)

    def _wear(self, old, new, bit, i, ma, now):
        c = self.c
        if new & bit and not old & bit:
            c.wear.closed(i, now)
        elif old & bit and not new & bit:
            c.wear.opened(i, ma)
        else:
            return
        c.events.push(WEAR_CHANGED, i, 0, now)

    def still_faulty(self):
        """For Reset(clear): the DC latches whose cause is still there."""
        still = 0
        if self.aux & ~(self.driven << 3):  # an aux closed that is not driven closed
            still |= faults.DC_WELD
        if self.weld_cause & WELD_VOLTAGE and self.phase == dm.DC_OPEN and not self.stage \
                and self.link_dv >= self.safe_dv:
            still |= faults.DC_WELD
        if self.imd_now:
            still |= faults.IMD_ALARM
        if not still & faults.DC_WELD:
            self.weld_cause = 0
        return still


    def status_message(self, now):
        dv = self.link_dv
        return dm.DcStatus(
            self.phase, self.driven | self.aux, self.stage,
            0 if dv < 0 else (0xFFFF if dv > 0xFFFF else dv), self.imd_now, self.kohm,
            self.isolation, now,
        )


def _aux_cause(aux):
    cause = 0
    if aux & dm.DC_PLUS_AUX:
        cause |= WELD_PLUS_AUX
    if aux & dm.DC_MINUS_AUX:
        cause |= WELD_MINUS_AUX
    return cause
