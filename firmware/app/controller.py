"""The charge controller: one `tick(now)` every control period decides everything.

It samples the pilot and the inputs through the HAL, applies the host's desired state
(pilot, lease) and the interlocks, and drives the pilot and the contactor. Commands
from the host only change desired state; `tick` is the one place that acts, so every
decision is made in one order, once per tick, and it allocates nothing (a test runs
it under micropython.heap_lock()).

Fail-safe (DESIGN.md principle 2): when the host has been silent for
`link_timeout_ms`, or a lease expires, a MANUAL fault latches; the interlocks then
open the contactor in the same tick and the pilot goes to the safe state. The host
must send Reset(clear) to leave it, so a host restart sees why it happened.

Debounce is asymmetric on purpose: a new CP state that permits power (B from A, C, D)
must hold for `debounce_ms`; one that removes it (A, B from C/D, E, F) is taken as
soon as a whole burst agrees, so the contactor opens within one tick.
"""

from array import array

from firmware.app import cable, events, faults, interlocks, pilot, thermal
from firmware.app.cable import WEAR_CHANGED
from firmware.compat import const, ticks_add, ticks_diff
from firmware.hal.base import CP_BURST, counts_to_mv, mv_to_counts
from firmware.kernels.cp import all_at_most, classify_burst, make_bands
from firmware.link import messages as m

RCD_TEST_MS = const(40)  # test current on, then off: the RCD must follow each within this
LIMIT_CHANGED = const(4)  # event kind: effective current limit changed (a = new limit)
GRID_CHANGED = const(5)  # event kind: droop adjustment moved by a step, or grid refusal changed
CATEGORIES = ("I", "II", "III")
_GRID_OPENS = const(2 | 4)  # gridfunc.TRIPPED | gridfunc.LOST
_NO_SENSING = const(16)  # gridfunc.NO_SENSING (gridfunc loads only with grid sensing)
SAMPLER_STALL_MS = const(100)  # no grid samples this long: the sampler is dead, no grid
PROFILES = ("default", "fastest")


def cp_stall_ms(period_ms, open_ms):
    """How long the CP sample count may stand still before F-022, so that the contacts
    are open within faults.CP_STALL_BUDGET_MS of the sampler's last sample. The tick
    that last sees the count move comes up to one period after that sample; the check
    fires on the first tick more than this later, up to one period more; the contacts
    then take open_ms. So: the budget less open_ms and two periods, and at least one
    period (at two samples a millisecond a count that stands that long is dead).
    boards.validate refuses a board that cannot meet the budget."""
    return max(period_ms, faults.CP_STALL_BUDGET_MS - open_ms - 2 * period_ms)


def _configure_guard(guard, cfg):
    guard.configure(cfg["category"], cfg.get("v_trips"), cfg["phase_mrad"],
                    cfg["enter_delay_ms"], cfg["latency_ms"], cfg.get("f_trips"), cfg["enter"])


def _droop_params(cfg, gridfunc):
    return cfg.get("droop") or gridfunc.droop_preset(cfg["category"], cfg["droop_profile"])


