"""Grid-support functions of IEEE 1547-2018 for a V2G charger, as pure logic over `now`.

* `Droop` — frequency-droop (frequency-watt), IEEE 1547-2018 §6.5.2.7: outside the
  deadband db, power moves by (f - f_nom -/+ db) / (f_nom * k) per unit of the rated
  power, from the pre-disturbance set-point, towards less export / more charging above
  nominal and more export / less charging below; it reaches its target as a first-order
  response whose open-loop response time (90 % of the change) is `t_resp_ms`.
  Presets per category (`droop_preset`): the defaults and the fastest allowed settings.
  Power is in W at the grid: > 0 export (discharging), < 0 import (charging);
  `p_max_export_w = 0` is a charger that may only reduce its charging.
* `GridGuard` — may we export, and must we stop now? OF1/OF2/UF1/UF2 with clearing
  times (§6.5.1, `TRIPS_60`, and `TRIPS_50`: the same offsets from a 50 Hz nominal, to
  be set per local code), a ROCOF limit (ride-through up to 0.5 / 2 / 3 Hz/s for
  categories I / II / III, §6.5.2.5), loss of grid (the estimator's LOST flag, or no
  valid measurement for `loss_ms`, at most 2 s), return to service only after the
  frequency stayed inside the enter-service window for `enter_delay_ms` (§4.10), and
  the phase alignment required before closing for export.
  Voltage trips OV2/OV1/UV1/UV2 (§6.4.1, Tables 11-13 for categories I-III:
  `VOLT_TRIPS`, thresholds in per mille of the nominal voltage) on the estimator's
  fast voltage (a half-cycle RMS, `feed_voltage`), with the same clearing-time logic
  as the frequency trips; a voltage between 0.05 and 0.25 pu explains missing zero
  crossings, so the estimator's LOST is then a deep sag for UV2, not a lost grid.
  Return to service also needs the voltage inside 0.917-1.05 pu (§4.10.2). 50 Hz
  grids get the same per-unit presets (no 50 Hz source is built in; EN 50549-1 /
  national codes set their own values, over the link) and only the link's wide
  ranges apply to them: the ranges of adjustability (`VOLT_RANGES`) are IEEE 1547's,
  for 60 Hz.

* `VoltWatt` — voltage-active power, §5.4.2 (Table 10): export is limited to the rated
  power up to V1 and falls linearly to P2 at V2 (P2 < 0: the DER absorbs, as a V2G
  charger may), followed as a first-order lag with its open-loop response time. Off
  unless enabled (1547-2018 leaves it disabled by default).
* Settings over the link (`check_*`): IEEE 1547's ranges of adjustability for the
  frequency trips (§6.5.1, Table 18), the droop (§6.5.2.7, Table 24), volt-watt (Table
  10) and enter service (§4.10, Table 4), applied on 60 Hz boards only, like the
  voltage trips; a 50 Hz board gets the link's wide ranges and the ordering checks.
  After entering service, export ramps up over `enter_ramp_ms` (§4.10.3,
  `GridGuard.ramp_pm`).

Clause numbers as open implementations cite them; verify against the standard's text
(the table numbers too).
Frequencies in mHz, voltages in mV (thresholds in per mille), ROCOF in mHz/s, phases in
Q16 turns, times in ms (ticks).

Voltage timing. Each voltage value comes with where its samples began; a stage's timer
starts where the value before the first one beyond began (the excursion began there
or later), and the stage trips once the timer reaches the clearing time less
`v_latency_ms` (the controller's: one control tick and the board's contactor opening
time), so the contacts part by the clearing time: measured from samples at 1-10 kHz,
50 and 60 Hz, any onset phase, between clearing - 24 ms and clearing (UV2 at 0.40 and
0.10 pu, OV2 at 1.25 pu: 136-157 ms). The price: the decision comes a tick and a
contactor opening before the clearing time, from a start placed up to a half cycle
early, while the end of an excursion is seen a half cycle or more late. With the sim
board's 20 ms contactor a sag below UV2 rides through 0.09-0.10 s of the 0.16 s that
Cat II permits (0.12 s with a contactor that opens at once); no 10 ms tick can both
open by 0.16 s and see that a sag ended at 0.15 s.
"""

from firmware.compat import const, ticks_add, ticks_diff

