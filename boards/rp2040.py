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
    "link_timeout_ms": 500,
    "control_period_ms": 10,
}
