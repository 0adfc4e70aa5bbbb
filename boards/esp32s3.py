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
    "link_timeout_ms": 500,
    "control_period_ms": 10,
}
