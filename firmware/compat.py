"""The few things MicroPython and CPython spell differently, in one place.

Firmware code imports `const`, `ticks_ms`, `ticks_diff` and `ticks_add` from here so
that the same file runs on the board, on the unix port and on CPython.

The firmware type check (tools/fwtypes.py) reads MicroPython's stubs, where every
`except ImportError` branch below is dead code redefining a name the stubs declare:
each CPython fallback therefore carries a `type: ignore` for that redefinition.
"""

try:
    from micropython import const  # noqa: F401
except ImportError:  # CPython

    def const(x):  # type: ignore[misc]
        return x


try:
    from time import ticks_add, ticks_diff, ticks_ms  # noqa: F401
except ImportError:  # CPython: same wrap-around arithmetic as MicroPython's ticks
    import time as _time

    _PERIOD = 1 << 30
    _HALF = _PERIOD // 2

    def ticks_ms():
        return (_time.monotonic_ns() // 1_000_000) & (_PERIOD - 1)  # type: ignore[attr-defined]

    def ticks_add(t, delta):  # type: ignore[misc]
        return (t + delta) & (_PERIOD - 1)

    def ticks_diff(a, b):  # type: ignore[no-redef]
        return ((a - b + _HALF) & (_PERIOD - 1)) - _HALF


_ITEM = {"B": 1, "b": 1, "H": 2, "h": 2, "i": 4, "I": 4}


def zeros(typecode, n):
    """array(typecode) of n zeros, built from a bytes object of its own size: the usual
    array(t, [0] * n) first builds a list of n objects (8 bytes each on a 32-bit port,
    16 on the unix port) only to drop it, a boot-time peak on a small heap."""
    from array import array

    return array(typecode, bytes(n * _ITEM[typecode]))


try:
    from binascii import crc32  # noqa: F401  (both have it; MicroPython's may be absent on tiny ports)
except ImportError:  # pragma: no cover - ports built without binascii.crc32
    def crc32(data, crc=0):  # type: ignore[misc]
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

    def sleep_ms(ms):  # type: ignore[no-redef]
        return _asyncio.sleep(ms / 1000)