# (db over, db under [mHz], k over, k under [per mille], open-loop response time [ms])
DROOP_PRESETS = {
    ("I", "default"): (36, 36, 50, 50, 5000),
    ("II", "default"): (36, 36, 50, 50, 5000),
    ("III", "default"): (36, 36, 50, 50, 5000),
    ("I", "fastest"): (17, 17, 30, 30, 1000),
    ("II", "fastest"): (17, 17, 30, 30, 1000),
    ("III", "fastest"): (17, 17, 20, 20, 200),
}

# ranges of adjustability (60 Hz), Table 24: (db min, db max [mHz], k min, k max [per
# mille], response time min, max [ms]); the same for both directions
DROOP_RANGES = {
    "I": (17, 1000, 30, 50, 1000, 10000),
    "II": (17, 1000, 30, 50, 1000, 10000),
    "III": (17, 1000, 20, 50, 200, 10000),
}

# ROCOF ride-through, mHz/s (§6.5.2.5)
ROCOF_RIDE_THROUGH = {"I": 500, "II": 2000, "III": 3000}

OVER = const(0)
UNDER = const(1)

# Nack reasons for settings (kept equal to firmware.link.messages')
NACK_OUT_OF_RANGE = const(3)
NACK_CONFLICT = const(8)

# trip reasons
OF2 = const(1)
OF1 = const(2)
UF1 = const(3)
UF2 = const(4)
ROCOF = const(5)
LOSS = const(6)
# after the frequency ones, so that the link's `trip` values keep their meaning
OV2 = const(7)
OV1 = const(8)
UV1 = const(9)
UV2 = const(10)
TRIP_NAMES = ("", "OF2", "OF1", "UF1", "UF2", "ROCOF", "loss-of-grid", "OV2", "OV1", "UV1", "UV2")

# (reason, direction, threshold mHz, clearing time ms); the shortest first
TRIPS_60 = (
    (OF2, OVER, 62000, 160),
    (UF2, UNDER, 56500, 160),
    (OF1, OVER, 61200, 300000),
    (UF1, UNDER, 58500, 300000),
)
TRIPS_50 = (
    (OF2, OVER, 52000, 160),
    (UF2, UNDER, 46500, 160),
    (OF1, OVER, 51200, 300000),
    (UF1, UNDER, 48500, 300000),
)
# ranges of adjustability of the frequency trips, the same for categories I-III (60 Hz,
# §6.5.1 Table 18): reason -> (min, max mHz, min, max ms)
FREQ_RANGES = ((OF2, 61800, 66000, 160, 1000000), (OF1, 61000, 66000, 180000, 1000000),
               (UF1, 50000, 59000, 180000, 1000000), (UF2, 50000, 57000, 160, 1000000))
# IEEE 1547-2018 Tables 11-13 defaults: (reason, direction, threshold [per mille of the
# nominal voltage], clearing time [ms]); the shortest first, as for frequency
VOLT_TRIPS = {
    "I": ((OV2, OVER, 1200, 160), (UV2, UNDER, 450, 160),
          (OV1, OVER, 1100, 2000), (UV1, UNDER, 700, 2000)),
    "II": ((OV2, OVER, 1200, 160), (UV2, UNDER, 450, 160),
           (OV1, OVER, 1100, 2000), (UV1, UNDER, 700, 10000)),
    "III": ((OV2, OVER, 1200, 160), (UV2, UNDER, 500, 2000),
            (OV1, OVER, 1100, 13000), (UV1, UNDER, 880, 21000)),
}
# their ranges of adjustability: reason -> (min, max per mille, min, max ms); OV2 is fixed
_OV_RANGES = ((OV2, 1200, 1200, 160, 160), (OV1, 1100, 1200, 1000, 13000))
VOLT_RANGES = {
    "I": _OV_RANGES + ((UV1, 0, 880, 2000, 21000), (UV2, 0, 500, 160, 2000)),
    "II": _OV_RANGES + ((UV1, 0, 880, 2000, 21000), (UV2, 0, 500, 160, 2000)),
    "III": _OV_RANGES + ((UV1, 0, 880, 21000, 50000), (UV2, 0, 500, 2000, 21000)),
}
# enter service: voltage inside 0.917-1.05 pu (ANSI C84.1 range B, §4.10.2)
ENTER_V_MIN_PM = const(917)
ENTER_V_MAX_PM = const(1050)
# enter service: frequency inside (f_nom - 500 mHz, f_nom + 100 mHz) for 300 s (§4.10)
ENTER_BELOW_MHZ = const(500)
ENTER_ABOVE_MHZ = const(100)
ENTER_DELAY_MS = 300000
ENTER_RAMP_MS = 300000  # the enter service period: export ramps up over it (§4.10.3)
# Table 4's ranges of adjustability (60 Hz): V min, V max [per mille], f min, f max [mHz]
# (frequencies as offsets from 60 Hz), delay and ramp [ms]
ENTER_RANGES = ((880, 950), (1050, 1060), (-1000, -100), (100, 1000), (0, 600000),
                (1000, 1000000))

