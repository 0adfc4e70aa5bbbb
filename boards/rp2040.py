"""Raspberry Pi Pico (RP2040) on a CP/contactor carrier board.

The Pico brings out three ADC inputs (GP26-28; GP29 reads VSYS on the board): CP
sense, one NTC and the grid voltage. So this board has one NTC channel.
"""

BOARD = {
    "name": "rp2040",
    "port": "rp2",
    "march": "armv6m",
    "uart": {"id": 0, "tx": 0, "rx": 1, "baud": 115200},
    "pins": {
        "cp_pwm": 2, "cp_sense_adc": 26, "contactor_drive": 3, "contactor_feedback": 4,
        "rcd_fault": 5, "rcd_test": 6, "estop": 7, "ntc0_adc": 27, "ntc1_adc": None,
        "status_led": 25, "grid_sense_adc": 28, "grid_zero_cross": 8,
    },
    "cp_cal": (24000, 4095, -12000),
    "adc_bits": 12,
    "ntc": {"channels": 1, "beta": 3950, "r25": 10000, "r_series": 10000, "adc_max": 4095},
    "thermal": {"limit_dc": 900, "start_pct": 85, "hysteresis_dc": 30},
    "contactor": {"feedback_ms": 100, "hold_pct": 0},
    "rcd": {"present": True, "self_test": True, "no_reclose": False},
    "region": "DE",
    "wdt_ms": 2000,
    "link_timeout_ms": 500,
    "control_period_ms": 10,
    "pwm_change_ms": 5000,
    "debounce_ms": 30,
    # gc.mem_free() after boot on a Pico: ~190 KB of the RP2040's 264 KB SRAM
    "heap_kb": 190,
    # 230 V / 50 Hz through a resistive divider biased at Vref/2 (3.3 V, 806 uV per
    # count): 325 V peak = 1600 counts = 1.29 V at the pin, a ratio of 1:252.
    # Comparator (with hysteresis) on GP8 for the zero crossings.
    "grid": {
        "fs": 4000, "f_nom": 50, "peak_counts": 1600, "mid": 2048, "uv_per_lsb": 203293,
        "zero_cross_delay_us": 0,  # measure the comparator's delay per carrier and set it
        "v_nom_mv": 230000,  # rms_mv at nominal: peak_counts * uv_per_lsb / 1000 / sqrt(2)
        "category": "II", "droop_profile": "default",
        "enter_delay_ms": 300000,  # IEEE 1547-2018 §4.10 default enter-service delay (300 s)
        "latency_ms": 65, "phase_mrad": 50, "p_rated_w": 11000, "droop_step_w": 50,
    },
}
