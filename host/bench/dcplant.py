"""The one bidirectional DC plant, as the host's ISO 15118 sessions use it.

The model itself lives in ``firmware/sim/dcplant.py`` (MicroPython dialect), where the
firmware's ``sim-dc`` board runs the very same code behind its contactors, IMD and
dc_link ADC; this module gives it the host's typed face: ``StageLimits`` and ``Battery``
as dataclasses, ``Insulation`` as an enum, and ``DcPlant`` with annotated attributes.

The session machines never see this; they see ``host.secc.controller.EvseController``, whose
simulated implementation drives this plant, while the simulated EV reads the same battery.

Sign convention: current is positive into the EV battery (charging), negative out of it
(discharging, V2G). Time is an argument (``advance(now)``); nothing here sleeps. What the
model covers (PreCharge ramp, CableCheck classes, CurrentDemand rate and clamps, bleed-down
after opening) is described in the core module.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from firmware.sim import dcplant as core

MAX_STEP = core.MAX_STEP
_STAGE = vars(core.StageLimits())  # the defaults are the core's
_BATTERY = vars(core.Battery())


class Insulation(Enum):
    """IEC 61851-23 insulation classes (the names DIN / -2 isolationLevelType use)."""

    VALID = core.VALID
    WARNING = core.WARNING
    FAULT = core.FAULT


@dataclass
class StageLimits(core.StageLimits):
    # the defaults are the core's; a test checks that the fields are the core's too
    max_voltage: float = _STAGE["max_voltage"]
    min_voltage: float = _STAGE["min_voltage"]
    max_current: float = _STAGE["max_current"]  # charging
    max_discharge_current: float = _STAGE["max_discharge_current"]  # 0: unidirectional
    max_power: float = _STAGE["max_power"]
    voltage_ramp: float = _STAGE["voltage_ramp"]  # V/s with the contactors open (PreCharge)
    current_ramp: float = _STAGE["current_ramp"]  # A/s (rate limit on the current target)
    bleed_rate: float = _STAGE["bleed_rate"]  # V/s the output falls once de-energised


@dataclass
class Battery(core.Battery):
    capacity_wh: float = _BATTERY["capacity_wh"]
    soc: float = _BATTERY["soc"]  # 0..1
    empty_voltage: float = _BATTERY["empty_voltage"]  # open-circuit voltage at 0 % SoC
    full_voltage: float = _BATTERY["full_voltage"]  # and at 100 %
    resistance: float = _BATTERY["resistance"]  # ohm

    def open_circuit_voltage(self) -> float:
        return float(core.Battery.open_circuit_voltage(self))


class DcPlant(core.DcPlant):
    """Advance with ``advance(now)``; read ``output_voltage``, ``current``, ``energy_*``."""

    limits: StageLimits
    battery: Battery
    cable_resistance: float
    insulation_ohm: float
    isolation_time: float
    now: float
    output_voltage: float
    current: float
    contactors_closed: bool
    welded: bool
    energised: bool
    target_voltage: float
    target_current: float
    precharge_current_limit: float
    energy_in_wh: float
    energy_out_wh: float

    def __init__(self, limits: StageLimits | None = None, battery: Battery | None = None, *,
                 cable_resistance: float = 0.01, insulation_ohm: float = 1e7,
                 isolation_time: float = 2.0, now: float = 0.0) -> None:  # fmt: skip
        super().__init__(limits or StageLimits(), battery or Battery(), cable_resistance,
                         insulation_ohm, isolation_time, now)  # fmt: skip

    def start_isolation_check(self, now: float) -> None:
        super().start_isolation_check(now)

    def isolation_result(self, now: float) -> Insulation | None:
        """None while the measurement runs (or was never started)."""
        found = self.insulation_class(now)
        return None if found is None else Insulation(found)

    def set_voltage(self, volts: float, now: float) -> None:
        super().set_voltage(volts, now)

    def set_current(self, amps: float, now: float) -> None:
        super().set_current(amps, now)

    def close_contactors(self, now: float) -> None:
        super().close_contactors(now)

    def open_contactors(self, now: float) -> None:
        super().open_contactors(now)

    def switch_off(self, now: float) -> None:
        super().switch_off(now)

    def advance(self, now: float) -> None:
        super().advance(now)