# volt-watt defaults (Table 10): V1, V2 [per mille], P2 [per mille of rated, < 0 absorb],
# open-loop response time [ms]; and their ranges of adjustability (60 Hz)
VOLT_WATT = (1060, 1100, 0, 10000)
VOLT_WATT_RANGES = ((1050, 1090), (1060, 1100), (-1000, 0), (500, 60000))
VW_MIN_SPAN_PM = const(10)  # V2 - V1
VW_MAX_DT_MS = const(100)  # a longer gap between updates counts as this much
LOSS_MS_MAX = const(2000)  # cease export at the latest this long after the last measurement
# a grid voltage between these (per mille) explains why the estimator finds no zero
# crossings (its hysteresis is 15 % of the nominal amplitude): a deep sag for UV2 to
# time, not a lost grid. Below: no grid. Above: the measurement itself is lost.
LOSS_V_PM = const(50)
NO_CROSSING_V_PM = const(250)

# refusal bits (for the interlock table)
UNSYNCED = const(1)  # no valid frequency / phase measurement
TRIPPED = const(2)  # OF/UF/OV/UV/ROCOF/loss trip, waiting for the enter-service conditions
LOST = const(4)  # no grid voltage
PHASE = const(8)  # phase error above the threshold (closing for export only)
NO_SENSING = const(16)  # the board has no grid sensing (no `grid` section): never export
REFUSED_NAMES = ((UNSYNCED, "grid-unsynced"), (TRIPPED, "grid-tripped"), (LOST, "grid-lost"),
                 (PHASE, "grid-phase"), (NO_SENSING, "grid-no-sensing"))

# GridSync flags this module reads (kept equal to firmware.app.gridsync's)
_SHORT_OK = const(1)
_PHASE_OK = const(4)
_LOST = const(16)


def droop_preset(category="II", profile="default"):
    return DROOP_PRESETS[(category, profile)]


def trips_for(f_nom):
    return TRIPS_60 if f_nom == 60 else TRIPS_50


def volt_trips(category="II"):
    return VOLT_TRIPS[category]


def check_volt_trips(trips, category, f_nom):
    """A Nack reason for a set of voltage trips, or 0: each inside its category's range
    of adjustability (60 Hz only: OUT_OF_RANGE), and the stages in order (CONFLICT):
    OV1 not above OV2 and not faster, UV1 not below UV2 and not faster."""
    ranges = VOLT_RANGES[category] if f_nom == 60 else ()
    return _check_trips(trips, ranges, OV1, OV2, UV1, UV2, None)


def check_freq_trips(trips, f_nom):
    """A Nack reason for a set of frequency trips (absolute mHz), or 0: on a 60 Hz board
    each inside its range of adjustability (OUT_OF_RANGE); OF above and UF below nominal,
    OF1 not above OF2 and not faster, UF1 not below UF2 and not faster (CONFLICT)."""
    ranges = FREQ_RANGES if f_nom == 60 else ()
    return _check_trips(trips, ranges, OF1, OF2, UF1, UF2, f_nom * 1000)


