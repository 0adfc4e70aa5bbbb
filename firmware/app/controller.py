"""The charge controller: one `tick(now)` every control period decides everything.

It reads the pilot and the contactor feedback through the HAL, applies the host's
desired state (pilot, lease) and the interlocks, and drives the pilot and the
contactor. Commands from the host only change desired state; `tick` is the one
place that acts, so every decision is made in one order, once per tick.

Fail-safe (DESIGN.md principle 2): when the host has been silent for
`link_timeout_ms`, or a lease expires, a MANUAL fault latches; the interlocks then
open the contactor in the same tick and the pilot goes to the safe state. The host
must send Reset(clear) to leave it, so a host restart sees why it happened.
"""

from firmware.app import events, faults, interlocks, pilot
from firmware.compat import const, ticks_add, ticks_diff
from firmware.link import messages as m

FEEDBACK_MS = const(100)  # contactor feedback must follow the coil within this
LINK_TIMEOUT_MS = const(500)


class Controller:
    def __init__(self, hal, now, link_timeout_ms=LINK_TIMEOUT_MS, safe_pilot=m.PILOT_F):
        self.hal = hal
        self.link_timeout_ms = link_timeout_ms
        self.safe_pilot = safe_pilot
        self.events = events.EventRing()
        # measured
        self.cp = m.CP_UNKNOWN
        self.cp_high_mv = 0
        self.cp_low_mv = 0
        self.diode_checked = False
        # desired by the host; at boot we offer nothing (x1) until the host speaks
        self.want_mode = m.PILOT_X1
        self.want_duty = 10000
        self.lease_allow = 0
        self.lease_direction = 0
        self.lease_da = 0
        self.lease_until = now
        # link liveness: armed by the first good host frame after a Hello
        self.link_up = False
        self.last_rx = now
        # output
        self.out_mode = -1
        self.out_duty = -1
        self.contactor = 0
        self.contactor_at = now
        self.check_pending = False  # feedback (close) or weld (open) check due
        self.faults = 0
        self.latched = 0
        self.refused = 0
        self._apply_pilot()

    # ------------------------------------------------------------ host commands

    def host_alive(self, now):
        self.link_up = True
        self.last_rx = now
        self.faults &= ~faults.LINK_TIMEOUT  # the cause is gone; the latch stays

    def set_pilot(self, mode, duty):
        self.want_mode = mode
        self.want_duty = duty if mode == m.PILOT_PWM else 10000
        self._apply_pilot()  # so the Status that answers the command is already true

    def set_lease(self, allow, direction, current_da, expiry_ms, now):
        self.lease_allow = allow
        self.lease_direction = direction
        self.lease_da = current_da if allow else 0
        self.lease_until = ticks_add(now, expiry_ms)

    def clear_faults(self):
        """Reset(clear): drop MANUAL latches whose cause is gone."""
        still = self.faults & faults.AUTO_MASK  # AUTO faults follow their cause
        if self.hal.contactor_feedback() and not self.contactor:
            still |= faults.CONTACTOR_WELD  # still welded: the latch stays
        self.faults = still
        self.latched = still

    def lease_remaining(self, now):
        if not self.lease_allow:
            return 0
        left = ticks_diff(self.lease_until, now)
        return left if left > 0 else 0

    def limit_da(self):
        return self.lease_da if self.lease_allow else 0

    def safe_reason(self):
        return faults.lowest_code(self.latched & faults.FAILSAFE_MASK)

    # ------------------------------------------------------------ the tick

    def tick(self, now):
        hal = self.hal
        high, low = hal.sample_cp()
        self.cp_high_mv = high
        self.cp_low_mv = low
        self._update_cp(pilot.classify(high, low), now)
        self._check_diode(low, now)
        self._check_link(now)
        self._check_lease(now)
        self._check_contactor(now)
        self.refused = interlocks.refused(self)
        if self.contactor:
            if self.refused:
                self._switch(0, interlocks.lowest(self.refused), now)
        elif not self.refused and not self.check_pending:
            self._switch(1, 0, now)
        self._apply_pilot()

    def _update_cp(self, state, now):
        if state == m.CP_UNKNOWN or state == self.cp:
            return
        self.events.push(events.CP_CHANGED, self.cp, state, now)
        self.cp = state
        if state == m.CP_E:
            self._raise(faults.CP_ERROR, 0, now)
        else:
            self._clear(faults.CP_ERROR)
        if state == m.CP_A:
            self._clear(faults.DIODE)

    def _check_diode(self, low, now):
        """While the pilot oscillates with an EV present, the low plateau must be -12 V."""
        if self.out_mode != m.PILOT_PWM or self.cp < m.CP_B or self.cp > m.CP_D:
            return
        if low <= pilot.DIODE_LOW_MAX_MV:
            self.diode_checked = True
        else:
            self.diode_checked = False
            self._raise(faults.DIODE, 0, now)

    def _check_link(self, now):
        if not self.link_up:
            return
        silent = ticks_diff(now, self.last_rx)
        if silent >= self.link_timeout_ms:
            self.link_up = False
            self._raise(faults.LINK_TIMEOUT, silent, now)

    def _check_lease(self, now):
        if self.lease_allow and ticks_diff(now, self.lease_until) >= 0:
            self.lease_allow = 0
            self.lease_da = 0
            self._raise(faults.LEASE_EXPIRED, 0, now)

    def _check_contactor(self, now):
        """Feedback after a close, weld check after an open, FEEDBACK_MS after switching."""
        if not self.check_pending or ticks_diff(now, self.contactor_at) < FEEDBACK_MS:
            return
        self.check_pending = False
        closed = self.hal.contactor_feedback()
        if self.contactor and not closed:
            self._raise(faults.CONTACTOR_NO_FEEDBACK, 0, now)
        elif not self.contactor and closed:
            self._raise(faults.CONTACTOR_WELD, 0, now)

    def _switch(self, closed, reason, now):
        self.hal.set_contactor(closed)
        self.contactor = closed
        self.contactor_at = now
        self.check_pending = True
        if closed:
            self.diode_checked = False  # re-verified before the next close
        self.events.push(events.CONTACTOR_CHANGED, closed, reason, now)

    def _apply_pilot(self):
        if self.latched & faults.FAILSAFE_MASK:
            mode, duty = self.safe_pilot, 10000
        else:
            mode, duty = self.want_mode, self.want_duty
        if mode != self.out_mode or duty != self.out_duty:
            self.out_mode = mode
            self.out_duty = duty
            self.hal.set_pilot(mode, duty)

    def _raise(self, bit, detail, now):
        if self.faults & bit:
            return
        self.faults |= bit
        self.latched |= bit
        self.events.push(events.FAULT_RAISED, bit, detail, now)
        if bit & faults.FAILSAFE_MASK:
            self.lease_allow = 0  # a fresh lease is needed after the fail-safe
            self.lease_da = 0
            self._apply_pilot()

    def _clear(self, bit):
        self.faults &= ~bit
        self.latched &= ~(bit & faults.AUTO_MASK)
