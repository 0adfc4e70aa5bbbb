"""One bidirectional DC plant: the charger's power stage, the cable and the EV battery.

The one model both sides use: the firmware's `sim-dc` board (firmware/hal/sim.py) puts
its contactors, IMD and dc_link ADC on it, and the host's ISO 15118 DC sessions reach it
through host/bench/dcplant.py (typed wrappers over these classes) and
``host.secc.controller.SimEvseController``. MicroPython dialect: plain classes, floats
(sim code only: no board runs this), time in seconds as an argument.

Sign convention: current is positive into the EV battery (charging), negative out of it
(discharging, V2G). Nothing here sleeps.

What it models, and why that much:
- PreCharge: with the contactors open the stage regulates its output voltage towards a
  target at a ramp rate, current-limited, so "within tolerance" takes a realistic while.
- CableCheck: an insulation measurement that takes ``isolation_time`` and classifies the
  insulation resistance per IEC 61851-23 (> 500 ohm/V valid, 100..500 warning, < 100 fault).
- CurrentDemand: with the contactors closed the stage follows a current target at a rate
  limit, clamped by its own limits; the battery's terminal voltage is its open-circuit
  voltage (linear in SoC) plus I * R, the charger sees the cable's drop on top.
- WeldingDetection: after the contactors open the output capacitor bleeds down; a
  welded pair (``welded``) keeps the terminals at the battery's voltage.
"""

# the integration step: SoC and energy are integrated in steps no longer than this
MAX_STEP = 0.1

# IEC 61851-23 insulation classes (the names DIN / -2 isolationLevelType use)
VALID = "Valid"
WARNING = "Warning"
FAULT = "Fault"

class StageLimits:
    """The power stage's limits (host/bench/dcplant.py takes its defaults from here)."""

    def __init__(self, max_voltage=500.0, min_voltage=50.0, max_current=200.0,
                 max_discharge_current=0.0, max_power=50000.0, voltage_ramp=200.0,
                 current_ramp=100.0, bleed_rate=400.0):
        self.max_voltage = max_voltage
        self.min_voltage = min_voltage
        self.max_current = max_current  # charging
        self.max_discharge_current = max_discharge_current  # 0 = unidirectional; > 0 V2G
        self.max_power = max_power
        self.voltage_ramp = voltage_ramp  # V/s with the contactors open (PreCharge)
        self.current_ramp = current_ramp  # A/s (rate limit on the current target)
        self.bleed_rate = bleed_rate  # V/s the output falls once de-energised (welding check)


class Battery:
    def __init__(self, capacity_wh=60000.0, soc=0.30, empty_voltage=330.0, full_voltage=400.0,
                 resistance=0.05):
        self.capacity_wh = capacity_wh
        self.soc = soc  # 0..1
        self.empty_voltage = empty_voltage  # open-circuit voltage at 0 % SoC
        self.full_voltage = full_voltage  # and at 100 %
        self.resistance = resistance  # ohm

    def open_circuit_voltage(self):
        return self.empty_voltage + (self.full_voltage - self.empty_voltage) * self.soc


def classify(insulation_ohm, volts):
    """IEC 61851-23 class of an insulation resistance at the stage's rated voltage."""
    ohm_per_volt = insulation_ohm / volts
    if ohm_per_volt > 500:
        return VALID
    return WARNING if ohm_per_volt >= 100 else FAULT


