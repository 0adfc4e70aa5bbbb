"""The contactor interlock table: every condition that must hold to close.

`refused(c)` returns a bit word, one bit per condition that is false now; the
contactor may close only when it is 0 and must open within one tick when it is not.
The word goes to the host in Status.refused, and the lowest set bit is the reason
in ContactorChanged when the firmware opens on its own.
"""

from firmware.compat import const
from firmware.link import messages as m

CP_NOT_READY = const(1 << 0)  # CP not in C or D (IEC 61851-1: power only in C/D)
NO_LEASE = const(1 << 1)  # no valid PowerLease from the host
FAULT = const(1 << 2)  # a latched fault (fail-safe, weld, RCD, E-stop, override, overtemperature...)
PILOT_NOT_PWM = const(1 << 3)  # we are not offering charge (X1 or F)
DIODE_UNCHECKED = const(1 << 4)  # no passing diode check since the last close
GRID = const(1 << 5)  # export refused: no grid sensing, grid tripped/lost/unsynced, or phase
RCD_UNTESTED = const(1 << 6)  # RCD self-test not passed since the last open
TEMPERATURE = const(1 << 7)  # derated below 6 A: stop rather than advertise less
RCD_ACTIVE = const(1 << 8)  # the RCD signals residual current right now
ESTOP_ACTIVE = const(1 << 9)  # the emergency stop is pressed right now
CP_SAMPLER = const(1 << 10)  # the CP sampler delivers no new samples right now
OVERRIDE_ACTIVE = const(1 << 11)  # the manual override switch has disconnected the EV
# ---- proximity pilot, connector lock, contactor wear (issue 15) ----
CABLE = const(1 << 12)  # no valid PP coding now (open, short, out-of-band) or J1772 button pressed
NOT_LOCKED = const(1 << 13)  # the connector lock is not confirmed locked, or is to unlock
CHATTER_GUARD = const(1 << 14)  # closed less than contactor_min_gap_ms ago (anti-chatter)
# ---- DC charger hardware (boards with a `dc` section; c.dc is None elsewhere) ----
IMD_ACTIVE = const(1 << 15)  # the isolation monitor signals an insulation fault right now
ISOLATION_UNCHECKED = const(1 << 16)  # no valid isolation check (CableCheck) since the last open
DC_NOT_REQUESTED = const(1 << 17)  # the host has not asked to close the pair (DcContactor)
DC_SETTLING = const(1 << 18)  # the pair opened less than dc.weld_check_ms ago: weld unchecked
# the rows that only gate a close (checks before it, the host's request, the anti-chatter
# gap): the power stage may run an isolation test (CableCheck) while only these refuse
DC_CLOSE_GATES = const(DIODE_UNCHECKED | RCD_UNTESTED | ISOLATION_UNCHECKED | DC_NOT_REQUESTED
                       | CHATTER_GUARD)

TABLE = (
    (CP_NOT_READY, "cp-not-ready"),
    (NO_LEASE, "no-lease"),
    (FAULT, "fault"),
    (PILOT_NOT_PWM, "pilot-not-pwm"),
    (DIODE_UNCHECKED, "diode-unchecked"),
    (GRID, "grid"),
    (RCD_UNTESTED, "rcd-untested"),
    (TEMPERATURE, "temperature"),
    (RCD_ACTIVE, "rcd-active"),
    (ESTOP_ACTIVE, "estop-active"),
    (CP_SAMPLER, "cp-sampler"),
    (OVERRIDE_ACTIVE, "override-active"),
    # ---- issue 15 ----
    (CABLE, "cable"),
    (NOT_LOCKED, "locked"),
    (CHATTER_GUARD, "chatter-guard"),
    # DC charger hardware
    (IMD_ACTIVE, "imd-active"),
    (ISOLATION_UNCHECKED, "isolation-unchecked"),
    (DC_NOT_REQUESTED, "dc-not-requested"),
    (DC_SETTLING, "dc-settling"),
)


def refused(c):
    bits = 0
    if c.cp != m.CP_C and c.cp != m.CP_D:
        bits |= CP_NOT_READY
    if not c.lease_allow:
        bits |= NO_LEASE
    if c.latched:
        bits |= FAULT
    if c.out_mode != m.PILOT_PWM:
        bits |= PILOT_NOT_PWM
    if not c.diode_checked:
        bits |= DIODE_UNCHECKED
    if c.lease_direction and (c.grid_refused or c.guard is None):
        bits |= GRID
    if c.rcd_self_test and not c.rcd_tested:
        bits |= RCD_UNTESTED
    if c.thermal_da < 60:
        bits |= TEMPERATURE
    if c.rcd_now:
        bits |= RCD_ACTIVE
    if c.estop_now:
        bits |= ESTOP_ACTIVE
    if c.cp_stalled:
        bits |= CP_SAMPLER
    if c.override_now:
        bits |= OVERRIDE_ACTIVE
    # ---- issue 15 ----
    if c.pp.cap_da() == 0:
        bits |= CABLE
    lock = c.lock
    if lock is not None and (not lock.locked() or not c.lock_want):
        bits |= NOT_LOCKED
    if not c.contactor and c.wear.guard(0, c.now):
        bits |= CHATTER_GUARD
    dc = c.dc
    if dc is not None:
        bits |= dc.refused()
    return bits


def lowest(bits):
    return bits & -bits


def names(bits):
    return [row[1] for row in TABLE if bits & row[0]]
