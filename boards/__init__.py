"""Board definitions: one module per board, each with a BOARD dict.

Used by the firmware at boot (pins, calibration, timings) and by host tools
(port, mpy-cross architecture). `load(name)` validates the definition and raises
BoardError naming the field when it is wrong, so a bad board file stops boot with a
message instead of driving the wrong pin.

Fields (see boards/sim.py for a complete example):
  name, port (rp2/esp32/stm32/unix), march (mpy-cross -march, None for unix)
  uart {id, baud, tx?, rx?}       the host link
  pins {role: pin}                 cp_pwm, cp_sense_adc, contactor_drive, contactor_feedback,
                                   rcd_fault, rcd_test, estop, ntc0_adc, ntc1_adc, status_led,
                                   manual_override (the override switch's aux contact),
                                   pp_adc, lock_a, lock_b, lock_feedback (issue 15);
                                   DC boards: dc_plus_drive, dc_minus_drive,
                                   dc_precharge_drive, dc_plus_aux, dc_minus_aux,
                                   dc_link_adc, imd_alarm, power_stage_enable
                                   (None where the board has no such pin; no pin twice)
  cp_cal (num, den, offset_mv)     pilot sense: mv = counts * num // den + offset_mv
  adc_bits                         resolution the HAL reports counts in
  ntc {channels, beta, r25, r_series, adc_max}   NTC divider (NTC to ground, r_series to Vref)
  thermal {limit_dc, start_pct, hysteresis_dc}  rated limit (0.1 C), derating start (% of limit)
  contactor {feedback_ms, hold_pct, open_ms?}   aux contact must follow within feedback_ms;
                                  open_ms: from releasing the coil to the contacts parting
                                  (taken off the voltage trips' clearing times; 0 if unknown)
  rcd {present, self_test, no_reclose}          no_reclose: region forbids automatic reclose
  region                          ISO 3166 alpha-2, for the RCD reclose rule
  wdt_ms, link_timeout_ms, control_period_ms, pwm_change_ms, debounce_ms
  pp (optional)                   proximity pilot (firmware/app/proximity.py): mode
                                  tethered (fixed cable, no PP; the default), iec (socket,
                                  needs pins.pp_adc on hardware) or j1772 (5-wire cordset's
                                  latch button); r_pull (Ohm), adc_max, rating_da (the fixed
                                  cable's rating, tethered and j1772; default rated_da)
  lock (optional)                 connector lock (firmware/app/lock.py): kind motor|solenoid,
                                  pulse_ms, retries, unlock_ma, f_unlock_ms; on hardware
                                  pins.lock_a (and lock_b for a motor) and lock_feedback
  contactor.min_gap_ms, save_every, load_ma (optional): anti-chatter gap, wear counter
                                  save interval, under-load threshold (firmware/app/wear.py)
  heap_kb (optional)              the MicroPython heap the board gives the firmware (KB):
                                  benchmarks/firmware.py prints the firmware's heap against it
  grid (optional)                 grid voltage sensing for export (firmware/app/gridsync.py):
                                  fs (ADC sample rate, 1-10 kHz), f_nom, peak_counts and mid
                                  (the divider: nominal peak and zero in 12-bit counts),
                                  uv_per_lsb (grid uV per count), v_nom_mv (nominal RMS
                                  voltage, within 5 % of what peak_counts and uv_per_lsb
                                  give; the voltage trips are per unit of it),
                                  category (I/II/III),
                                  droop_profile (default/fastest), enter_delay_ms, latency_ms,
                                  phase_mrad, p_rated_w, droop_step_w; optional ring_bits,
                                  timer (the port's timer id for the ADC pacing),
                                  zero_cross_delay_us (comparator delay, with
                                  pins.grid_zero_cross). Needs pins.grid_sense_adc on
                                  hardware. Without it, export is refused.
  dc (optional)                   DC charger hardware (firmware/app/dc.py), see DC_RANGES:
                                  precharge_relay (bool), precharge_ms, precharge_tol_dv,
                                  weld_check_ms, safe_dv, isolation_ms, rated_dv (0.1 V),
                                  imd_alarm_kohm (optional), link_cal (hardware: the
                                  dc_link_v divider, as cp_cal). The pair replaces the contactor.
"""

from firmware.app.faults import CP_STALL_BUDGET_MS

