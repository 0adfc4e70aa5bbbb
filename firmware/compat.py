"""The few things MicroPython and CPython spell differently, in one place.

Firmware code imports `const`, `ticks_ms`, `ticks_diff` and `ticks_add` from here so
that the same file runs on the board, on the unix port and on CPython.
"""

try:
    from micropython import const  # noqa: F401
except ImportError:  # CPython

    def const(x):
        return x


try:
    from time import ticks_add, ticks_diff, ticks_ms  # noqa: F401
except ImportError:  # CPython: same wrap-around arithmetic as MicroPython's ticks
    import time as _time

    _PERIOD = 1 << 30
    _HALF = _PERIOD // 2

    def ticks_ms():
        return (_time.monotonic_ns() // 1_000_000) & (_PERIOD - 1)

    def ticks_add(t, delta):
        return (t + delta) & (_PERIOD - 1)

    def ticks_diff(a, b):
        return ((a - b + _HALF) & (_PERIOD - 1)) - _HALF


try:
    from binascii import crc32  # noqa: F401  (both have it; MicroPython's may be absent on tiny ports)
except ImportError:  # pragma: no cover - ports built without binascii.crc32
    def crc32(data, crc=0):
        crc = ~crc & 0xFFFFFFFF
        for b in data:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
        return ~crc & 0xFFFFFFFF


try:
    from asyncio import sleep_ms  # noqa: F401  (MicroPython)
except ImportError:  # CPython
    import asyncio as _asyncio

    def sleep_ms(ms):
        return _asyncio.sleep(ms / 1000)
