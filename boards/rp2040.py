"""Raspberry Pi Pico (RP2040) on a CP/contactor carrier board."""

BOARD = {
    "name": "rp2040",
    "port": "rp2",
    "march": "armv6m",
    "uart": {"id": 0, "tx": 0, "rx": 1, "baud": 115200},
    "pins": {
        "cp_pwm": 2, "cp_sense_adc": 26, "contactor_drive": 3, "contactor_feedback": 4,
        "rcd_fault": 5, "rcd_test": 6, "estop": 7, "ntc0_adc": 27, "ntc1_adc": 28,
        "status_led": 25,
    },
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
