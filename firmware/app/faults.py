"""Fault flags and their latch policy, in one table.

Each fault has a bit in the `active`/`latched` words sent over the link and a code
shown to people as F-nnn. Policies:
  AUTO    the latch clears by itself when the cause is gone;
  MANUAL  the latch stays until the host sends Reset(clear) and the cause is gone.
Faults in FAILSAFE_MASK also force the pilot to the configured safe state (F or X1).
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

# (bit, code, name, policy)
TABLE = (
    (LINK_TIMEOUT, 10, "link-timeout", MANUAL),
    (LEASE_EXPIRED, 11, "lease-expired", MANUAL),
    (DIODE, 20, "diode", AUTO),
    (CP_ERROR, 21, "cp-error", AUTO),
    (CONTACTOR_NO_FEEDBACK, 91, "contactor-no-feedback", MANUAL),
    (CONTACTOR_WELD, 92, "contactor-weld", MANUAL),
)

FAILSAFE_MASK = const(LINK_TIMEOUT | LEASE_EXPIRED | CONTACTOR_NO_FEEDBACK | CONTACTOR_WELD)

AUTO_MASK = 0
for _row in TABLE:
    if _row[3] == AUTO:
        AUTO_MASK |= _row[0]


def code_of(bit):
    for row in TABLE:
        if row[0] == bit:
            return row[1]
    return 0


def lowest_code(bits):
    """Code of the lowest set bit (the table is in priority order), 0 if none."""
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
