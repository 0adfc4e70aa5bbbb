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
    "contactor": {"feedback_ms": 100, "hold_pct": 0},
    "rcd": {"present": True, "self_test": True, "no_reclose": False},
    "region": "DE",
    "wdt_ms": 2000,
    "link_timeout_ms": 500,
    "control_period_ms": 10,
    "pwm_change_ms": 5000,
    "debounce_ms": 30,
}
