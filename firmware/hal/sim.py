"""HAL of the `sim` board: the same interface as a real board's HAL, over the Plant.

The link UART is the process's stdin/stdout, which `v2gate simulate` connects to a
pty exactly as a board's UART sits behind /dev/ttyACM0.
"""

import sys

from firmware.compat import ticks_ms
from firmware.sim.plant import Plant

RESET_POWER_ON = 1


class StdioUart:
    """Non-blocking byte pipe over stdin/stdout (a raw pty in `v2gate simulate`)."""

    def __init__(self):
        import select

        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._wpoll = select.poll()
        self._wpoll.register(sys.stdout, select.POLLOUT)
        self.tx_dropped = 0
        self._in = sys.stdin.buffer
        self._outb = sys.stdout.buffer
        try:
            import os

            self._fd = sys.stdin.fileno()
            self._os_read = os.read  # CPython: one read takes what is there
        except (ImportError, AttributeError):
            self._os_read = None

    def read(self):
        if not self._poll.poll(0):
            return None
        if self._os_read is not None:
            data = self._os_read(self._fd, 512)
        else:  # MicroPython's unix port: read(1) returns once a byte is there
            data = bytearray()
            while len(data) < 512 and self._poll.poll(0):
                data.extend(self._in.read(1))
        if not data:
            raise OSError("link closed")
        return data

    def write(self, data):
        # A UART with nobody listening drops bytes; it never blocks the firmware.
        if not self._wpoll.poll(0):
            self.tx_dropped += len(data)
            return
        self._outb.write(data)
        flush = getattr(self._outb, "flush", None)
        if flush:
            flush()


class SimHal:
    def __init__(self, board, params=None, uart=None):
        self.board = board
        self.plant = Plant(params, ticks_ms())
        self.uart = uart

    def sample_cp(self):
        self.plant.step(ticks_ms())
        return self.plant.cp_levels()

    def set_pilot(self, mode, duty):
        self.plant.set_pilot(mode, duty)

    def set_contactor(self, on):
        self.plant.set_coil(bool(on), ticks_ms())

    def contactor_feedback(self):
        return self.plant.feedback(ticks_ms())

    def current_ma(self):
        return self.plant.current_ma

    def temperature_dc(self, channel):
        return 250  # 25.0 C: the sim has no thermal model yet

    def feed_wdt(self):
        pass

    def reset_reason(self):
        return RESET_POWER_ON

    def reboot(self):
        raise SystemExit(0)
