"""The physical world behind the sim board: CP circuit, EV, contactor, current,
temperature, RCD, E-stop and the manual override switch.

Runs on MicroPython and CPython alike. The EV is a small reactive model: it plugs
in at `plug_ms`, closes S2 (state C) once it has seen a valid PWM for `react_ms`,
draws current while the contactor is closed, opens S2 after `charge_ms` of charging,
and unplugs `unplug_ms` after the contactor opened. Parameters come from the
scenario as a dict (see DEFAULTS); faults are injected the same way, at times
counted from boot. Every injected event is written to `log` (a callable) with the
firmware's clock, so a scenario can measure from trigger to reaction. `inject` starts
the same faults at run time (the bench console): it schedules them for now.
"""

from firmware.app.pilot import DUTY_DIGITAL, current_for_duty
from firmware.compat import ticks_add, ticks_diff
from firmware.link import messages as m

# mixed value types (None = never): a plain dict, or the checker infers int | None for all
DEFAULTS: dict = {
    "plug_ms": 800,  # from boot
    "react_ms": 300,  # EV sees valid PWM this long before it asks for power
    "charge_ms": 3000,
    "unplug_ms": 800,
    "ev_max_da": 320,  # the EV's own limit (0.1 A)
    "diode": True,  # the EV's CP diode is present
    "diode_fail_ms": None,  # the diode shorts at this time (from boot)
    "weld": False,  # the contactor welds on the first opening
    "contactor_ms": 20,  # mechanical delay of the auxiliary contact
    "rcd_trip_ms": None,  # residual current appears at this time
    "estop_ms": None,  # emergency stop pressed at this time
    "override_ms": None,  # the manual override switch disconnects the EV at this time
    "temp_profile": None,  # [[t_ms, temp_dc], ...] linear in between; 25.0 C otherwise
    "sessions": 1,  # plug in again `replug_ms` after unplugging, this many sessions in all
    "replug_ms": 600,
    # an ISO 15118 EV: 5 % PWM (digital communication) is its offer; it closes S2 react_ms
    # after seeing it and, with the contactor closed, draws digital_da (what its session
    # agreed), not a current read from the duty; on a DC board (sim-dc) the stage and the
    # battery decide its current (firmware/sim/dcside.py)
    "digital": False,
    "digital_da": 160,
    # ---- issue 15: the cable's PP coding and the connector lock ----
    "pp_ohms": 220,  # the cable's Rc (IEC 61851-1 B.2: 220 Ohm = 32 A); None: no cable
    "pp_fault_ms": None,  # at this time PP reads pp_fault_ohms (a broken coding)
    "pp_fault_ohms": 32767,  # open
    "lock_travel_ms": 30,  # the lock moves once driven this long one way
    "lock_jam": False,  # the lock never reaches "locked"
    "lock_fail_ms": None,  # from this time the lock's feedback reads "unlocked"
}
PP_OPEN = 32767

# faults `inject` can start now: the scenario key that schedules each
INJECTABLE = {
    "rcd-trip": "rcd_trip_ms",
    "estop": "estop_ms",
    "override": "override_ms",
    "diode-short": "diode_fail_ms",
}
OVERTEMP_DC = 1000  # `inject overtemp` heats the connector to this within a second

# EV phases
UNPLUGGED = 0
CONNECTED = 1  # S2 open, waiting for PWM
CHARGING = 2  # S2 closed
DONE = 3  # S2 open again, waiting to unplug
GONE = 4  # unplugged after the session


