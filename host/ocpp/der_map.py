"""OCPP 2.1 DER controls as the firmware's grid settings (link SetConfig keys 14, 16-46),
pure functions.

``control_settings(type, setting, grid)`` turns one control into (key, value) pairs in the
firmware's units; ``check(state, grid)`` holds a whole set of settings to the rules the
firmware applies to each SetConfig (the link's ranges, IEEE 1547's ranges of adjustability
on a 60 Hz board, the ordering of stages: firmware.app.gridfunc's own ``check_*``, so the
host refuses exactly what the firmware would); ``plan(applied, target, grid)`` orders the
SetConfig commands so that the firmware accepts every one on the way (it checks each key
against the others as they are then). A control the firmware cannot carry out raises
``Refused``: NotSupported for a function it does not have, Rejected for a value outside
its ranges. Nothing is clamped.

Units (our reading of OCPP 2.1 Part 2 block R and the schema descriptions; *verify*
against the spec's DER tables where marked):
- must-trip curves (HV/LV/HF/LFMustTrip, yUnit Not_Applicable: R04.FR.51): one point per
  stage, x the clearing time in s, y the threshold in % of nominal voltage or in Hz (the
  units SunSpec's trip models 707-710 give their points; the axes *verify*); the more severe threshold is stage 2 (OV2/UV2/OF2/UF2), the other stage 1; a
  single point sets stage 1; the firmware has two stages per direction;
- FreqDroop: overFreq/underFreq the absolute frequencies where the droop starts (Hz:
  nominal +/- the deadband) *verify*, overDroop/underDroop per unit (0.05 = 5 %), the
  response time in s;
- VoltWatt: two points, x in % of nominal voltage, y in % of rated power (PctMaxW): rated
  power up to V1 (y = 100 there), P2 at V2 and above (negative: absorb);
- EnterService: voltages in % of nominal *verify*, frequencies in Hz, delay in s, and
  rampRate the enter-service period in s *verify*; randomDelay is not offered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from firmware.app import gridfunc as gf
from firmware.link import messages as m

NOT_SUPPORTED = "NotSupported"
REJECTED = "Rejected"

# the control types the firmware can carry out, and the field of SetDERControlRequest each uses
FIELD_OF = {
    "HVMustTrip": "curve",
    "LVMustTrip": "curve",
    "HFMustTrip": "curve",
    "LFMustTrip": "curve",
    "VoltWatt": "curve",
    "FreqDroop": "freqDroop",
    "EnterService": "enterService",
}
# the keys each control type owns: clearing a type puts these back to the firmware's default
KEYS_OF = {
    "HVMustTrip": (m.CFG_OV2_PM, m.CFG_OV2_MS, m.CFG_OV1_PM, m.CFG_OV1_MS),
    "LVMustTrip": (m.CFG_UV1_PM, m.CFG_UV1_MS, m.CFG_UV2_PM, m.CFG_UV2_MS),
    "HFMustTrip": (m.CFG_OF2_MHZ, m.CFG_OF2_MS, m.CFG_OF1_MHZ, m.CFG_OF1_MS),
    "LFMustTrip": (m.CFG_UF1_MHZ, m.CFG_UF1_MS, m.CFG_UF2_MHZ, m.CFG_UF2_MS),
    "VoltWatt": (m.CFG_VW_ENABLE, m.CFG_VW_V1, m.CFG_VW_V2, m.CFG_VW_P2, m.CFG_VW_RESP),
    "FreqDroop": (m.CFG_DROOP_DB_OF, m.CFG_DROOP_DB_UF, m.CFG_DROOP_K_OF, m.CFG_DROOP_K_UF,
                  m.CFG_DROOP_RESP),  # fmt: skip
    "EnterService": (m.CFG_ENTER_V_MIN, m.CFG_ENTER_V_MAX, m.CFG_ENTER_F_MIN, m.CFG_ENTER_F_MAX,
                     m.CFG_ENTER_DELAY, m.CFG_ENTER_RAMP),  # fmt: skip
}
WHY_NOT = {  # the other 2.1 control types, and why this firmware has no use for them
    "FreqWatt": "frequency-watt is the firmware's droop: send FreqDroop",
    "FixedPFAbsorb": "no reactive power control",
    "FixedPFInject": "no reactive power control",
    "FixedVar": "no reactive power control",
    "VoltVar": "no reactive power control",
    "WattPF": "no reactive power control",
    "WattVar": "no reactive power control",
    "Gradients": "no ramp-rate setting apart from the enter-service ramp",
    "LimitMaxDischarge": "discharge limits come as charging profiles",
    "PowerMonitoringMustTrip": "no power monitoring trip",
    "HFMayTrip": "may-trip zones are not settable: trips are must-trip",
    "HVMayTrip": "may-trip zones are not settable: trips are must-trip",
    "LVMayTrip": "may-trip zones are not settable: trips are must-trip",
    "HVMomCess": "no momentary cessation",
    "LVMomCess": "no momentary cessation",
}


class Refused(Exception):
    """A DER control this firmware cannot take: ``status`` for the response (Rejected /
    NotSupported), ``reason`` its statusInfo.reasonCode, ``info`` the detail."""

    def __init__(self, status: str, reason: str, info: str) -> None:
        super().__init__(f"{status} {reason}: {info}")
        self.status = status
        self.reason = reason
        self.info = info


def _unsupported(info: str) -> Refused:
    return Refused(NOT_SUPPORTED, "UnsupportedParam", info)  # *verify* reason code list


def _invalid(info: str) -> Refused:
    return Refused(REJECTED, "InvalidValue", info)  # *verify* reason code list


@dataclass(frozen=True)
class Grid:
    """What the mapping needs to know about the board: its nominal frequency (50/60 Hz:
    the ranges of adjustability apply at 60 Hz only) and IEEE 1547 category."""

    f_nom: int = 50
    category: str = "II"


def defaults(grid: Grid) -> dict[int, int]:
    """The firmware's own settings for every key a DER control may set (what it holds
    after a reset, and what clearing a control returns to)."""
    out: dict[int, int] = {}
    stages = {gf.OV2: 16, gf.OV1: 18, gf.UV1: 20, gf.UV2: 22,
              gf.OF2: 24, gf.OF1: 26, gf.UF1: 28, gf.UF2: 30}  # fmt: skip
    for reason, _d, level, ms in gf.volt_trips(grid.category) + gf.trips_for(grid.f_nom):
        out[stages[reason]] = level
        out[stages[reason] + 1] = ms
    for i, v in enumerate(gf.droop_preset(grid.category, "default")):
        out[m.CFG_DROOP_DB_OF + i] = v
    out[m.CFG_VW_ENABLE] = 0
    for i, v in enumerate(gf.VOLT_WATT):
        out[m.CFG_VW_V1 + i] = v
    vmin, vmax, fmin, fmax, delay, ramp = gf.enter_defaults(grid.f_nom)
    out |= {m.CFG_ENTER_V_MIN: vmin, m.CFG_ENTER_V_MAX: vmax, m.CFG_ENTER_F_MIN: fmin,
            m.CFG_ENTER_F_MAX: fmax, m.CFG_ENTER_DELAY: delay, m.CFG_ENTER_RAMP: ramp}  # fmt: skip
    return out


def name(key: int) -> str:
    return m.CONFIG_KEYS[key][0]


def _group(key: int) -> str:
    if m.CFG_OV2_PM <= key <= m.CFG_UV2_MS:
        return "volt"
    if m.CFG_OF2_MHZ <= key <= m.CFG_UF2_MS:
        return "freq"
    if m.CFG_DROOP_DB_OF <= key <= m.CFG_DROOP_RESP:
        return "droop"
    if m.CFG_VW_V1 <= key <= m.CFG_VW_RESP:
        return "vw"
    if key == m.CFG_ENTER_DELAY or m.CFG_ENTER_V_MIN <= key <= m.CFG_ENTER_RAMP:
        return "enter"
    return "none"


def _trips(state: dict[int, int], first: int, rows: tuple[tuple[int, int], ...]) -> tuple:
    return tuple((reason, d, state[first + 2 * i], state[first + 2 * i + 1])
                 for i, (reason, d) in enumerate(rows))  # fmt: skip


def _check_group(group: str, state: dict[int, int], grid: Grid) -> int:
    """The firmware's Nack reason for the settings of one group, 0 if it takes them."""
    if group == "volt":
        rows = ((gf.OV2, gf.OVER), (gf.OV1, gf.OVER), (gf.UV1, gf.UNDER), (gf.UV2, gf.UNDER))
        return gf.check_volt_trips(_trips(state, m.CFG_OV2_PM, rows), grid.category, grid.f_nom)
    if group == "freq":
        rows = ((gf.OF2, gf.OVER), (gf.OF1, gf.OVER), (gf.UF1, gf.UNDER), (gf.UF2, gf.UNDER))
        return gf.check_freq_trips(_trips(state, m.CFG_OF2_MHZ, rows), grid.f_nom)
    if group == "droop":
        return gf.check_droop(tuple(state[m.CFG_DROOP_DB_OF + i] for i in range(5)),
                              grid.category, grid.f_nom)  # fmt: skip
    if group == "vw":
        return gf.check_volt_watt(tuple(state[m.CFG_VW_V1 + i] for i in range(4)), grid.f_nom)
    if group == "enter":
        k = (m.CFG_ENTER_V_MIN, m.CFG_ENTER_V_MAX, m.CFG_ENTER_F_MIN, m.CFG_ENTER_F_MAX,
             m.CFG_ENTER_DELAY, m.CFG_ENTER_RAMP)  # fmt: skip
        return gf.check_enter(tuple(state[x] for x in k), grid.f_nom)
    return 0


