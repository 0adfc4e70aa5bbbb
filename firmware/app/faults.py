"""Fault flags and their latch policy, in one table.

Each fault has a bit in the `active`/`latched` words sent over the link and a code
shown to people as F-nnn. Policies:
  AUTO    the latch clears by itself when the cause is gone;
  MANUAL  the latch stays until the host sends Reset(clear) and the cause is gone.
RCD trip is MANUAL where the board's region forbids automatic reclosing (CH, DK, GB,
FR) and AUTO elsewhere; the controller decides that at boot.
Faults in FAILSAFE_MASK also force the pilot to the configured safe state (F or X1):
they are faults of the EVSE or of its host, not of the EV.
"""

from firmware.compat import const

AUTO = const(0)
MANUAL = const(1)

LINK_TIMEOUT = const(1 << 0)
LEASE_EXPIRED = const(1 << 1)
DIODE = const(1 << 2)
CP_ERROR = const(1 << 3)
CONTACTOR_NO_FEEDBACK = const(1 << 4)
CONTACTOR_WELD = const(1 << 5)
RCD_TRIP = const(1 << 6)
RCD_SELFTEST = const(1 << 7)
ESTOP = const(1 << 8)
OVERTEMP = const(1 << 9)
NTC_SENSOR = const(1 << 10)
GRID_TRIP = const(1 << 11)  # OF/UF/OV/UV/ROCOF/loss trip while exporting; detail: the reason
# the CP sampler's count stopped (an IRQ handler that raised is disabled for good): the
# samples are stale, so the pilot goes to F and the contactor opens
CP_SAMPLER = const(1 << 12)
# the manual override switch (physically apart from us) has disconnected the EV: its
# auxiliary contact reads active. Handled as an E-stop.
MANUAL_OVERRIDE = const(1 << 13)
# F-022's budget: the contacts are open this long after the CP sampler's last sample, at
# any phase of the stall against the control ticks, the board's contactor.open_ms
# included (a stall can hide an unplug; IEC 61851-1 wants the contactor open within
# ~100 ms of state A: half of it). controller.cp_stall_ms derives the threshold from it.
CP_STALL_BUDGET_MS = const(50)
# ---- proximity pilot and connector lock (issue 15) ----
# the cable's PP coding is open (with an EV connected), shorted or between two codings
# (IEC 61851-1 Annex B.2; "Proximity Pilot error"): no close, no offer; clears with the cause
PROXIMITY = const(1 << 14)
# the connector lock's feedback disagreed with its drive after every retry (firmware/app/lock.py)
CONNECTOR_LOCK = const(1 << 15)

# ---- DC charger hardware (boards with a `dc` section, firmware/app/dc.py) ----
# the isolation monitor (IEC 61557-8) alarms, or its resistance reading is below the
# alarm threshold (SetConfig dc_imd_alarm_kohm): open and stay open until a Reset
IMD_ALARM = const(1 << 16)
# a DC contactor welded: its aux contact reads closed after opening, or dc_link_v is still
# above the safe voltage (60 V) dc.weld_check_ms (~1 s) after opening. Blocks every close.
DC_WELD = const(1 << 17)
# a DC contactor's aux contact did not follow a close within contactor.feedback_ms
DC_NO_FEEDBACK = const(1 << 18)
# dc_link_v did not come within tolerance of the precharge target in dc.precharge_ms;
# cleared by the host's next DcContactor close
PRECHARGE_FAILED = const(1 << 19)
DC_FAILSAFE = const(IMD_ALARM | DC_WELD | DC_NO_FEEDBACK)

# (bit, code, name, policy), in priority order (the first set one is the safe reason)
TABLE = (
    (ESTOP, 40, "estop", MANUAL),
    (MANUAL_OVERRIDE, 41, "manual-override", MANUAL),
    (RCD_TRIP, 30, "rcd-trip", MANUAL),
    (CONTACTOR_WELD, 92, "contactor-weld", MANUAL),
    (CONTACTOR_NO_FEEDBACK, 91, "contactor-no-feedback", MANUAL),
    # DC charger hardware
    (DC_WELD, 93, "dc-contactor-weld", MANUAL),
    (DC_NO_FEEDBACK, 94, "dc-contactor-no-feedback", MANUAL),
    (IMD_ALARM, 80, "imd-alarm", MANUAL),
    (PRECHARGE_FAILED, 95, "precharge-failed", AUTO),
    (RCD_SELFTEST, 31, "rcd-self-test", MANUAL),
    (OVERTEMP, 50, "overtemperature", MANUAL),
    (NTC_SENSOR, 51, "temperature-sensor", MANUAL),
    (CP_SAMPLER, 22, "cp-sampler-stalled", MANUAL),
    (GRID_TRIP, 60, "grid-trip", AUTO),
    (LINK_TIMEOUT, 10, "link-timeout", MANUAL),
    (LEASE_EXPIRED, 11, "lease-expired", MANUAL),
    (DIODE, 20, "diode", AUTO),
    (CP_ERROR, 21, "cp-error", AUTO),
    # ---- proximity pilot and connector lock (issue 15) ----
    (PROXIMITY, 70, "proximity-pilot", AUTO),
    (CONNECTOR_LOCK, 71, "connector-lock", MANUAL),
)

FAILSAFE_MASK = const(
    LINK_TIMEOUT | LEASE_EXPIRED | CONTACTOR_NO_FEEDBACK | CONTACTOR_WELD | RCD_TRIP
    | RCD_SELFTEST | ESTOP | MANUAL_OVERRIDE | OVERTEMP | NTC_SENSOR | CP_SAMPLER
    | DC_FAILSAFE
)

AUTO_MASK = 0
for _row in TABLE:
    if _row[3] == AUTO:
        AUTO_MASK |= _row[0]

NO_RECLOSE_REGIONS = ("CH", "DK", "GB", "FR")


def code_of(bit):
    for row in TABLE:
        if row[0] == bit:
            return row[1]
    return 0


def lowest_code(bits):
    """Code of the highest-priority set bit, 0 if none."""
    for row in TABLE:
        if bits & row[0]:
            return row[1]
    return 0


def names(bits):
    return [row[2] for row in TABLE if bits & row[0]]


def label(code):
    """'F-092 contactor-weld' for code 92."""
    for row in TABLE:
        if row[1] == code:
            return "F-%03d %s" % (code, row[2])
    return "F-%03d" % code
