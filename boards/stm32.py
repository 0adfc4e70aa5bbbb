"""A NUCLEO-F446RE / pyboard-class STM32F4 on a CP/contactor carrier board.

Pins are cpu names ('PA4'), which the HAL resolves through machine.Pin.cpu: a plain
'A4' would be looked up among the board's names first, and on a Nucleo those are the
Arduino labels (A4 = PC1, A5 = PC0, see MicroPython's boards/NUCLEO_F446RE/pins.csv).
"""

BOARD = {
    "name": "stm32",
    "port": "stm32",
    "march": "armv7emsp",
    # UART2 (A2/A3, the ST-LINK virtual COM port) is MicroPython's REPL on the Nucleo;
    # the link takes UART3, whose pins are fixed by the MicroPython board definition
    "uart": {"id": 3, "tx": "PB10", "rx": "PC5", "baud": 115200},
    "pins": {
        "cp_pwm": "PA8", "cp_sense_adc": "PA0", "contactor_drive": "PB0",
        "contactor_feedback": "PB1", "rcd_fault": "PB2", "rcd_test": "PB3", "estop": "PB4",
        "ntc0_adc": "PA1", "ntc1_adc": "PA4", "status_led": "PA5", "grid_sense_adc": "PC0",
        "grid_zero_cross": "PC7",
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
    # an estimate to check at bring-up: MicroPython links the F446RE as an F411 (112 KB
    # RAM, boards/stm32f411.ld), 16 KB of it stack, the rest after its statics is heap
    "heap_kb": 80,
    # 230 V / 50 Hz through a divider on PC0 (ADC123_IN10), biased at Vref/2 (3.3 V):
    # 325 V peak = 1600 counts. TIM7 paces the ADC at 5 kHz (84 MHz / 16800: the
    # Nucleo-F446RE runs at 168 MHz, APB1 timers at 84 MHz; exact).
    # Comparator (with hysteresis) on PC7, TIM8_CH2 input capture, for the zero crossings.
    "grid": {
        "fs": 5000, "f_nom": 50, "peak_counts": 1600, "mid": 2048, "uv_per_lsb": 203293,
        "timer": 7, "ring_bits": 10, "zero_cross_delay_us": 0,
        "v_nom_mv": 230000,  # rms_mv at nominal: peak_counts * uv_per_lsb / 1000 / sqrt(2)
        "category": "II", "droop_profile": "default",
        "enter_delay_ms": 300000,  # IEEE 1547-2018 §4.10 default enter-service delay (300 s)
        "latency_ms": 65, "phase_mrad": 50, "p_rated_w": 11000, "droop_step_w": 50,
    },
}
