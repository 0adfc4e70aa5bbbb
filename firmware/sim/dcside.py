"""The DC side of the `sim-dc` board: contactor pair, aux contacts, precharge relay, IMD
and power stage around the one DC plant model (firmware/sim/dcplant.py).

The sim HAL (firmware/hal/sim.py) hands the DC part of the HAL contract to this; the EV
of firmware/sim/plant.py decides when it wants current (its CP phase), the plant's
battery and stage decide what flows. Parameters (scenario JSON, beside the plant's):

    dc_current_a     what the EV asks for while it charges (A, < 0 discharges)
    ev_soc           the battery's state of charge at plug-in (0..1)
    insulation_kohm  the insulation resistance of the plant (kohm), as the IMD reads it
    imd_reading      the IMD gives its reading (else only its alarm contact: -1)
    imd_alarm_ms     the IMD alarms at this time (from boot); logged as "imd-alarm"
    dc_weld          the pair welds the first time it opens; logged as "dc-weld"
    bidirectional    the stage can discharge the EV (V2G)
"""

from firmware.compat import ticks_add, ticks_diff
from firmware.link import dcmessages as dm
from firmware.sim import dcplant

# mixed value types (None = never): a plain dict, as firmware/sim/plant.py has
DEFAULTS: dict = {
    "dc_current_a": 50,
    "ev_soc": 0.5,
    "insulation_kohm": 5000,
    "imd_reading": True,
    "imd_alarm_ms": None,
    "dc_weld": False,
    "bidirectional": False,
}


class DcSide:
    def __init__(self, params, t0, log, contactor_ms):
        p = dict(DEFAULTS)
        for k in DEFAULTS:
            if params and k in params:
                p[k] = params[k]
        self.p = p
        self.t0 = t0
        self.log = log
        self.contactor_ms = contactor_ms
        limits = dcplant.StageLimits(
            max_discharge_current=200.0 if p["bidirectional"] else 0.0)
        self.plant = dcplant.DcPlant(limits, dcplant.Battery(soc=p["ev_soc"]),
                                     insulation_ohm=p["insulation_kohm"] * 1000.0, now=0.0)
        self.coils = 0
        self.before = 0  # the coils before the last change: the aux contacts still move
        self.coils_at = None
        self.stage = False
        self.wants_current = False  # the EV is in its charging phase
        self.alarm = False
        self.opened_once = False

    def _t(self, now):
        return ticks_diff(now, self.t0) / 1000.0

    def step(self, now, ev_charging):
        """Advance the plant to `now`; `ev_charging`: the EV asks for current."""
        p = self.p
        at = p["imd_alarm_ms"]
        if at is not None and not self.alarm and ticks_diff(now, self.t0) >= at:
            self.alarm = True
            if self.log:
                self.log("imd-alarm", ticks_add(self.t0, at))
        self.wants_current = ev_charging
        plant = self.plant
        if self.stage and plant.contactors_closed:
            plant.set_current(float(p["dc_current_a"]) if ev_charging else 0.0, self._t(now))
        plant.advance(self._t(now))

    def set_coils(self, bits, now):
        if bits == self.coils:
            return
        plant = self.plant
        t = self._t(now)
        both = dm.DC_PLUS | dm.DC_MINUS
        if bits & both == both:
            plant.close_contactors(t)
        elif self.coils & both == both:  # one of them let go: the circuit opens
            if self.p["dc_weld"] and not self.opened_once:
                plant.welded = True
                if self.log:
                    self.log("dc-weld", now)
            self.opened_once = True
            plant.open_contactors(t)
        self.before = self.coils
        self.coils = bits
        self.coils_at = now

    def aux(self, now):
        if self.plant.welded:
            return dm.DC_PLUS_AUX | dm.DC_MINUS_AUX
        bits = self.coils
        if self.coils_at is not None and ticks_diff(now, self.coils_at) < self.contactor_ms:
            bits = self.before
        return (bits & (dm.DC_PLUS | dm.DC_MINUS)) << 3

    def link_dv(self):
        v = self.plant.output_voltage
        return int(v * 10) if v > 0 else 0

    def power_stage(self, on, target_dv, now):
        t = self._t(now)
        plant = self.plant
        if on:
            if target_dv:
                plant.set_voltage(target_dv / 10, t)  # voltage mode, the pair open
            else:
                plant.energised = True
                plant.advance(t)
        elif self.stage:
            plant.switch_off(t)
            if self.log:
                self.log("stage-off", now)
        self.stage = on

    def current_ma(self):
        return int(self.plant.current * 1000)

    def imd_kohm(self):
        if not self.p["imd_reading"]:
            return -1
        return int(self.plant.insulation_ohm // 1000)
