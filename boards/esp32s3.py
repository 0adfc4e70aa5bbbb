"""A generic ESP32-S3 devkit on a CP/contactor carrier board."""

BOARD = {
    "name": "esp32s3",
    "port": "esp32",
    "march": "xtensawin",
    "uart": {"id": 1, "tx": 17, "rx": 18, "baud": 115200},
    "pins": {
        "cp_pwm": 4, "cp_sense_adc": 5, "contactor_drive": 6, "contactor_feedback": 7,
        "rcd_fault": 8, "rcd_test": 9, "estop": 10, "ntc0_adc": 1, "ntc1_adc": 2,
        "status_led": 48,
    },
    "cp_cal": (24000, 4095, -12000),
    "adc_bits": 12,
    "ntc": {"channels": 2, "beta": 3950, "r25": 10000, "r_series": 10000, "adc_max": 4095},
    "thermal": {"limit_dc": 900, "start_pct": 85, "hysteresis_dc": 30},
    "contactor": {"feedback_ms": 100, "hold_pct": 50},
    "rcd": {"present": True, "self_test": True, "no_reclose": False},
    "region": "DE",
    "wdt_ms": 2000,
    "link_timeout_ms": 500,
    "control_period_ms": 10,
    "pwm_change_ms": 5000,
    "debounce_ms": 30,
}
