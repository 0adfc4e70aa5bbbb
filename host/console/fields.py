"""Messages of the link catalogue as text, generically.

Every message prints as `Name field=value ...` from its FIELDS, so a message added to
firmware/link/messages.py shows in the console without a change here. Values are
turned into units by the field's name: the catalogue's naming convention (`_da` 0.1 A,
`_dc` 0.1 C, `_mhz`, `_mv`, `_ma`, `_mrad`, `_ms`, `_w`) carries the unit, and a
few fields whose meaning is a code (CP state, pilot mode, fault and interlock words)
are named by the firmware's own tables.
"""

from __future__ import annotations

from collections.abc import Callable

from firmware.app import faults, gridfunc, gridsync, interlocks
from firmware.link import messages as m


def fault_names(bits: int) -> str:
    return " ".join(faults.label(row[1]) for row in faults.TABLE if bits & row[0]) or "none"


def interlock_names(bits: int) -> str:
    return ",".join(interlocks.names(bits)) or "none"


def grid_refusals(bits: int) -> str:
    return ",".join(gridfunc.refused_names(bits)) or "none"


def _cp(v: int) -> str:
    return m.CP_NAMES[v] if 0 <= v < len(m.CP_NAMES) else f"?{v}"


def _pilot(v: int) -> str:
    return m.PILOT_NAMES[v] if 0 <= v < len(m.PILOT_NAMES) else f"?{v}"


def _nack(v: int) -> str:
    return m.NACK_NAMES.get(v, str(v))


def _type(v: int) -> str:
    cls = m.BY_TYPE.get(v)
    return cls.__name__ if cls is not None else f"0x{v:02x}"


def _trip(v: int) -> str:
    return gridfunc.TRIP_NAMES[v] if 0 <= v < len(gridfunc.TRIP_NAMES) else str(v)


# (message name or "*", field) -> formatter; the first match wins, "*" for any message
_NAMED: dict[tuple[str, str], Callable[[int], str]] = {
    ("*", "cp_state"): _cp,
    ("CpStateChanged", "old"): _cp,
    ("CpStateChanged", "new"): _cp,
    ("*", "pilot_mode"): _pilot,
    ("SetPilot", "mode"): _pilot,
    ("*", "duty"): lambda v: f"{v / 100:.2f}%",
    ("Status", "faults"): fault_names,
    ("Status", "latched"): fault_names,
    ("Fault", "active"): fault_names,
    ("Fault", "latched"): fault_names,
    ("Fault", "code"): faults.label,
    ("Status", "safe_reason"): lambda v: faults.label(v) if v else "none",
    ("Status", "refused"): interlock_names,
    ("ContactorChanged", "reason"): lambda v: ",".join(interlocks.names(v)) or "-",
    ("GridStatus", "refused"): grid_refusals,
    ("GridStatus", "flags"): lambda v: ",".join(gridsync.flag_names(v)) or "none",
    ("GridStatus", "trip"): _trip,
    ("Nack", "reason"): _nack,
    ("*", "acked_type"): _type,
    ("SetConfig", "key"): lambda v: m.CONFIG_KEYS[v][0] if v in m.CONFIG_KEYS else str(v),
}

# field-name suffix -> (divisor, unit, decimals)
_UNITS = (
    ("_da", 10, "A", 1),
    ("_dc", 10, "C", 1),
    ("_mhz_s", 1000, "Hz/s", 3),
    ("_mhz", 1000, "Hz", 3),
    ("_mv", 1000, "V", 2),
    ("_ma", 1000, "A", 2),
    ("_mrad", 1, "mrad", 0),
    ("_ms", 1, "ms", 0),
    ("_w", 1, "W", 0),
)


def value(msg_name: str, field: str, v: object) -> str:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).rstrip(b"\0").decode("ascii", "replace")
    if not isinstance(v, int):
        return repr(v)
    f = _NAMED.get((msg_name, field)) or _NAMED.get(("*", field))
    if f is not None:
        return f(v)
    for suffix, div, unit, dec in _UNITS:
        if field.endswith(suffix):
            return f"{v / div:.{dec}f}{unit}" if div != 1 else f"{v}{unit}"
    return str(v)


def describe(msg: m.Message, skip: tuple[str, ...] = ()) -> str:
    """`Name field=value ...` for any message of the catalogue, but the fields `skip`."""
    name = type(msg).__name__
    parts = [f"{f}={value(name, f, getattr(msg, f))}" for f in msg.FIELDS if f not in skip]
    return f"{name} " + " ".join(parts)