class Controller:
    def __init__(self, hal, board, now):
        self.hal = hal
        self.now = now
        self.link_timeout_ms = board["link_timeout_ms"]
        self.safe_pilot = m.PILOT_F
        self.debounce_ms = board["debounce_ms"]
        self.pwm_change_ms = board["pwm_change_ms"]
        self.feedback_ms = board["contactor"]["feedback_ms"]
        self.contactor_open_ms = board["contactor"].get("open_ms", 0)
        self.period_ms = board["control_period_ms"]
        self.cp_stall_ms = cp_stall_ms(self.period_ms, self.contactor_open_ms)
        self.rated_da = board.get("rated_da", 320)
        rcd = board["rcd"]
        self.rcd_present = rcd["present"]
        self.rcd_self_test = rcd["present"] and rcd["self_test"]
        self.auto_mask = faults.AUTO_MASK
        if not (rcd["no_reclose"] or board["region"] in faults.NO_RECLOSE_REGIONS):
            self.auto_mask |= faults.RCD_TRIP
        self.events = events.EventRing()
        # sampling: preallocated bursts and thresholds in raw counts
        self.cal = board["cp_cal"]
        adc_max = (1 << board["adc_bits"]) - 1
        self.bands = make_bands(self.cal, adc_max)
        self.diode_limit = max(0, mv_to_counts(pilot.DIODE_LOW_MAX_MV, self.cal))
        self.high = array("H", [0] * CP_BURST)
        self.low = array("H", [0] * CP_BURST)
        ntc = board["ntc"]
        self.ntc_channels = ntc["channels"]
        self.ntc = thermal.NtcTable(ntc["beta"], ntc["r25"], ntc["r_series"], ntc["adc_max"])
        th = board["thermal"]
        self.foldback = thermal.Foldback(th["limit_dc"], th["start_pct"], th["hysteresis_dc"])
        self.temp_dc = array("h", [250, 250])
        # measured
        self.cp = m.CP_UNKNOWN
        self.cand = m.CP_UNKNOWN
        self.cand_since = now
        self.cp_high_mv = 0
        self.cp_low_mv = 0
        self.diode_checked = False
        self.rcd_now = False
        self.estop_now = False
        self.override_now = False
        # the manual override switch's auxiliary contact, on boards that wire one
        self._override = getattr(hal, "manual_override", None)
        self.cp_count = -1  # the HAL's CP sample count at the last tick, and since when
        self.cp_count_at = now
        self.cp_stalled = False
        self.thermal_da = self.rated_da
        self.limit_dc_rated = th["limit_dc"]  # the board's; the operator may only lower it
        # desired by the host; at boot we offer nothing (x1) until the host speaks
        self.want_mode = m.PILOT_X1
        self.want_duty = 10000
        self.lease_allow = 0
        self.lease_direction = 0
        self.lease_da = 0
        self.lease_w = 0  # the lease's signed power limit (> 0 charging), 0: none
        self.lease_until = now
        # link liveness: armed by the first good host frame after a Hello
        self.link_up = False
        self.last_rx = now
        # outputs
        self.out_mode = -1
        self.out_duty = -1
        self.duty_at = now
        self.limit_reported = -1
        self.limit_w_reported = 0
        self.contactor = 0
        self.contactor_at = now
        self.check_pending = False  # feedback (close) or weld (open) check due
        self.rcd_phase = 0  # 0 idle, 1 test current on, 2 test current off
        self.rcd_at = now
        self.rcd_tested = False
        self.faults = 0
        self.latched = 0
        self.refused = 0
        # grid sync (boards with grid sensing only): measurement, guard, droop
        self.gs = None
        self.es = None  # EdgeSync, where a zero-cross comparator gives the timing
        self._samples_at = 0  # when the grid ADC last delivered samples
        self._lost_flag = 0  # gridsync.LOST, kept here: gridsync loads only with a grid
        self.guard = None
        self.droop = None
        self.vw = None  # volt-watt, built with the grid; applied while vw_on
        self.vw_on = False
        self.grid_adjust_w = 0  # droop, volt-watt and the enter-service ramp together
        self.grid_refused = 0
        self.grid_reported = -1
        self.droop_reported = 0
        self.phase_err16 = 0
        self.dc = None  # DC charger hardware (firmware/app/dc.py), on boards with a `dc` section
        # the measurement the guard saw last: from the edges where there are any
        self.grid_flags = 0
        self.grid_f_mhz = 0
        self.grid_rocof = 0
        self.grid_phase16 = 0
        self._zero_cross = board["pins"].get("grid_zero_cross") is not None
        grid = board.get("grid")
        # the board's power rating (W): caps a lease's power
        self.rated_w = board.get("rated_w") or (grid["p_rated_w"] if grid else self.rated_da * 23)
        if grid is not None:
            self._setup_grid(dict(grid), now)
        else:
            self.grid_refused = _NO_SENSING  # the export interlock's reason, for good
        # issue 15: the cable (PP, connector lock) and the contactor's wear
        self.cap_da = self.rated_da  # thermal and cable caps together (cable.check)
        self.wear = cable.make_wear(board, hal)
        self.lock = cable.make_lock(board, hal, now)
        cable.setup(self, hal, board, now)
        self._apply_pilot()
        # boot self-test: with the coil released, the aux contact must read open
        if hal.contactor_feedback():
            self._raise(faults.CONTACTOR_WELD, 0, now)
        dc_cfg = board.get("dc")
        if dc_cfg is not None:  # the pair replaces the contactor; its code loads only here
            from firmware.app import dc

            self.dc = dc.DcStage(self, hal, dc_cfg, now)
            self.dc.boot_check(now)

    # ------------------------------------------------------------ grid

    def _setup_grid(self, cfg, now):
        from firmware.app import gridfunc, gridsync

        self.grid_cfg = cfg
        self.gs = gridsync.from_config(cfg)
        self._samples_at = now
        self._lost_flag = gridsync.LOST
        if self._zero_cross:
            from firmware.app import edgesync

            self.es = edgesync.from_config(cfg)
            self._combine = edgesync.combine
        f_nom = cfg["f_nom"]
        cfg["enter"] = gridfunc.enter_defaults(
            f_nom, cfg["enter_delay_ms"], cfg.get("enter_ramp_ms", gridfunc.ENTER_RAMP_MS))
        self.guard = gridfunc.GridGuard(
            f_nom, now, v_nom_mv=cfg["v_nom_mv"],
            # the fast voltage comes with its age; what is left is the tick between two
            # decisions and the contacts' parting after the coil lets go
            v_latency_ms=self.period_ms + self.contactor_open_ms,
        )
        _configure_guard(self.guard, cfg)
        p = cfg["p_rated_w"]
        self.droop = gridfunc.Droop(
            f_nom, p, p if self.lease_direction else 0, p, _droop_params(cfg, gridfunc), now,
        )
        self.vw = gridfunc.VoltWatt(cfg["v_nom_mv"], p, cfg.get("vw"), now)
        self.vw_on = bool(cfg.get("vw_enable", 0))

    def configure_grid(self, key, value):
        """SetConfig for the grid; returns a Nack reason or 0. Only what the key sets
        changes: the guard stays in service with its running timers (a new trip setting
        judges the next measurement), the droop keeps its lagged adjustment and
        volt-watt its lagged limit."""
        guard = self.guard
        droop = self.droop
        vw = self.vw
        if guard is None or droop is None or vw is None:  # no grid sensing
            return m.NACK_BAD_STATE
        from firmware.app import gridfunc

        cfg = dict(self.grid_cfg)
        reason = 0
        if key == m.CFG_GRID_CATEGORY:
            cfg["category"] = CATEGORIES[value - 1]
            cfg["v_trips"] = None  # the new category's voltage trips
            cfg["droop"] = None  # and its droop preset
        elif m.CFG_OV2_PM <= key <= m.CFG_UV2_MS or m.CFG_OF2_MHZ <= key <= m.CFG_UF2_MS:
            reason = self._set_trip(cfg, key, value)
        elif m.CFG_DROOP_DB_OF <= key <= m.CFG_DROOP_RESP:
            dp = list(_droop_params(cfg, gridfunc))
            dp[key - m.CFG_DROOP_DB_OF] = value
            cfg["droop"] = tuple(dp)
            reason = gridfunc.check_droop(cfg["droop"], cfg["category"], cfg["f_nom"])
        elif key == m.CFG_VW_ENABLE:
            cfg["vw_enable"] = value
        elif m.CFG_VW_V1 <= key <= m.CFG_VW_RESP:
            vp = list(vw.settings)
            vp[key - m.CFG_VW_V1] = value
            cfg["vw"] = tuple(vp)
            reason = gridfunc.check_volt_watt(cfg["vw"], cfg["f_nom"])
        elif key == m.CFG_ENTER_DELAY or m.CFG_ENTER_V_MIN <= key <= m.CFG_ENTER_RAMP:
            enter = list(cfg["enter"])
            # keys 42-45 are enter[0..3], 46 the ramp (enter[5]); the delay (14) is enter[4]
            i = 4 if key == m.CFG_ENTER_DELAY else (5 if key == m.CFG_ENTER_RAMP else key - m.CFG_ENTER_V_MIN)
            enter[i] = value
            cfg["enter"] = tuple(enter)
            cfg["enter_delay_ms"] = enter[4]
            reason = gridfunc.check_enter(cfg["enter"], cfg["f_nom"])
        elif key == m.CFG_DROOP_PROFILE:
            cfg["droop_profile"] = PROFILES[value]
            cfg["droop"] = None
        elif key == m.CFG_DROOP_STEP:
            cfg["droop_step_w"] = value  # read by _check_grid, nothing to rebuild
        elif key == m.CFG_PHASE_MRAD:
            cfg["phase_mrad"] = value
        elif key == m.CFG_GRID_LATENCY:
            cfg["latency_ms"] = value
        if reason:
            return reason  # nothing applied
        self.grid_cfg = cfg
        droop.set_preset(_droop_params(cfg, gridfunc))  # the lagged adjustment carries on
        vw.set(cfg.get("vw") or gridfunc.VOLT_WATT)
        self.vw_on = bool(cfg.get("vw_enable", 0))
        _configure_guard(guard, cfg)
        return 0

    def _set_trip(self, cfg, key, value):
        from firmware.app import gridfunc

        # the keys from CFG_OV2_PM and from CFG_OF2_MHZ on come in pairs, threshold (per
        # mille, mHz) then clearing time, one pair per stage
        if key < m.CFG_OF2_MHZ:
            name, at = "v_trips", key - m.CFG_OV2_PM
            stage = (gridfunc.OV2, gridfunc.OV1, gridfunc.UV1, gridfunc.UV2)[at >> 1]
            trips = cfg.get(name) or gridfunc.volt_trips(cfg["category"])
        else:
            name, at = "f_trips", key - m.CFG_OF2_MHZ
            stage = (gridfunc.OF2, gridfunc.OF1, gridfunc.UF1, gridfunc.UF2)[at >> 1]
            trips = cfg.get(name) or gridfunc.trips_for(cfg["f_nom"])
        if at & 1:
            trips = gridfunc.with_volt_setting(trips, stage, ms=value)
        else:
            trips = gridfunc.with_volt_setting(trips, stage, pm=value)
        if key < m.CFG_OF2_MHZ:
            bad = gridfunc.check_volt_trips(trips, cfg["category"], cfg["f_nom"])
        else:
            bad = gridfunc.check_freq_trips(trips, cfg["f_nom"])
        if bad:
            return bad
        cfg[name] = trips
        return 0

    def configure_thermal(self, limit_dc):
        """The operator's thermal limit (SetConfig max_temp_dc): never above the board's
        rated one. Returns a Nack reason or 0; the foldback keeps its hysteresis state."""
        if limit_dc > self.limit_dc_rated:
            return m.NACK_OUT_OF_RANGE
        self.foldback.set_limit(limit_dc)
        return 0

    def lease_power_w(self):
        """The lease as power at the grid: > 0 export, < 0 charging."""
        if not self.lease_allow:
            return 0
        if self.lease_w:  # a power lease: the firmware's cap on it, signs swapped
            return -self.limit_w()
        gs = self.gs
        mv = gs.rms_mv if gs is not None and gs.rms_mv > 0 else 230000
        p = self.lease_da * (mv // 100) // 100
        return p if self.lease_direction else -p

    def _check_grid(self, now):
        gs = self.gs
        guard = self.guard
        droop = self.droop
        if gs is None or guard is None or droop is None:  # set together by _setup_grid
            return
        hal = self.hal
        n = hal.grid_collect(gs)
        fresh = 0  # half-cycle voltages of this block only: none when no samples came
        if n:
            gs.process(n)
            fresh = gs.vf_n
            self._samples_at = now
        # a sampler that stopped (timer dead, soft callbacks starved) leaves the last
        # flags standing: past SAMPLER_STALL_MS the guard is told there is no grid
        stalled = ticks_diff(now, self._samples_at) > SAMPLER_STALL_MS
        es = self.es
        if es is None:
            flags = gs.flags
            f = gs.freq_mhz()
            rocof = gs.rocof_mhz_s
            phase = gs.phase16
        else:  # timing from the comparator; voltage (RMS, loss) still from the ADC
            es.process(hal.grid_edges(es), hal.grid_now_us())
            flags = self._combine(es.flags, gs.flags)
            f = es.freq_mhz()
            rocof = es.rocof_mhz_s
            phase = es.phase16
        if stalled:
            flags |= self._lost_flag
        self.grid_flags = flags
        self.grid_f_mhz = f
        self.grid_rocof = rocof
        self.grid_phase16 = phase
        # voltage from the ADC in either case: every half-cycle RMS of the block, with
        # where its samples began
        for i in range(fresh):
            guard.feed_voltage(now, gs.vf_mv[i], gs.vf_age_ms(i))
        refused = guard.update(now, flags, f, rocof)
        ref = hal.converter_phase16(phase)
        self.phase_err16 = ((ref - phase + 32768) & 0xFFFF) - 32768
        if not self.contactor:
            refused = guard.close_refused(flags, phase, ref)  # align before closing
        else:
            # while closed only a trip or a lost grid opens: a measurement that refills
            # after a phase jump or sag must ride through (IEEE 1547 §6.4, §6.5)
            refused &= _GRID_OPENS
        self.grid_refused = refused
        if guard.trip and self.lease_direction and self.contactor:
            self._raise(faults.GRID_TRIP, guard.trip, now)  # tripped while exporting
        elif not guard.trip:
            self._clear(faults.GRID_TRIP)
        p_set = self.lease_power_w()
        droop.update(now, guard.f_mhz, p_set)
        # what the host must apply: the droop, and under it the export caps of volt-watt
        # and of the ramp after entering service (the lower one wins; charging is only
        # touched by a volt-watt P2 below zero)
        p = p_set + droop.adjustment_w()
        cap = self.grid_cfg["p_rated_w"] * guard.ramp_pm(now) // 1000
        vw = self.vw
        if vw is not None:
            lim = vw.update(now, guard.v_mv)  # followed while off too: enabling is no step
            if self.vw_on and lim < cap:
                cap = lim
        if p > cap:
            p = cap
        adj = p - p_set
        self.grid_adjust_w = adj
        step = adj - self.droop_reported
        if step >= self.grid_cfg["droop_step_w"] or -step >= self.grid_cfg["droop_step_w"] \
                or refused != self.grid_reported:
            self.droop_reported = adj
            self.grid_reported = refused
            self.events.push(GRID_CHANGED, adj, refused, now)

    # ------------------------------------------------------------ host commands

    def host_alive(self, now):
        self.link_up = True
        self.last_rx = now
        self.faults &= ~faults.LINK_TIMEOUT  # the cause is gone; the latch stays

    def set_pilot(self, mode, duty):
        self.want_mode = mode
        self.want_duty = duty if mode == m.PILOT_PWM else 10000
        self._apply_pilot()  # so the Status that answers the command is already true

    def set_lease(self, allow, direction, current_da, expiry_ms, now, power_w=0):
        """A PowerLease. `power_w` < 0 (discharge) counts as export for the interlocks
        whatever `direction` says (the link Nacks the mismatch before it gets here)."""
        if power_w < 0:
            direction = 1
        self.lease_allow = allow
        self.lease_direction = direction
        self.lease_da = current_da if allow else 0
        self.lease_w = power_w if allow else 0
        self.lease_until = ticks_add(now, expiry_ms)
        if allow:
            self.faults &= ~faults.LEASE_EXPIRED
        if self.droop is not None:  # a charger may only reduce charging unless it exports
            self.droop.p_max_export_w = self.grid_cfg["p_rated_w"] if direction else 0

    def set_lock(self, on):
        """The operator's Lock command: 0 unlocks (once the contactor is open and the
        current low; the interlock 'locked' opens it first) and keeps it unlocked until
        the EV leaves (state A) or a Lock(1)."""
        self.lock_hold = not on

    def clear_faults(self):
        """Reset(clear): drop latches whose cause is gone; the rest stay."""
        still = self.faults & self.auto_mask
        hal = self.hal
        if hal.contactor_feedback() and not self.contactor:
            still |= faults.CONTACTOR_WELD
        if self.rcd_present and hal.rcd_fault():
            still |= faults.RCD_TRIP
        if hal.estop():
            still |= faults.ESTOP
        if self._override is not None and self._override():
            still |= faults.MANUAL_OVERRIDE
        if self.dc is not None:
            still |= self.dc.still_faulty()
        if self.foldback.effective_dc >= self.foldback.limit_dc:
            still |= faults.OVERTEMP
        if self.ntc.status != thermal.SENSOR_OK:
            still |= faults.NTC_SENSOR
        if self.cp_stalled:
            still |= faults.CP_SAMPLER
        if self.lock is not None:
            self.lock.reset(self.now)  # a failed lock is tried again; F-071 comes back if it fails
        self.faults = still
        self.latched = still
        self._apply_pilot()

    def clear_failsafe(self):
        """Reset(clear fail-safe): drop only the host's own latches, link-timeout and
        lease-expired, which a host that is back may clear by itself. A weld, an RCD
        trip or an E-stop stays latched until an operator's Reset(clear)."""
        mine = faults.LINK_TIMEOUT | faults.LEASE_EXPIRED
        self.faults &= ~mine
        self.latched &= ~mine
        self._apply_pilot()

    def lease_remaining(self, now):
        if not self.lease_allow:
            return 0
        left = ticks_diff(self.lease_until, now)
        return left if left > 0 else 0

    def limit_w(self):
        """The lease's power limit as applied: at most the board's rating, derated with
        the current (thermal_da / rated_da), signed like the lease; 0 without one."""
        w = self.lease_w if self.lease_allow else 0
        if not w:
            return 0
        cap = self.rated_w * self.cap_da // self.rated_da
        if w > cap:
            return cap
        if -w > cap:
            return -cap
        return w

    def limit_da(self):
        """The effective current limit: the host's lease capped by temperature and by
        the cable's rating."""
        lease = self.lease_da if self.lease_allow else 0
        return lease if lease < self.cap_da else self.cap_da

    def safe_reason(self):
        return faults.lowest_code(self.latched & faults.FAILSAFE_MASK)

    # ------------------------------------------------------------ the tick

    def tick(self, now):
        """One control period. The caller feeds the watchdog after it returns."""
        self.now = now
        hal = self.hal
        count = hal.sample_cp(self.high, self.low)
        self.cp_high_mv = counts_to_mv(self.high[0], self.cal)
        self.cp_low_mv = counts_to_mv(self.low[0], self.cal)
        if self._check_sampler(count, now):
            self._update_cp(m.CP_F, now)  # stale samples say nothing: F, and open
        else:
            self._update_cp(classify_burst(self.high, CP_BURST, self.bands), now)
        self._check_diode(now)
        self._check_inputs(now)
        self._check_temperature(now)
        cable.check(self, now)
        self._check_grid(now)
        self._check_link(now)
        self._check_lease(now)
        self._check_contactor(now)
        cable.check_lock(self, now)
        dc = self.dc
        if dc is not None:
            dc.check(now)
        self.refused = interlocks.refused(self)
        if self.contactor:
            if self.refused and not cable.stopping(self, now):
                self._switch(0, interlocks.lowest(self.refused), now)
        elif not self.check_pending:
            # the RCD self-test runs while the connector lock moves and while the
            # anti-chatter gap holds (issue 15)
            waits = self.refused & ~(interlocks.NOT_LOCKED | interlocks.CHATTER_GUARD)
            if waits == interlocks.RCD_UNTESTED and self.rcd_phase == 0:
                self._start_rcd_test(now)
            elif not self.refused:
                self._switch(1, 0, now)
        if dc is not None:
            dc.drive(now)  # the power-stage enable: off in this tick if anything refuses
        self._run_rcd_test(now)
        self._apply_pilot()
        limit = self.limit_da()
        limit_w = self.limit_w()
        if limit != self.limit_reported or limit_w != self.limit_w_reported:
            self.limit_reported = limit
            self.limit_w_reported = limit_w
            self.events.push(LIMIT_CHANGED, limit, limit_w, now)

    def _update_cp(self, state, now):
        if state == 0 or state == self.cp:
            self.cand = self.cp
            return
        if state != self.cand:
            self.cand = state
            self.cand_since = now
        permits_power = state == m.CP_C or state == m.CP_D or (state == m.CP_B and self.cp == m.CP_A)
        if permits_power and ticks_diff(now, self.cand_since) < self.debounce_ms:
            return
        self.events.push(events.CP_CHANGED, self.cp, state, now)
        self.cp = state
        if state == m.CP_E:
            self._raise(faults.CP_ERROR, 0, now)
        else:
            self._clear(faults.CP_ERROR)
        if state == m.CP_A:
            self._clear(faults.DIODE)

    def _check_sampler(self, count, now):
        """True while the CP sampler's count has stood still for cp_stall_ms: a hard
        IRQ handler that raised is never called again, and its ring would repeat the
        last samples (state C through an unplug) forever. Like the grid sampler's stall."""
        if count != self.cp_count:
            self.cp_count = count
            self.cp_count_at = now
        self.cp_stalled = ticks_diff(now, self.cp_count_at) > self.cp_stall_ms
        if self.cp_stalled:
            self._raise(faults.CP_SAMPLER, 0, now)
        else:
            self._clear(faults.CP_SAMPLER)
        return self.cp_stalled

    def _check_diode(self, now):
        """While the pilot oscillates with an EV present, the low plateau must be -12 V."""
        if self.out_mode != m.PILOT_PWM or self.cp < m.CP_B or self.cp > m.CP_D:
            return
        if all_at_most(self.low, CP_BURST, self.diode_limit):
            self.diode_checked = True
        else:
            self.diode_checked = False
            self._raise(faults.DIODE, 0, now)

    def _check_inputs(self, now):
        hal = self.hal
        self.estop_now = hal.estop()
        if self.estop_now:
            self._raise(faults.ESTOP, 0, now)
        else:
            self._clear(faults.ESTOP)
        # the manual override switch disconnects the EV by itself (it is wired apart
        # from us); its auxiliary contact tells us, and we act as for an E-stop
        read = self._override
        self.override_now = read is not None and read()
        if self.override_now:
            self._raise(faults.MANUAL_OVERRIDE, 0, now)
        else:
            self._clear(faults.MANUAL_OVERRIDE)
        # during the self-test the RCD is meant to see the test current
        self.rcd_now = self.rcd_present and self.rcd_phase == 0 and hal.rcd_fault()
        if self.rcd_now:
            self._raise(faults.RCD_TRIP, 0, now)
        elif self.rcd_phase == 0:
            self._clear(faults.RCD_TRIP)

    def _check_temperature(self, now):
        hottest = -1000
        broken = False
        for ch in range(self.ntc_channels):
            t = self.ntc.to_dc(self.hal.ntc_counts(ch))
            if self.ntc.status != thermal.SENSOR_OK:
                broken = True
            self.temp_dc[ch] = t
            if t > hottest:
                hottest = t
        if broken:
            self._raise(faults.NTC_SENSOR, 0, now)
            self.thermal_da = 0
            return
        self._clear(faults.NTC_SENSOR)
        if self.ntc_channels == 0:
            self.thermal_da = self.rated_da
            return
        fb = self.foldback
        fb.follow(hottest)
        self.thermal_da = fb.limit_da(self.rated_da)
        if hottest >= fb.limit_dc:
            self._raise(faults.OVERTEMP, hottest, now)
        else:
            self._clear(faults.OVERTEMP)

    def _check_link(self, now):
        if not self.link_up:
            return
        silent = ticks_diff(now, self.last_rx)
        if silent >= self.link_timeout_ms:
            self.link_up = False
            self._raise(faults.LINK_TIMEOUT, silent, now)

    def _check_lease(self, now):
        if self.lease_allow and ticks_diff(now, self.lease_until) >= 0:
            self.lease_allow = 0
            self.lease_da = 0
            self.lease_w = 0
            self._raise(faults.LEASE_EXPIRED, 0, now)

    def _check_contactor(self, now):
        """Feedback after a close, weld check after an open, feedback_ms after switching."""
        if not self.check_pending or ticks_diff(now, self.contactor_at) < self.feedback_ms:
            return
        self.check_pending = False
        closed = self.hal.contactor_feedback()
        if self.contactor and not closed:
            self._raise(faults.CONTACTOR_NO_FEEDBACK, 0, now)
        elif not self.contactor and closed:
            self._raise(faults.CONTACTOR_WELD, 0, now)

    def _start_rcd_test(self, now):
        self.rcd_phase = 1
        self.rcd_at = now
        self.hal.rcd_test(True)

    def _run_rcd_test(self, now):
        if self.rcd_phase == 0 or ticks_diff(now, self.rcd_at) < RCD_TEST_MS:
            return
        tripped = self.hal.rcd_fault()
        if self.rcd_phase == 1:
            self.hal.rcd_test(False)
            if tripped:
                self.rcd_phase = 2
                self.rcd_at = now
                return
        elif not tripped:
            self.rcd_phase = 0
            self.rcd_tested = True
            return
        self.rcd_phase = 0  # did not trip on the test current, or did not release
        self._raise(faults.RCD_SELFTEST, 0, now)

    def _switch(self, closed, reason, now):
        if self.dc is None:
            if closed:
                self.wear.closed(0, now)
            else:
                self.wear.opened(0, self.hal.current_ma())
            self.events.push(WEAR_CHANGED, 0, 0, now)
            self.hal.set_contactor(closed)
        else:
            # the DC pair runs its own sequence and checks, and counts each of its
            # contactors' operations as it drives them (dc._drive)
            self.dc.switch(closed, now)
        self.contactor = closed
        self.contactor_at = now
        self.check_pending = self.dc is None
        if closed:
            self.diode_checked = False  # re-verified before the next close
        else:
            self.rcd_tested = False  # and the RCD re-tested
        self.events.push(events.CONTACTOR_CHANGED, closed, reason, now)

    def _apply_pilot(self):
        if self.latched & faults.FAILSAFE_MASK:
            mode = self.safe_pilot
            duty = 10000
        else:
            mode = self.want_mode
            duty = self.want_duty
            if mode == m.PILOT_PWM and duty >= pilot.DUTY_MIN:
                if self.cap_da < 60:
                    # too hot to offer even 6 A, no valid cable, J1772 button: stop offering
                    mode = m.PILOT_X1
                    duty = 10000
                else:
                    cap = pilot.duty_for_current(self.cap_da)
                    if duty > cap:
                        duty = cap
        if mode == self.out_mode and duty == self.out_duty:
            return
        if (mode == m.PILOT_PWM and self.out_mode == m.PILOT_PWM and duty > self.out_duty
                and ticks_diff(self.now, self.duty_at) < self.pwm_change_ms):
            return  # raise the offer at most once per pwm_change_ms; lowering never waits
        if duty != self.out_duty:
            self.duty_at = self.now
        self.out_mode = mode
        self.out_duty = duty
        self.hal.set_pilot(mode, duty)

    def _raise(self, bit, detail, now):
        if self.faults & bit:
            return
        self.faults |= bit
        self.latched |= bit
        self.events.push(events.FAULT_RAISED, bit, detail, now)
        if bit & faults.FAILSAFE_MASK:
            self.lease_allow = 0  # a fresh lease is needed after the fail-safe
            self.lease_da = 0
            self.lease_w = 0
            self._apply_pilot()

    def _clear(self, bit):
        if not self.faults & bit:
            return
        self.faults &= ~bit
        self.latched &= ~(bit & self.auto_mask)