REQUIRED = (
    "name", "port", "march", "uart", "pins", "cp_cal", "adc_bits", "ntc", "thermal",
    "contactor", "rcd", "region", "wdt_ms", "link_timeout_ms", "control_period_ms",
    "pwm_change_ms", "debounce_ms",
)
PORTS = ("rp2", "esp32", "stm32", "unix")
PIN_ROLES = (
    "cp_pwm", "cp_sense_adc", "contactor_drive", "contactor_feedback", "rcd_fault", "rcd_test",
    "estop", "ntc0_adc", "ntc1_adc", "status_led", "grid_sense_adc", "grid_zero_cross",
    "manual_override",
    "pp_adc", "lock_a", "lock_b", "lock_feedback",  # issue 15
    # DC charger hardware
    "dc_plus_drive", "dc_minus_drive", "dc_precharge_drive", "dc_plus_aux", "dc_minus_aux",
    "dc_link_adc", "imd_alarm", "power_stage_enable",
)
# field: (min, max) for the integers
RANGES = {
    "adc_bits": (8, 16),
    "wdt_ms": (1000, 8000),  # ESP32 and RP2040 WDTs cannot go below ~1 s
    "link_timeout_ms": (200, 2000),
    "control_period_ms": (1, 50),
    "pwm_change_ms": (0, 10000),
    "debounce_ms": (0, 500),
    "ntc.channels": (0, 2),
    "ntc.beta": (1000, 10000),
    "ntc.r25": (100, 1000000),
    "ntc.r_series": (100, 1000000),
    "ntc.adc_max": (255, 65535),
    "thermal.limit_dc": (300, 1500),
    "thermal.start_pct": (50, 99),
    "thermal.hysteresis_dc": (0, 200),
    "contactor.feedback_ms": (10, 1000),
    "contactor.hold_pct": (0, 100),
}


class BoardError(ValueError):
    pass


# The oldest MicroPython each port's HAL runs on, and why (read in MicroPython's sources,
# github.com/micropython/micropython at the release tags). The HAL checks it at boot,
# before it starts any timer or the watchdog (firmware/hal/mcu.check_version), so an
# older image stops with this message instead of resetting through the watchdog.
BASE_MICROPYTHON = ((1, 21, 0), "asyncio and time.ticks_* without the u- prefix (extmod/asyncio, v1.21)")
MIN_MICROPYTHON = {
    # ports/rp2/machine_timer.c takes `hard=` from v1.26.0 (commit 7816b1f5); on 1.24-1.25
    # the grid ADC timer raised TypeError at the first collect and the WDT reset the board
    "rp2": ((1, 26, 0), "machine.Timer(hard=True) for the grid ADC timer (ports/rp2/machine_timer.c)"),
    # ports/esp32/machine_pwm.c before v1.26.0 capped the LEDC duty at 2**bits - 1, so
    # duty_u16(65535) left a low pulse every period: X1 was not a steady +12 V
    "esp32": ((1, 26, 0), "PWM.duty_u16(65535) as a steady high for X1 (ports/esp32/machine_pwm.c)"),
    "stm32": BASE_MICROPYTHON,
    "unix": BASE_MICROPYTHON,
}
# ports/stm32/machine_pwm.c first ships in v1.28.0: only a coil hold PWM needs it
STM32_PWM = ((1, 28, 0), "machine.PWM for the contactor hold PWM (ports/stm32/machine_pwm.c)")


def min_micropython(board):
    """(version tuple, what needs it) for this board's port and options."""
    if board["port"] == "stm32" and 0 < board["contactor"]["hold_pct"] < 100:
        return STM32_PWM
    return MIN_MICROPYTHON[board["port"]]


def _is_stm32_cpu_pin(pin):
    """'PA4'-style names: the stm32 HAL resolves them through machine.Pin.cpu, never
    through the board's own names (on a Nucleo 'A4' is the Arduino label, i.e. PC1)."""
    if not isinstance(pin, str) or len(pin) < 3 or pin[0] != "P" or not ("A" <= pin[1] <= "K"):
        return False
    return pin[2:].isdigit() and int(pin[2:]) < 16


def _get(board, path):
    node = board
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise BoardError("board %s: missing field '%s'" % (board.get("name", "?"), path))
        node = node[part]
    return node