def _check_trips(trips, ranges, over1, over2, under1, under2, nominal):
    # the voltage and frequency tables have the same rows and the same rules (`ranges` is
    # empty off 60 Hz); only the frequency stages are also held to their side of nominal
    lv = {}
    ms = {}
    for reason, _d, level, t in trips:
        lv[reason] = level
        ms[reason] = t
    for reason, lo, hi, t_lo, t_hi in ranges:
        if not (lo <= lv[reason] <= hi and t_lo <= ms[reason] <= t_hi):
            return NACK_OUT_OF_RANGE
    if nominal is not None and (lv[over1] <= nominal or lv[under1] >= nominal):
        return NACK_CONFLICT
    if (lv[over1] > lv[over2] or ms[over1] < ms[over2] or lv[under1] < lv[under2]
            or ms[under1] < ms[under2]):
        return NACK_CONFLICT
    return 0


def check_droop(preset, category, f_nom):
    """A Nack reason for droop parameters (a DROOP_PRESETS tuple), or 0: on a 60 Hz board
    inside the category's ranges of adjustability."""
    if f_nom != 60:
        return 0
    db_lo, db_hi, k_lo, k_hi, t_lo, t_hi = DROOP_RANGES[category]
    db_of, db_uf, k_of, k_uf, t = preset
    if not (db_lo <= db_of <= db_hi and db_lo <= db_uf <= db_hi and k_lo <= k_of <= k_hi
            and k_lo <= k_uf <= k_hi and t_lo <= t <= t_hi):
        return NACK_OUT_OF_RANGE
    return 0


def check_volt_watt(vw, f_nom):
    """A Nack reason for volt-watt settings (V1, V2, P2, response), or 0: on a 60 Hz
    board inside Table 10's ranges; V2 at least 0.01 pu above V1 everywhere (CONFLICT,
    Table 10 gives V2's range from V1 + 0.01 pu)."""
    if f_nom == 60:
        for i in range(4):
            lo, hi = VOLT_WATT_RANGES[i]
            if not lo <= vw[i] <= hi:
                return NACK_OUT_OF_RANGE
    if vw[1] - vw[0] < VW_MIN_SPAN_PM:
        return NACK_CONFLICT
    return 0


def check_enter(enter, f_nom):
    """A Nack reason for enter-service settings (V min, V max [per mille], f min, f max
    [mHz], delay, ramp [ms]), or 0: on a 60 Hz board inside Table 4's ranges; the
    frequency window around nominal everywhere (CONFLICT)."""
    f = f_nom * 1000
    if f_nom == 60:
        got = (enter[0], enter[1], enter[2] - f, enter[3] - f, enter[4], enter[5])
        for i in range(6):
            lo, hi = ENTER_RANGES[i]
            if not lo <= got[i] <= hi:
                return NACK_OUT_OF_RANGE
    if not enter[2] < f < enter[3]:
        return NACK_CONFLICT
    return 0


def enter_defaults(f_nom, delay_ms=ENTER_DELAY_MS, ramp_ms=ENTER_RAMP_MS):
    f = f_nom * 1000
    return (ENTER_V_MIN_PM, ENTER_V_MAX_PM, f - ENTER_BELOW_MHZ, f + ENTER_ABOVE_MHZ,
            delay_ms, ramp_ms)


def with_volt_setting(trips, reason, pm=None, ms=None):
    """The trips with one stage's threshold or clearing time replaced (any trip table:
    `pm` is the threshold in the table's unit)."""
    out = []
    for r, d, p, t in trips:
        if r == reason:
            p = p if pm is None else pm
            t = t if ms is None else ms
        out.append((r, d, p, t))
    return tuple(out)


def phase_error(grid16, ref16):
    """ref - grid in Q16 turns, -32768..32767."""
    return ((ref16 - grid16 + 32768) & 0xFFFF) - 32768


def mrad_to_q16(mrad):
    return mrad * 65536 // 6283