class DcPlant:
    """Advance with ``advance(now)``; read ``output_voltage``, ``current``, ``energy_*``."""

    def __init__(self, limits=None, battery=None, cable_resistance=0.01, insulation_ohm=1e7,
                 isolation_time=2.0, now=0.0):
        self.limits = limits or StageLimits()
        self.battery = battery or Battery()
        self.cable_resistance = cable_resistance
        self.insulation_ohm = insulation_ohm
        self.isolation_time = isolation_time
        self.now = now
        self.output_voltage = 0.0  # at the charger's terminals
        self.current = 0.0  # signed, + into the EV
        self.contactors_closed = False
        self.welded = False  # the contacts stay together whatever the coils are told
        self.energised = False  # the power stage is switched on
        self.target_voltage = 0.0
        self.target_current = 0.0
        self.precharge_current_limit = 2.0  # DIN: EVTargetCurrent in PreCharge is <= 2 A
        self.energy_in_wh = 0.0  # delivered to the EV
        self.energy_out_wh = 0.0  # taken from the EV (V2G)
        self._isolation_started = None

    # --- requests from the controller ---------------------------------------------------

    def start_isolation_check(self, now):
        self.advance(now)
        self._isolation_started = now
        # the monitor applies a test voltage; it shows on the output like a precharge
        self.energised = True
        self.target_voltage = min(self.limits.max_voltage, self.battery.full_voltage)

    def insulation_class(self, now):
        """VALID / WARNING / FAULT, or None while the measurement runs (or was never
        started)."""
        self.advance(now)
        started = self._isolation_started
        if started is None or now - started < self.isolation_time:
            return None
        return classify(self.insulation_ohm, self.limits.max_voltage)

    def set_voltage(self, volts, now):
        """Voltage control (PreCharge): contactors open, current-limited."""
        self.advance(now)
        self.energised = True
        self.target_voltage = max(0.0, min(volts, self.limits.max_voltage))

    def set_current(self, amps, now):
        """Current control (CurrentDemand); negative discharges the EV if the stage can."""
        self.advance(now)
        self.target_current = max(-self.limits.max_discharge_current,
                                  min(amps, self.limits.max_current))

    def close_contactors(self, now):
        self.advance(now)
        self.contactors_closed = True
        self.current = 0.0
        self.target_current = 0.0

    def open_contactors(self, now):
        self.advance(now)
        if self.welded:
            return  # the coils let go, the contacts do not
        self.contactors_closed = False
        self.current = 0.0
        self.target_current = 0.0

    def switch_off(self, now):
        self.advance(now)
        self.energised = False
        self.target_current = 0.0
        self._isolation_started = None

    # --- the model ----------------------------------------------------------------------

    def advance(self, now):
        if not (self.energised or self.contactors_closed or self.output_voltage):
            # at rest a step changes nothing: jump (a plant made at t=0 and first driven on
            # a monotonic clock otherwise steps through the machine's whole uptime)
            if now > self.now:
                self.now = now
            return
        while self.now < now:
            dt = min(MAX_STEP, now - self.now)
            self._step(dt)
            self.now += dt

    def _step(self, dt):
        lim = self.limits
        bat = self.battery
        if self.contactors_closed and self.energised:
            power_cap = lim.max_power / max(self.output_voltage, 1.0)
            target = max(-min(lim.max_discharge_current, power_cap),
                         min(self.target_current, power_cap))
            self.current = _toward(self.current, target, lim.current_ramp * dt)
            ocv = bat.open_circuit_voltage()
            self.output_voltage = ocv + self.current * (bat.resistance + self.cable_resistance)
            wh = self.output_voltage * self.current * dt / 3600.0
            if wh >= 0:
                self.energy_in_wh += wh
            else:
                self.energy_out_wh -= wh
            battery_wh = (ocv + self.current * bat.resistance) * self.current * dt / 3600
            bat.soc = min(1.0, max(0.0, bat.soc + battery_wh / bat.capacity_wh))
        elif self.contactors_closed:
            # stage off, battery still connected: the terminals sit at the battery voltage
            self.current = 0.0
            self.output_voltage = bat.open_circuit_voltage()
        elif self.energised:
            self.current = 0.0
            self.output_voltage = _toward(self.output_voltage, self.target_voltage,
                                          lim.voltage_ramp * dt)
        else:
            self.current = 0.0
            self.output_voltage = _toward(self.output_voltage, 0.0, lim.bleed_rate * dt)


def _toward(value, target, step):
    if value < target:
        return min(target, value + step)
    return max(target, value - step)