def check(state: dict[int, int], grid: Grid, keys: tuple[int, ...] | None = None) -> None:
    """Raise Refused(Rejected) unless the firmware would hold these settings (those of
    ``keys``' groups, or all): each value in its link range, each group as gridfunc
    checks it."""
    keys = tuple(state) if keys is None else keys
    for key in keys:
        _n, lo, hi = m.CONFIG_KEYS[key]
        if not lo <= state[key] <= hi:
            raise _invalid(f"{name(key)}={state[key]} outside {lo}..{hi}")
    for group in sorted({_group(k) for k in keys}):
        nack = _check_group(group, state, grid)
        if nack:
            base = defaults(grid)  # name the settings that are not the firmware's own
            ours = [k for k in keys if _group(k) == group]
            mine = ", ".join(f"{name(k)}={state[k]}" for k in ours if state[k] != base[k]) \
                or ", ".join(f"{name(k)}={state[k]}" for k in ours)
            where = (f"IEEE 1547 category {grid.category} ranges at 60 Hz"
                     if nack == m.NACK_OUT_OF_RANGE else "the order of the stages")  # fmt: skip
            raise _invalid(f"{mine}: {m.NACK_NAMES[nack]} ({where})"[:1024])


def plan(applied: dict[int, int], target: dict[int, int], grid: Grid) -> list[tuple[int, int]]:
    """The SetConfig commands taking the firmware from ``applied`` to ``target``, in an
    order the firmware accepts one by one (it checks each against the settings it then
    holds: moving two stages may need the outer one first)."""
    state = dict(applied)
    todo = [(k, v) for k, v in sorted(target.items()) if state.get(k) != v]
    out: list[tuple[int, int]] = []
    while todo:
        for i, (k, v) in enumerate(todo):
            trial = state | {k: v}
            if _check_group(_group(k), trial, grid) == 0:
                state = trial
                out.append(todo.pop(i))
                break
        else:  # every single step would be refused on the way (not met with two stages)
            raise _invalid("no order of SetConfig commands the firmware accepts: "
                           + ", ".join(f"{name(k)}={v}" for k, v in todo))  # fmt: skip
    return out