def validate(board):
    name = board.get("name", "?")
    for key in REQUIRED:
        if key not in board:
            raise BoardError("board %s: missing field '%s'" % (name, key))
    if board["port"] not in PORTS:
        raise BoardError("board %s: field 'port' is %r, not one of %s" % (name, board["port"], PORTS))
    if board["port"] != "unix" and not board["march"]:
        raise BoardError("board %s: field 'march' is needed for port %s" % (name, board["port"]))
    pins = board["pins"]
    seen = {}  # type: dict[object, str]
    for role in pins:
        if role not in PIN_ROLES:
            raise BoardError("board %s: unknown pin role 'pins.%s'" % (name, role))
        pin = pins[role]
        if pin is None:
            continue
        if pin in seen:
            raise BoardError(
                "board %s: pin %r used twice ('pins.%s' and 'pins.%s')" % (name, pin, seen[pin], role)
            )
        seen[pin] = role
        if board["port"] == "stm32" and not _is_stm32_cpu_pin(pin):
            raise BoardError(
                "board %s: 'pins.%s' is %r: stm32 pins must be cpu names like 'PA4' (board "
                "names such as 'A4' are the Arduino labels on a Nucleo)" % (name, role, pin)
            )
    uart = board["uart"]
    for end in ("tx", "rx"):
        pin = uart.get(end)
        if pin is not None and pin in seen:
            raise BoardError(
                "board %s: pin %r used twice ('uart.%s' and 'pins.%s')" % (name, pin, end, seen[pin])
            )
    if board["port"] != "unix":
        for role in PIN_ROLES[:4]:
            if pins.get(role) is None:
                raise BoardError("board %s: missing field 'pins.%s'" % (name, role))
    for path in RANGES:
        lo, hi = RANGES[path]
        v = _get(board, path)
        if not isinstance(v, int) or not (lo <= v <= hi):
            raise BoardError("board %s: field '%s' is %r, allowed %d..%d" % (name, path, v, lo, hi))
    cal = board["cp_cal"]
    if len(cal) != 3 or cal[0] <= 0 or cal[1] <= 0:
        raise BoardError("board %s: field 'cp_cal' must be (num > 0, den > 0, offset_mv)" % name)
    for key in ("present", "self_test", "no_reclose"):
        _get(board, "rcd." + key)
    heap = board.get("heap_kb", 64)
    if not isinstance(heap, int) or not (16 <= heap <= 8192):
        raise BoardError("board %s: field 'heap_kb' is %r, allowed 16..8192" % (name, heap))
    open_ms = board["contactor"].get("open_ms", 0)
    if not isinstance(open_ms, int) or not (0 <= open_ms <= 100):
        raise BoardError("board %s: field 'contactor.open_ms' is %r, allowed 0..100" % (name, open_ms))
    # F-022: with the stall found after one period at the least, the contacts must
    # still part within the budget (firmware.app.controller.cp_stall_ms)
    period = board["control_period_ms"]
    if open_ms + 3 * period > CP_STALL_BUDGET_MS:
        raise BoardError(
            "board %s: 'contactor.open_ms' (%d) plus 3 control periods (%d ms) exceed the %d ms "
            "in which the contacts must part after the CP sampler stalls (F-022)"
            % (name, open_ms, 3 * period, CP_STALL_BUDGET_MS)
        )
    _validate_cable(board)
    if board.get("dc") is not None:
        from boards import dccheck  # only a DC board loads its checks

        dccheck.validate_dc(board)
    if board.get("grid") is not None:
        _validate_grid(board)
    elif pins.get("grid_zero_cross") is not None:
        raise BoardError("board %s: 'pins.grid_zero_cross' needs a 'grid' section" % name)
    return board


# ---- issue 15: proximity pilot and connector lock ----
PP_MODES = ("tethered", "iec", "j1772")
CABLE_RANGES = {
    "pp.r_pull": (100, 100000), "pp.adc_max": (255, 65535), "pp.rating_da": (60, 800),
    "lock.pulse_ms": (10, 2000), "lock.retries": (0, 10), "lock.unlock_ma": (0, 100000),
    "lock.f_unlock_ms": (1000, 3600000), "contactor.min_gap_ms": (0, 600000),
    "contactor.save_every": (1, 1000), "contactor.load_ma": (1, 1000000),
}


def _validate_cable(board):
    name = board["name"]
    for path in CABLE_RANGES:
        section, key = path.split(".")
        v = (board.get(section) or {}).get(key)
        lo, hi = CABLE_RANGES[path]
        if v is not None and (not isinstance(v, int) or not (lo <= v <= hi)):
            raise BoardError("board %s: field '%s' is %r, allowed %d..%d" % (name, path, v, lo, hi))
    pp = board.get("pp")
    hw = board["port"] != "unix"
    if pp is not None:
        if pp.get("mode", "tethered") not in PP_MODES:
            raise BoardError("board %s: field 'pp.mode' must be one of %s" % (name, ", ".join(PP_MODES)))
        if pp.get("mode") == "iec" and hw and board["pins"].get("pp_adc") is None:
            raise BoardError("board %s: missing field 'pins.pp_adc' (needed by pp mode iec)" % name)
    lock = board.get("lock")
    if lock is not None:
        if lock.get("kind", "motor") not in ("motor", "solenoid"):
            raise BoardError("board %s: field 'lock.kind' must be motor or solenoid" % name)
        need = ("lock_a", "lock_feedback") + (("lock_b",) if lock.get("kind", "motor") == "motor" else ())
        for role in need:
            if hw and board["pins"].get(role) is None:
                raise BoardError("board %s: missing field 'pins.%s' (needed by 'lock')" % (name, role))


