"""A NUCLEO-F446RE / pyboard-class STM32F4 on a CP/contactor carrier board."""

BOARD = {
    "name": "stm32",
    "port": "stm32",
    "march": "armv7emsp",
    "uart": {"id": 2, "baud": 115200},
    "pins": {
        "cp_pwm": "A8", "cp_sense_adc": "A0", "contactor_drive": "B0", "contactor_feedback": "B1",
        "rcd_fault": "B2", "rcd_test": "B3", "estop": "B4", "ntc0_adc": "A1", "ntc1_adc": "A4",
        "status_led": "A5",
    },
    "link_timeout_ms": 500,
    "control_period_ms": 10,
}