# --- one control -> (key, value) pairs ------------------------------------------------------


def _int(x: float, scale: float, what: str) -> int:
    if not math.isfinite(x):
        raise _invalid(f"{what} is not a finite number")
    return round(x * scale)


def control_settings(control_type: str, setting: dict, grid: Grid) -> list[tuple[int, int]]:
    """The firmware settings one DER control asks for (not yet checked against the
    others: see ``check``). ``setting`` is the control's object from the request (its
    ``curve``, ``freqDroop`` or ``enterService``)."""
    if control_type in WHY_NOT:
        raise _unsupported(f"{control_type}: {WHY_NOT[control_type]}")
    if control_type == "FreqDroop":
        return _droop(setting, grid)
    if control_type == "EnterService":
        return _enter(setting)
    for extra in ("hysteresis", "reactivePowerParams", "voltageParams"):
        if extra in setting:
            raise _unsupported(f"{control_type}: {extra} is not offered")
    points = sorted((p["x"], p["y"]) for p in setting["curveData"])
    if control_type == "VoltWatt":
        return _volt_watt(setting, points)
    return _trip_curve(control_type, setting["yUnit"], points)


def _trip_curve(control_type: str, unit: str, points: list[tuple[float, float]]) -> list[tuple[int, int]]:
    volts = control_type in ("HVMustTrip", "LVMustTrip")
    if unit != "Not_Applicable":  # R04.FR.51
        raise _invalid(f"{control_type}: yUnit {unit}; a trip curve's is Not_Applicable")
    if len(points) > 2:
        raise _unsupported(f"{control_type}: {len(points)} points; the firmware has two stages")
    scale = 10 if volts else 1000  # % -> per mille of nominal, Hz -> mHz
    over = control_type in ("HVMustTrip", "HFMustTrip")
    # the more severe threshold is stage 2; keys come as (stage 2, stage 1) for over and
    # (stage 1, stage 2) for under (firmware.link.messages' order)
    by_severity = sorted(points, key=lambda p: -p[1] if over else p[1])
    stage2, stage1 = (by_severity[0], by_severity[1]) if len(points) == 2 else (None, by_severity[0])
    keys = KEYS_OF[control_type]
    k2, k1 = (keys[0], keys[2]) if over else (keys[2], keys[0])
    out = []
    for key, point in ((k1, stage1), (k2, stage2)):
        if point is not None:
            out += [(key, _int(point[1], scale, "y")), (key + 1, _int(point[0], 1000, "x"))]
    return out


