"""The console's prompt: a typed line to what to do, with every range checked here
(the catalogue's ranges, CONFIG_KEYS by name) so a typo is one line of advice, not a
Nack from the firmware."""

from __future__ import annotations

import math
from dataclasses import dataclass

from firmware.link import messages as m

# what `inject` names -> the sim plant's fault (firmware/sim/plant.py INJECTABLE, and
# grid-dip in firmware/hal/sim.py)
INJECTIONS = {
    "rcd": "rcd-trip", "rcd-trip": "rcd-trip",
    "weld": "weld",
    "overtemp": "overtemp", "overtemperature": "overtemp",
    "diode": "diode-short", "diode-short": "diode-short",
    "grid-dip": "grid-dip", "dip": "grid-dip",
    "estop": "estop",
    "override": "override",
    "heal": "heal",
}
LEASE_EXPIRY_MS = 2000  # renewed every third of it while granted

HELP = (
    "pilot pwm PERCENT | pilot x1 | pilot f        set the CP output",
    "grant AMPS [export] [WATTS]                    grant a power lease (kept renewed)",
    "revoke                                         withdraw the lease",
    "set KEY VALUE                                  SetConfig by name (`keys` lists them)",
    "clear [failsafe]                               clear latched faults (Reset)",
    "reset                                          reboot the firmware",
    "inject rcd|weld|overtemp|diode|grid-dip|estop|override|heal   (sim board only)",
    "help | keys | quit",
)
NAMES = {name: key for key, (name, _, _) in m.CONFIG_KEYS.items()}


class CommandError(ValueError):
    """The line cannot be done; the text says what to type instead."""


@dataclass(frozen=True)
class Command:
    kind: str  # send, lease, inject, help, keys, quit
    message: m.Message | None = None
    lease: m.PowerLease | None = None  # kind lease: None withdraws it
    fault: str = ""


def _number(word: str, what: str) -> float:
    try:
        value = float(word)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # nan / inf: round() would raise past the prompt
        raise CommandError(f"{what}: {word!r} is not a number")
    return value


def _pilot(args: list[str]) -> Command:
    if args[:1] == ["x1"] and len(args) == 1:
        return Command("send", m.SetPilot(m.PILOT_X1, 10000))
    if args[:1] in (["f"], ["F"]) and len(args) == 1:
        return Command("send", m.SetPilot(m.PILOT_F, 0))
    if args[:1] == ["pwm"] and len(args) == 2:
        duty = round(_number(args[1].rstrip("%"), "pilot pwm") * 100)
        if not 500 <= duty <= 9600:
            raise CommandError("pilot pwm: the duty must be 5..96 % (IEC 61851-1 Annex A)")
        return Command("send", m.SetPilot(m.PILOT_PWM, duty))
    raise CommandError("usage: pilot pwm PERCENT | pilot x1 | pilot f")


def _grant(args: list[str]) -> Command:
    if not args:
        raise CommandError("usage: grant AMPS [export] [WATTS]")
    amps = _number(args[0], "grant")
    lo, hi = m.PowerLease.RANGES[2]
    if not lo <= round(amps * 10) <= hi:
        raise CommandError(f"grant: the current must be {lo / 10:g}..{hi / 10:g} A")
    rest = args[1:]
    export = "export" in rest
    rest = [a for a in rest if a != "export"]
    watts = round(_number(rest[0], "grant watts")) if rest else 0
    if abs(watts) > m.POWER_MAX_W or len(rest) > 1:
        raise CommandError(f"grant: the power must be within +-{m.POWER_MAX_W} W, then nothing more")
    if watts < 0 and not export:  # the link Nacks a discharge power on a charge lease
        raise CommandError("grant: a negative power is export: grant AMPS export WATTS")
    if export and watts > 0:
        watts = -watts  # export power is negative on the link
    return Command("lease", lease=m.PowerLease(1, int(export), round(amps * 10), LEASE_EXPIRY_MS, watts))


def _set(args: list[str]) -> Command:
    if len(args) != 2:
        raise CommandError("usage: set KEY VALUE (`keys` lists the keys and their ranges)")
    name, word = args
    key = NAMES.get(name)
    if key is None:
        close = [n for n in NAMES if name in n or n in name]
        hint = f" (did you mean {', '.join(close[:4])}?)" if close else " (`keys` lists them)"
        raise CommandError(f"set: no configuration key {name!r}{hint}")
    try:
        v = int(word)
    except ValueError:
        raise CommandError(f"set {name}: {word!r} is not an integer") from None
    _, lo, hi = m.CONFIG_KEYS[key]
    if not lo <= v <= hi:
        raise CommandError(f"set {name}: {v} is out of range {lo}..{hi}")
    return Command("send", m.SetConfig(key, v))


def parse(line: str) -> Command | None:
    """None for an empty line; CommandError for one that cannot be done."""
    words = line.split()
    if not words:
        return None
    verb, args = words[0].lower(), words[1:]
    if verb == "pilot":
        return _pilot(args)
    if verb == "grant":
        return _grant(args)
    if verb == "revoke" and not args:
        return Command("lease", lease=None)
    if verb == "set":
        return _set(args)
    if verb == "clear" and args in ([], ["faults"]):
        return Command("send", m.Reset(m.RESET_CLEAR_FAULTS))
    if verb == "clear" and args == ["failsafe"]:
        return Command("send", m.Reset(m.RESET_CLEAR_FAILSAFE))
    if verb == "reset" and not args:
        return Command("send", m.Reset(m.RESET_REBOOT))
    if verb == "inject":
        if len(args) != 1 or args[0] not in INJECTIONS:
            raise CommandError("usage: inject rcd|weld|overtemp|diode|grid-dip|estop|override|heal")
        return Command("inject", fault=INJECTIONS[args[0]])
    if verb in ("help", "?", "keys", "quit", "exit") and not args:
        return Command({"?": "help", "exit": "quit"}.get(verb, verb))
    raise CommandError(f"{line.strip()!r}: unknown command, or wrong arguments (type help)")


def key_list() -> list[str]:
    return [f"{name} {lo}..{hi}" for name, lo, hi in m.CONFIG_KEYS.values()]
