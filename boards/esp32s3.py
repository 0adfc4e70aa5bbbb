"""A generic ESP32-S3 devkit on a CP/contactor carrier board."""

BOARD = {
    "name": "esp32s3",
    "port": "esp32",
    "march": "xtensawin",
    "uart": {"id": 1, "tx": 17, "rx": 18, "baud": 115200},
    "pins": {
        "cp_pwm": 4, "cp_sense_adc": 5, "contactor_drive": 6, "contactor_feedback": 7,
        "rcd_fault": 8, "rcd_test": 9, "estop": 10, "ntc0_adc": 1, "ntc1_adc": 2,
        "status_led": 48, "grid_sense_adc": 3,
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
    # the esp32 port starts an S3 with a 64 KB GC heap sized so that it can grow once
    # (double) from the IDF heap on demand (ports/esp32/mpconfigport.h): count on 128 KB
    "heap_kb": 128,
    # 230 V / 50 Hz through a divider on GPIO3 (ADC1_CH2; a strapping pin only when the
    # JTAG-source eFuse is burnt). ADC1 at 11 dB is linear only to ~2.6 V, so the divider
    # is biased low: 1800 +- 1200 counts. 271 mV of grid per count; calibrate per carrier.
    # No zero-cross pin: esp32 pin IRQs are soft, their timestamps carry the scheduling
    # latency (see firmware/hal/esp32.py). 2 kHz so that soft timer callbacks keep up.
    "grid": {
        "fs": 2000, "f_nom": 50, "peak_counts": 1200, "mid": 1800, "uv_per_lsb": 271058,
        "timer": 0,
        "v_nom_mv": 230000,  # rms_mv at nominal: peak_counts * uv_per_lsb / 1000 / sqrt(2)
        "category": "II", "droop_profile": "default",
        "enter_delay_ms": 300000,  # IEEE 1547-2018 §4.10 default enter-service delay (300 s)
        "latency_ms": 65, "phase_mrad": 50, "p_rated_w": 11000, "droop_step_w": 50,
    },
}
