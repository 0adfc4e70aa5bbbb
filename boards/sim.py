"""The simulated board: the plant model in firmware/sim behind the sim HAL."""

BOARD = {
    "name": "sim",
    "port": "unix",
    "march": None,  # runs on the host's MicroPython unix port or CPython
    "uart": {"id": "stdio", "baud": 115200},
    "pins": {},
    "cp_cal": (24000, 4095, -12000),
    "adc_bits": 12,
    "ntc": {"channels": 2, "beta": 3950, "r25": 10000, "r_series": 10000, "adc_max": 4095},
    "thermal": {"limit_dc": 900, "start_pct": 85, "hysteresis_dc": 30},
    # open_ms: the sim plant's contacts part (and its current stops) 20 ms after the
    # coil is released (firmware/sim/plant.py, contactor_ms)
    "contactor": {"feedback_ms": 100, "hold_pct": 0, "open_ms": 20},
    # ---- issue 15: a socket-outlet with PP and a motor connector lock ----
    # PP read through 1 kOhm to the ADC reference (firmware/app/proximity.py)
    "pp": {"mode": "iec", "r_pull": 1000, "adc_max": 4095},
    # the sim plant's lock travels in 30 ms (firmware/sim/plant.py, lock_travel_ms)
    "lock": {"kind": "motor", "pulse_ms": 50, "retries": 2, "unlock_ma": 500, "f_unlock_ms": 30000},
    "rcd": {"present": True, "self_test": True, "no_reclose": False},
    "region": "DE",
    "wdt_ms": 2000,
    "link_timeout_ms": 500,
    "control_period_ms": 10,
    "pwm_change_ms": 5000,
    "debounce_ms": 30,
    # 230 V grid through a divider: 325 V peak = 1600 counts around mid-scale
    "grid": {
        "fs": 2000, "f_nom": 50, "peak_counts": 1600, "mid": 2048, "uv_per_lsb": 203125,
        "v_nom_mv": 230000,  # rms_mv at nominal: peak_counts * uv_per_lsb / 1000 / sqrt(2)
        "category": "II", "droop_profile": "default",
        "enter_delay_ms": 1000,  # IEEE 1547 default is 300 s; short so the bench is quick
        "latency_ms": 65, "phase_mrad": 50, "p_rated_w": 11000, "droop_step_w": 50,
    },
}
