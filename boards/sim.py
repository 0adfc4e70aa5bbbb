"""The simulated board: the plant model in firmware/sim behind the sim HAL."""

BOARD = {
    "name": "sim",
    "port": "unix",
    "march": None,  # runs on the host's MicroPython unix port or CPython
    "uart": {"id": "stdio", "baud": 115200},
    "pins": {},
    "link_timeout_ms": 500,
    "control_period_ms": 10,
}