class Plant:
    def __init__(self, params=None, now=0, log=None):
        p = dict(DEFAULTS)
        if params:
            p.update(params)
        self.p = p
        self.t0 = now
        self.log = log
        self.phase = UNPLUGGED
        self.pilot_mode = m.PILOT_X1
        self.duty = 10000
        self.pwm_since = None
        self.coil = False
        self.coil_at = None  # settled since power-on
        self.welded = False
        self.current_ma = 0
        self.charged_ms = 0
        self.opened_at = None
        self.rcd_residual = False
        self.rcd_test_on = False
        self.estop = False
        self.override = False  # the override switch's auxiliary contact
        self.diode = p["diode"]
        self.temp_dc = 250
        self._last = now
        self._fired = set()
        self.sessions_done = 0
        self.pp_ohms = PP_OPEN if p["pp_ohms"] is None else p["pp_ohms"]
        self.lock_dir = 0  # the lock's drive: 1 locking, -1 unlocking, 0 off
        self.lock_since = now
        self.locked = False
        self.lock_lost = False
        self.dc_ma = None  # a DC board's current (firmware/sim/dcside.py), set before step()

    def set_lock_drive(self, d, now):
        if d != self.lock_dir:
            self.lock_dir = d
            self.lock_since = now

    def lock_feedback(self):
        return self.locked and not self.lock_lost

    def _event(self, name, now):
        if self.log:
            self.log(name, now)

    def inject(self, name, now):
        """Start a fault now, as if the scenario had scheduled it for this moment; it is
        logged when it fires, as a scheduled one is. `weld`: the contactor welds at its
        next opening; `overtemp`: the connector heats to OVERTEMP_DC within a second;
        `heal`: every injected cause goes away (latches stay until the host clears
        them). False for a name it does not know."""
        elapsed = ticks_diff(now, self.t0)
        key = INJECTABLE.get(name)
        if key is not None:
            self.p[key] = elapsed
            self._fired.discard(key)
        elif name == "weld":
            self.p["weld"] = True
            self.welded = False
        elif name == "overtemp":
            self.p["temp_profile"] = [[elapsed, self.temp_dc], [elapsed + 1000, OVERTEMP_DC]]
        elif name == "heal":
            self.rcd_residual = self.estop = self.override = self.welded = False
            self.p["weld"] = False
            self.diode = self.p["diode"]
            self.p["temp_profile"] = [[elapsed, self.temp_dc], [elapsed + 1000, 250]]
        else:
            return False
        if key is None:
            self._event(name, now)
        return True

    # ---------------------------------------------------------------- EVSE side

    def set_pilot(self, mode, duty):
        self.pilot_mode = mode
        self.duty = duty

    def set_coil(self, on, now):
        if on != self.coil:
            if not on and self.p["weld"] and not self.welded:
                self.welded = True
                self._event("weld", now)
            self.coil = on
            self.coil_at = now
            self._event("coil-on" if on else "coil-off", now)

    def feedback(self, now):
        if self.welded:
            return True
        if self.coil_at is None or ticks_diff(now, self.coil_at) >= self.p["contactor_ms"]:
            return self.coil
        return not self.coil  # the aux contact is still moving

    def rcd_fault(self):
        return self.rcd_residual or self.rcd_test_on

    def cp_levels(self):
        """(high_mv, low_mv) of the pilot as the EVSE's sense circuit sees it."""
        if self.pilot_mode == m.PILOT_F:
            return -12000, -12000
        if self.phase in (UNPLUGGED, GONE):
            high = 12000
        elif self.phase == CHARGING:
            high = 6000
        else:
            high = 9000
        if self.pilot_mode == m.PILOT_X1:
            return high, high
        low = -12000 if (self.diode or self.phase in (UNPLUGGED, GONE)) else -high
        return high, low

    def _pwm_valid(self):
        if self.p["digital"]:  # 5 %: charging by ISO 15118 / DIN 70121
            return self.pilot_mode == m.PILOT_PWM and self.duty == DUTY_DIGITAL
        return self.pilot_mode == m.PILOT_PWM and 800 <= self.duty <= 9700

    # ---------------------------------------------------------------- time

    def _due(self, key, elapsed):
        at = self.p[key]
        if at is None or elapsed < at or key in self._fired:
            return False
        self._fired.add(key)
        return True

    def step(self, now):
        dt = ticks_diff(now, self._last)
        if dt <= 0:
            return
        self._last = now
        p = self.p
        elapsed = ticks_diff(now, self.t0)
        # logged at the scheduled time, so a measured reaction includes the sampling delay
        if self._due("rcd_trip_ms", elapsed):
            self.rcd_residual = True
            self._event("rcd-trip", ticks_add(self.t0, p["rcd_trip_ms"]))
        if self._due("estop_ms", elapsed):
            self.estop = True
            self._event("estop", ticks_add(self.t0, p["estop_ms"]))
        if self._due("override_ms", elapsed):
            self.override = True
            self._event("override", ticks_add(self.t0, p["override_ms"]))
        if self._due("pp_fault_ms", elapsed):
            self.pp_ohms = p["pp_fault_ohms"]
            self._event("pp-fault", ticks_add(self.t0, p["pp_fault_ms"]))
        if self._due("lock_fail_ms", elapsed):
            self.lock_lost = True
            self._event("lock-lost", ticks_add(self.t0, p["lock_fail_ms"]))
        if self.lock_dir and ticks_diff(now, self.lock_since) >= p["lock_travel_ms"]:
            self.locked = self.lock_dir > 0 and not p["lock_jam"]
        if self._due("diode_fail_ms", elapsed):
            self.diode = False
            self._event("diode-short", ticks_add(self.t0, p["diode_fail_ms"]))
        if p["temp_profile"]:
            self.temp_dc = _interpolate(p["temp_profile"], elapsed)
        if self.phase == UNPLUGGED and elapsed >= p["plug_ms"]:
            self.phase = CONNECTED
            self._event("plug", now)
        if self.phase == CONNECTED:
            if self._pwm_valid():
                if self.pwm_since is None:
                    self.pwm_since = now
                elif ticks_diff(now, self.pwm_since) >= p["react_ms"]:
                    self.phase = CHARGING
            else:
                self.pwm_since = None
        elif self.phase == CHARGING:
            if not self._pwm_valid():
                self.phase = DONE  # the EVSE withdrew its offer: stop
            elif self.current_ma > 0:
                self.charged_ms += dt
                if self.charged_ms >= p["charge_ms"]:
                    self.phase = DONE
        elif self.phase == DONE:
            # the EV only knows its current stopped (a welded contactor still unplugs)
            if self.current_ma:
                self.opened_at = None
            elif self.opened_at is None:
                self.opened_at = now
            elif ticks_diff(now, self.opened_at) >= p["unplug_ms"]:
                self.phase = GONE
                self.opened_at = now
                self.sessions_done += 1
        elif self.phase == GONE and self.sessions_done < p["sessions"]:
            if ticks_diff(now, self.opened_at) >= p["replug_ms"]:
                self.phase = CONNECTED
                self._event("plug", now)
                self.charged_ms = 0
                self.pwm_since = None
        self._update_current(now, dt)

    def _update_current(self, now, dt):
        if self.dc_ma is not None:  # DC: the stage and the battery decide (dcside)
            self.current_ma = self.dc_ma
            return
        target = 0
        if self.phase == CHARGING and self.feedback(now) and self._pwm_valid() and not self.override:
            offered = self.p["digital_da"] if self.p["digital"] else current_for_duty(self.duty)
            target = min(offered, self.p["ev_max_da"]) * 100
        # no path, no current; otherwise the EV's charger ramps with a ~100 ms time constant
        if target == 0 or dt >= 100:
            self.current_ma = target
        else:
            self.current_ma += (target - self.current_ma) * dt // 100


def _interpolate(points, t):
    if t <= points[0][0]:
        return points[0][1]
    for i in range(1, len(points)):
        t1, v1 = points[i]
        if t <= t1:
            t0, v0 = points[i - 1]
            return v0 + (v1 - v0) * (t - t0) // (t1 - t0)
    return points[-1][1]