def _volt_watt(setting: dict, points: list[tuple[float, float]]) -> list[tuple[int, int]]:
    if setting["yUnit"] != "PctMaxW":
        raise _unsupported(f"VoltWatt: yUnit {setting['yUnit']} (takes PctMaxW)")
    if len(points) != 2:
        raise _unsupported(f"VoltWatt: {len(points)} points; the firmware's curve has two (V1, V2)")
    (v1, p1), (v2, p2) = points
    if p1 != 100:
        raise _unsupported("VoltWatt: the firmware holds rated power (y=100) up to V1")
    out = [(m.CFG_VW_ENABLE, 1), (m.CFG_VW_V1, _int(v1, 10, "V1")), (m.CFG_VW_V2, _int(v2, 10, "V2")),
           (m.CFG_VW_P2, _int(p2, 10, "P2"))]  # fmt: skip
    if "responseTime" in setting:
        out.append((m.CFG_VW_RESP, _int(setting["responseTime"], 1000, "responseTime")))
    return out


def _droop(s: dict, grid: Grid) -> list[tuple[int, int]]:
    f = grid.f_nom
    return [(m.CFG_DROOP_DB_OF, _int(s["overFreq"] - f, 1000, "overFreq")),
            (m.CFG_DROOP_DB_UF, _int(f - s["underFreq"], 1000, "underFreq")),
            (m.CFG_DROOP_K_OF, _int(s["overDroop"], 1000, "overDroop")),
            (m.CFG_DROOP_K_UF, _int(s["underDroop"], 1000, "underDroop")),
            (m.CFG_DROOP_RESP, _int(s["responseTime"], 1000, "responseTime"))]  # fmt: skip


def _enter(s: dict) -> list[tuple[int, int]]:
    if s.get("randomDelay"):
        raise _unsupported("EnterService: randomDelay is not offered")
    out = [(m.CFG_ENTER_V_MIN, _int(s["lowVoltage"], 10, "lowVoltage")),
           (m.CFG_ENTER_V_MAX, _int(s["highVoltage"], 10, "highVoltage")),
           (m.CFG_ENTER_F_MIN, _int(s["lowFreq"], 1000, "lowFreq")),
           (m.CFG_ENTER_F_MAX, _int(s["highFreq"], 1000, "highFreq"))]  # fmt: skip
    if "delay" in s:
        out.append((m.CFG_ENTER_DELAY, _int(s["delay"], 1000, "delay")))
    if "rampRate" in s:
        out.append((m.CFG_ENTER_RAMP, _int(s["rampRate"], 1000, "rampRate")))
    return out


def target(controls: dict[str, dict], grid: Grid) -> dict[int, int]:
    """The firmware settings with the given controls in force (control type -> its
    setting), every other key at its default; checked whole."""
    state = defaults(grid)
    for control_type, setting in controls.items():
        state |= dict(control_settings(control_type, setting, grid))
    check(state, grid)
    return state