class Droop:
    def __init__(self, f_nom, p_rated_w, p_max_export_w, p_max_import_w, preset=None, now=0):
        self.f_nom_mhz = f_nom * 1000
        self.p_rated_w = p_rated_w
        self.p_max_export_w = p_max_export_w
        self.p_max_import_w = p_max_import_w
        self.set_preset(preset or droop_preset())
        self.adj_mw = 0  # the droop's lagged adjustment to the set-point (mW: resolution)
        self.p_w = 0
        self.last = now

    def set_preset(self, preset):
        """New droop parameters; the lagged adjustment carries on from where it is, so a
        setting never steps the power by itself."""
        self.db_over, self.db_under, self.k_over, self.k_under, t_resp_ms = preset
        # 90 % of a step after t_resp: tau = t_resp / ln(10)
        self.tau_ms = t_resp_ms * 10000 // 23026

    def target_w(self, f_mhz, p_set_w):
        """The droop's steady-state power for frequency f and set-point p_set."""
        dev = f_mhz - self.f_nom_mhz
        p = p_set_w
        if dev > self.db_over:
            p -= (dev - self.db_over) * self.p_rated_w * 1000 // (self.f_nom_mhz * self.k_over)
        elif dev < -self.db_under:
            p += (-dev - self.db_under) * self.p_rated_w * 1000 // (self.f_nom_mhz * self.k_under)
        return self._limit(p)

    def _limit(self, p):
        if p > self.p_max_export_w:
            return self.p_max_export_w
        if p < -self.p_max_import_w:
            return -self.p_max_import_w
        return p

    def update(self, now, f_mhz, p_set_w):
        """The power to command now; call once per control period. A new set-point
        applies at once; only the frequency response follows the first-order lag."""
        want = (self.target_w(f_mhz, p_set_w) - p_set_w) * 1000
        dt = ticks_diff(now, self.last)
        self.last = now
        if dt > 0:
            # backward Euler of the first-order lag: stable for any dt
            self.adj_mw += (want - self.adj_mw) * dt // (self.tau_ms + dt)
        self.p_w = self._limit(p_set_w + self.adjustment_w())
        return self.p_w

    def adjustment_w(self):
        """What the droop adds to the set-point now (W, > 0 towards export)."""
        return (self.adj_mw + 500) // 1000


class VoltWatt:
    """Voltage-active power (§5.4.2): the export limit for the grid voltage, lagged.

    `limit_w(v_mv)` is the curve; `update(now, v_mv)` follows it as a first-order lag
    whose open-loop response time (90 % of a step) is the setting's, and returns the
    lagged limit in W (> 0 export). P1 is the rated power (Table 10 fixes it there).
    """

    def __init__(self, v_nom_mv, p_rated_w, settings=None, now=0):
        self.v_nom_mv = v_nom_mv
        self.p_rated_w = p_rated_w
        self.set(settings or VOLT_WATT)
        # the lagged limit in 1/16 W: resolution, while (step x dt) stays a small int on
        # a 32-bit port up to a few hundred kW (dt is capped at VW_MAX_DT_MS)
        self.lim16 = p_rated_w * 16
        self.last = now

    def set(self, settings):
        """New curve and response time; the lagged limit carries on from where it is."""
        v1, v2, p2, t_resp_ms = settings
        self.settings = settings
        self.v1_mv = self.v_nom_mv * v1 // 1000
        self.v2_mv = self.v_nom_mv * v2 // 1000
        self.p2_w = self.p_rated_w * p2 // 1000
        self.tau_ms = t_resp_ms * 10000 // 23026  # 90 % after t_resp: tau = t / ln(10)

    def limit_w(self, v_mv):
        """The curve: rated up to V1, linear to P2 at V2, P2 beyond."""
        if v_mv <= self.v1_mv:
            return self.p_rated_w
        if v_mv >= self.v2_mv:
            return self.p2_w
        p1 = self.p_rated_w
        return p1 - (p1 - self.p2_w) * (v_mv - self.v1_mv) // (self.v2_mv - self.v1_mv)

    def update(self, now, v_mv):
        """Call once per control period (enabled or not, so that `dt` stays a tick)."""
        want = self.limit_w(v_mv) * 16
        dt = ticks_diff(now, self.last)
        self.last = now
        if dt > VW_MAX_DT_MS:
            dt = VW_MAX_DT_MS
        if dt > 0:  # backward Euler, as Droop: stable for any dt
            self.lim16 += (want - self.lim16) * dt // (self.tau_ms + dt)
        return self.lagged_w()

    def lagged_w(self):
        return (self.lim16 + 8) >> 4


