"""One bidirectional DC plant: the charger's power stage, the cable and the EV battery.

The session machines never see this; they see ``host.secc.controller.EvseController``, whose
simulated implementation drives this plant, while the simulated EV reads the same battery.
The -20 issue (bidirectional power), the firmware's ``sim-dc`` board and the station's v2g
scenario are meant to reuse this one model rather than grow their own.

Sign convention: current is positive into the EV battery (charging), negative out of it
(discharging, V2G). Time is an argument (``advance(now)``); nothing here sleeps.

What it models, and why that much:
- PreCharge: with the contactors open the stage regulates its output voltage towards a
  target at a ramp rate, current-limited, so "within tolerance" takes a realistic while.
- CableCheck: an insulation measurement that takes ``isolation_time`` and classifies the
  insulation resistance per IEC 61851-23 (> 500 ohm/V valid, 100..500 warning, < 100 fault).
- CurrentDemand: with the contactors closed the stage follows a current target at a rate
  limit, clamped by its own limits; the battery's terminal voltage is its open-circuit
  voltage (linear in SoC) plus I * R, the charger sees the cable's drop on top.
- WeldingDetection: after the contactors open the output capacitor bleeds down.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# the integration step: SoC and energy are integrated in steps no longer than this
MAX_STEP = 0.1


class Insulation(Enum):
    """IEC 61851-23 insulation classes (the names DIN / -2 isolationLevelType use)."""

    VALID = "Valid"
    WARNING = "Warning"
    FAULT = "Fault"


@dataclass
class StageLimits:
    max_voltage: float = 500.0
    min_voltage: float = 50.0
    max_current: float = 200.0  # charging
    max_discharge_current: float = 0.0  # 0 = unidirectional stage; > 0 for V2G
    max_power: float = 50_000.0
    voltage_ramp: float = 200.0  # V/s with the contactors open (PreCharge)
    current_ramp: float = 100.0  # A/s (rate limit on the current target)
    bleed_rate: float = 400.0  # V/s the output falls once de-energised (welding check)


@dataclass
class Battery:
    capacity_wh: float = 60_000.0
    soc: float = 0.30  # 0..1
    empty_voltage: float = 330.0  # open-circuit voltage at 0 % SoC
    full_voltage: float = 400.0  # and at 100 %
    resistance: float = 0.05  # ohm

    def open_circuit_voltage(self) -> float:
        return self.empty_voltage + (self.full_voltage - self.empty_voltage) * self.soc


class DcPlant:
    """Advance with ``advance(now)``; read ``output_voltage``, ``current``, ``energy_*``."""

    def __init__(self, limits: StageLimits | None = None, battery: Battery | None = None, *,
                 cable_resistance: float = 0.01, insulation_ohm: float = 1e7,
                 isolation_time: float = 2.0, now: float = 0.0) -> None:  # fmt: skip
        self.limits = limits or StageLimits()
        self.battery = battery or Battery()
        self.cable_resistance = cable_resistance
        self.insulation_ohm = insulation_ohm
        self.isolation_time = isolation_time
        self.now = now
        self.output_voltage = 0.0  # at the charger's terminals
        self.current = 0.0  # signed, + into the EV
        self.contactors_closed = False
        self.energised = False  # the power stage is switched on
        self.target_voltage = 0.0
        self.target_current = 0.0
        self.precharge_current_limit = 2.0  # DIN: EVTargetCurrent in PreCharge is <= 2 A
        self.energy_in_wh = 0.0  # delivered to the EV
        self.energy_out_wh = 0.0  # taken from the EV (V2G)
        self._isolation_started: float | None = None

    # --- requests from the controller ---------------------------------------------------

    def start_isolation_check(self, now: float) -> None:
        self.advance(now)
        self._isolation_started = now
        # the monitor applies a test voltage; it shows on the output like a precharge
        self.energised = True
        self.target_voltage = min(self.limits.max_voltage, self.battery.full_voltage)

    def isolation_result(self, now: float) -> Insulation | None:
        """None while the measurement runs (or was never started)."""
        self.advance(now)
        started = self._isolation_started
        if started is None or now - started < self.isolation_time:
            return None
        ohm_per_volt = self.insulation_ohm / self.limits.max_voltage
        if ohm_per_volt > 500:
            return Insulation.VALID
        return Insulation.WARNING if ohm_per_volt >= 100 else Insulation.FAULT

    def set_voltage(self, volts: float, now: float) -> None:
        """Voltage control (PreCharge): contactors open, current-limited."""
        self.advance(now)
        self.energised = True
        self.target_voltage = max(0.0, min(volts, self.limits.max_voltage))

    def set_current(self, amps: float, now: float) -> None:
        """Current control (CurrentDemand); negative discharges the EV if the stage can."""
        self.advance(now)
        self.target_current = max(-self.limits.max_discharge_current,
                                  min(amps, self.limits.max_current))  # fmt: skip

    def close_contactors(self, now: float) -> None:
        self.advance(now)
        self.contactors_closed = True
        self.current = 0.0
        self.target_current = 0.0

    def open_contactors(self, now: float) -> None:
        self.advance(now)
        self.contactors_closed = False
        self.current = 0.0
        self.target_current = 0.0

    def switch_off(self, now: float) -> None:
        self.advance(now)
        self.energised = False
        self.target_current = 0.0
        self._isolation_started = None

    # --- the model ----------------------------------------------------------------------

    def advance(self, now: float) -> None:
        if not (self.energised or self.contactors_closed or self.output_voltage):
            # at rest a step changes nothing: jump (a plant made at t=0 and first driven on
            # a monotonic clock otherwise steps through the machine's whole uptime)
            self.now = max(self.now, now)
            return
        while self.now < now:
            dt = min(MAX_STEP, now - self.now)
            self._step(dt)
            self.now += dt

    def _step(self, dt: float) -> None:
        lim = self.limits
        if self.contactors_closed and self.energised:
            power_cap = lim.max_power / max(self.output_voltage, 1.0)
            target = max(-min(lim.max_discharge_current, power_cap),
                         min(self.target_current, power_cap))  # fmt: skip
            self.current = _toward(self.current, target, lim.current_ramp * dt)
            ocv = self.battery.open_circuit_voltage()
            self.output_voltage = ocv + self.current * (self.battery.resistance
                                                        + self.cable_resistance)  # fmt: skip
            wh = self.output_voltage * self.current * dt / 3600.0
            if wh >= 0:
                self.energy_in_wh += wh
            else:
                self.energy_out_wh -= wh
            battery_wh = (ocv + self.current * self.battery.resistance) * self.current * dt / 3600
            self.battery.soc = min(1.0, max(0.0, self.battery.soc
                                            + battery_wh / self.battery.capacity_wh))  # fmt: skip
        elif self.contactors_closed:
            # stage off, battery still connected: the terminals sit at the battery voltage
            self.current = 0.0
            self.output_voltage = self.battery.open_circuit_voltage()
        elif self.energised:
            self.current = 0.0
            self.output_voltage = _toward(self.output_voltage, self.target_voltage,
                                          lim.voltage_ramp * dt)  # fmt: skip
        else:
            self.current = 0.0
            self.output_voltage = _toward(self.output_voltage, 0.0, lim.bleed_rate * dt)


def _toward(value: float, target: float, step: float) -> float:
    if value < target:
        return min(target, value + step)
    return max(target, value - step)