GRID_RANGES = {
    "fs": (1000, 10000), "f_nom": (50, 60), "enter_delay_ms": (0, 600000),
    "latency_ms": (0, 150), "phase_mrad": (1, 1000), "p_rated_w": (1000, 400000),
    "droop_step_w": (1, 10000), "peak_counts": (100, 2047), "mid": (1, 4094),
    "uv_per_lsb": (1000, 10000000), "v_nom_mv": (50000, 500000),
}
# optional grid fields: (min, max)
GRID_OPTIONAL = {
    "ring_bits": (8, 13), "timer": (0, 14), "zero_cross_delay_us": (0, 5000),
    "short_cycles": (2, 12), "long_cycles": (12, 60), "rocof_cycles": (2, 12),
    "min_amplitude_pct": (5, 80), "jump_permille": (5, 100), "amp_step_pct": (2, 50),
    "loss_cycles": (1, 10),
}
GRID_OTHER = ("category", "droop_profile")


def _grid_int(name, key, v, lo, hi):
    if not isinstance(v, int) or isinstance(v, bool) or not (lo <= v <= hi):
        raise BoardError("board %s: field 'grid.%s' is %r, allowed %d..%d" % (name, key, v, lo, hi))


def _validate_grid(board):
    name = board["name"]
    g = board["grid"]
    for key in g:
        if key not in GRID_RANGES and key not in GRID_OPTIONAL and key not in GRID_OTHER:
            raise BoardError("board %s: unknown field 'grid.%s'" % (name, key))
    for key in GRID_RANGES:
        lo, hi = GRID_RANGES[key]
        _grid_int(name, key, _get(board, "grid." + key), lo, hi)
    for key in GRID_OPTIONAL:
        if key in g:
            lo, hi = GRID_OPTIONAL[key]
            _grid_int(name, key, g[key], lo, hi)
    if g["f_nom"] not in (50, 60):
        raise BoardError("board %s: field 'grid.f_nom' must be 50 or 60" % name)
    if _get(board, "grid.category") not in ("I", "II", "III"):
        raise BoardError("board %s: field 'grid.category' must be I, II or III" % name)
    if _get(board, "grid.droop_profile") not in ("default", "fastest"):
        raise BoardError("board %s: field 'grid.droop_profile' must be default or fastest" % name)
    mid = g["mid"]
    peak = g["peak_counts"]
    if mid - peak < 0 or mid + peak > 4095:
        raise BoardError(
            "board %s: fields 'grid.mid' %d +- 'grid.peak_counts' %d leave the 12-bit ADC range "
            "0..4095 (the divider clips the nominal peak)" % (name, mid, peak)
        )
    # the divider's nominal peak as RMS must be the nominal voltage, or every voltage
    # trip threshold is off by the difference
    rms_mv = peak * (g["uv_per_lsb"] // 100) // 1414 * 100  # small ints on a board
    if abs(rms_mv - g["v_nom_mv"]) * 20 > g["v_nom_mv"]:
        raise BoardError(
            "board %s: field 'grid.v_nom_mv' is %d, but 'grid.peak_counts' x 'grid.uv_per_lsb' "
            "give %d mV RMS at nominal (more than 5 %% apart)" % (name, g["v_nom_mv"], rms_mv)
        )
    fs = g["fs"]
    ring_ms = (1 << g.get("ring_bits", 10)) * 1000 // fs
    need_ms = 4 * board["control_period_ms"] + 20
    if ring_ms < need_ms:
        raise BoardError(
            "board %s: field 'grid.ring_bits' gives a ring of %d ms at fs %d; it must hold "
            "4 control periods plus the filter (%d ms)" % (name, ring_ms, fs, need_ms)
        )
    if board["port"] == "unix":
        return
    if 1000000 % fs:
        raise BoardError(
            "board %s: field 'grid.fs' is %d: on hardware it must divide 1 MHz exactly (the "
            "port timers count whole microseconds), e.g. 1000, 2000, 4000, 5000, 8000, 10000"
            % (name, fs)
        )
    if board["pins"].get("grid_sense_adc") is None:
        raise BoardError("board %s: missing field 'pins.grid_sense_adc' (needed by 'grid')" % name)


NAMES = ("sim", "rp2040", "esp32s3", "stm32", "sim-dc")


def load(name):
    if name not in NAMES:
        raise BoardError("unknown board %r (known: %s)" % (name, ", ".join(NAMES)))
    mod = __import__("boards." + name.replace("-", "_"), None, None, ("BOARD",))
    return validate(mod.BOARD)