class GridGuard:
    def __init__(self, f_nom, now=0, trips=None, category="II", rocof_ms=100,
                 loss_ms=LOSS_MS_MAX, phase_mrad=50, enter_delay_ms=ENTER_DELAY_MS,
                 latency_ms=0, v_nom_mv=0, v_trips=None, v_latency_ms=0):
        self.f_nom_mhz = f_nom * 1000
        self.trips = trips or trips_for(f_nom)
        self.v_nom_mv = v_nom_mv
        self.v_trips = self._in_mv(v_trips, category)
        self.v_since = [None] * len(self.v_trips)
        # taken off the voltage clearing times: what lies between the decision and the
        # contacts parting (one control tick, the contactor's opening time)
        self.v_latency_ms = v_latency_ms
        self.v_floor_mv = v_nom_mv * LOSS_V_PM // 1000
        self.v_no_crossing_mv = v_nom_mv * NO_CROSSING_V_PM // 1000
        self.v_mv = 0  # the last valid voltage, held between measurements; 0: none yet
        self.v_start = now  # when the samples of the one before it began
        self.rocof_ms = rocof_ms
        self.loss_ms = min(loss_ms, LOSS_MS_MAX)
        self.f_trips = trips  # as set; None: the nominal frequency's defaults
        self.trips = ()
        self.since = []  # when each threshold was first exceeded
        self.configure(category, v_trips, phase_mrad, enter_delay_ms, latency_ms, trips)
        self.rocof_since = None
        self.last_ok = now
        self.f_mhz = self.f_nom_mhz  # the last valid frequency (held through resets)
        self.trip = LOSS  # until the grid has been seen: not in service
        self.tripped_at = now
        self.entered_at = now  # when it last entered service (the export ramp's start)
        self.enter_since = None
        self.refused = TRIPPED | UNSYNCED | LOST

    def configure(self, category, v_trips, phase_mrad, enter_delay_ms, latency_ms,
                  f_trips=None, enter=None):
        """New settings (the link's SetConfig), in service or not. A setting is no
        disturbance: the in-service state, the enter-service timer and every running
        stage timer carry over (matched by stage), so a new threshold or clearing time
        judges the measurements from the next one on and an excursion that is being
        timed is not forgotten. `v_trips` / `f_trips` None: the category's / nominal
        frequency's defaults; `enter` (see check_enter) None: the defaults with
        `enter_delay_ms` (given, it carries its own delay)."""
        self.v_trips, self.v_since = _carry(self.v_trips, self.v_since,
                                            self._in_mv(v_trips, category))
        self.f_trips = f_trips
        self.trips, self.since = _carry(self.trips, self.since,
                                        f_trips or trips_for(self.f_nom_mhz // 1000))
        self.rocof_limit = ROCOF_RIDE_THROUGH[category]
        self.phase_q16 = mrad_to_q16(phase_mrad)
        if enter is None:
            enter = enter_defaults(self.f_nom_mhz // 1000, enter_delay_ms)
        v_lo, v_hi, self.enter_f_lo, self.enter_f_hi, self.enter_delay_ms, self.ramp_ms = enter
        self.enter_v_lo = self.v_nom_mv * v_lo // 1000
        self.enter_v_hi = self.v_nom_mv * v_hi // 1000
        self.latency_ms = latency_ms  # the measurement's own delay, taken off clearing times

    def _in_mv(self, v_trips, category):
        """Voltage trips with their thresholds in mV; none without a nominal voltage."""
        if not self.v_nom_mv:
            return ()
        return tuple((r, d, self.v_nom_mv * pm // 1000, t)
                     for r, d, pm, t in (v_trips or volt_trips(category)))

    def feed_voltage(self, now, v_mv, age_ms):
        """One voltage measurement (RMS over samples that began `age_ms` before `now`),
        in the order they were measured. A stage's timer starts where the samples of
        the measurement before the first one beyond began: the excursion began inside
        those or later, so the timer is never late, and early by at most that one's
        length (a half cycle)."""
        start = ticks_add(now, -age_ms)
        trips = self.v_trips
        since = self.v_since
        for i in range(len(trips)):
            _reason, direction, limit, _clear = trips[i]
            if v_mv > limit if direction == OVER else v_mv < limit:
                if since[i] is None:
                    since[i] = self.v_start
            else:
                since[i] = None
        self.v_start = start
        self.v_mv = v_mv

    def update(self, now, flags, f_mhz, rocof_mhz_s, v_mv=-1, v_age_ms=0):
        """Feed one estimator update; returns the refusal bits for export. `v_mv`, when
        >= 0, is one more voltage measurement (see feed_voltage; the last is held)."""
        bits = 0
        if v_mv >= 0:
            self.feed_voltage(now, v_mv, v_age_ms)
        if flags & _LOST and not (self.v_trips and self.v_floor_mv <= self.v_mv < self.v_no_crossing_mv):
            bits |= LOST
        if flags & _SHORT_OK:
            self.last_ok = now
            self.f_mhz = f_mhz
        else:
            bits |= UNSYNCED
            if ticks_diff(now, self.last_ok) >= self.loss_ms:
                bits |= LOST
        if bits & LOST:
            self._trip(LOSS, now)
        else:
            self._check_trips(now, flags & _SHORT_OK, rocof_mhz_s)
        if self.trip:
            self._check_enter(now, bits)
        if self.trip:
            bits |= TRIPPED
        self.refused = bits
        return bits

    def _trip(self, reason, now):
        if not self.trip:
            self.tripped_at = now
        if not self.trip or reason == LOSS:
            self.trip = reason
        self.enter_since = None

    def _check_trips(self, now, fresh, rocof):
        # values held while the measurement refills: ride through, keep timing
        self._check_stages(now, self.trips, self.since, self.f_mhz, self.latency_ms)
        self._fire(now, self.v_trips, self.v_since, self.v_latency_ms)  # timed by feed_voltage
        if fresh and (rocof > self.rocof_limit or rocof < -self.rocof_limit):
            if self.rocof_since is None:
                self.rocof_since = now
            elif ticks_diff(now, self.rocof_since) >= self.rocof_ms:
                self._trip(ROCOF, now)
        elif fresh:
            self.rocof_since = None

    def _check_stages(self, now, trips, since, x, latency_ms):
        """Trip when x has stayed beyond a stage's threshold for its clearing time
        less the measurement's delay (it was beyond that much earlier already)."""
        for i in range(len(trips)):
            _reason, direction, limit, _clear = trips[i]
            beyond = x > limit if direction == OVER else x < limit
            if not beyond:
                since[i] = None
            elif since[i] is None:
                since[i] = now
        self._fire(now, trips, since, latency_ms)

    def _fire(self, now, trips, since, latency_ms):
        """Trip each stage beyond its threshold since `since[i]` for its clearing time less
        `latency_ms` (frequency and voltage stages alike)."""
        for i in range(len(trips)):
            if since[i] is not None and ticks_diff(now, since[i]) >= trips[i][3] - latency_ms:
                self._trip(trips[i][0], now)

    def ramp_pm(self, now):
        """Export allowed now, per mille of rated: 0 out of service, then rising
        linearly over the enter service period after (re)entering service (§4.10.3)."""
        if self.trip:
            return 0
        t = ticks_diff(now, self.entered_at)
        if t >= self.ramp_ms:
            return 1000
        return t * 1000 // self.ramp_ms

    def _check_enter(self, now, bits):
        inside = not bits and self.enter_f_lo < self.f_mhz < self.enter_f_hi
        if self.v_trips:
            inside = inside and self.enter_v_lo <= self.v_mv <= self.enter_v_hi
        if not inside:
            self.enter_since = None
        elif self.enter_since is None:
            self.enter_since = now
        if self.enter_since is not None and ticks_diff(now, self.enter_since) >= self.enter_delay_ms:
            self.trip = 0
            self.entered_at = now
            self.enter_since = None
            for i in range(len(self.since)):
                self.since[i] = None
            for i in range(len(self.v_since)):
                self.v_since[i] = None

    def close_refused(self, flags, grid16, ref16):
        """Refusal bits for closing for export now: the guard's and the phase check."""
        bits = self.refused
        if not flags & _PHASE_OK:
            bits |= UNSYNCED | PHASE
        elif abs(phase_error(grid16, ref16)) > self.phase_q16:
            bits |= PHASE
        return bits


def _carry(old, old_since, new):
    """(new, its stage timers): each stage's running timer carried over from `old`."""
    since = [None] * len(new)
    for i in range(len(new)):
        for j in range(len(old)):
            if old[j][0] == new[i][0]:
                since[i] = old_since[j]
    return new, since


def refused_names(bits):
    return [name for bit, name in REFUSED_NAMES if bits & bit]
