"""HAL of the `sim` board: the contract of hal/base.py over the Plant.

The link UART is the process's stdin/stdout, which `v2gate simulate` connects to a
pty exactly as a board's UART sits behind /dev/ttyACM0. Injected plant events go to
stderr as JSON lines with the firmware's clock, for the scenario to measure against.
With `inject` (a file path) in the parameters, every line appended to that file starts
a fault at once (Plant.inject, and `grid-dip` here): the bench console's fault
injection, on a channel apart from the link so that the firmware's UART carries only
what a board's would.
"""

import math
import sys

from firmware.compat import ticks_ms
from firmware.hal.base import CP_BURST, RESET_POWER_ON, mv_to_counts
from firmware.sim.plant import CHARGING, Plant


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
        self._os_read = None  # MicroPython's unix port may lack os.read
        try:
            import os

            self._fd = sys.stdin.fileno()
            self._os_read = os.read  # CPython: one read takes what is there
        except (ImportError, AttributeError):
            pass

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

    def drain(self, timeout_ms):
        """Nothing to wait for: write() flushes each frame to the pty at once."""


def _log_stderr(name, now):
    sys.stderr.write('{"plant": "%s", "fw_ms": %d}\n' % (name, now))


class SimHal:
    def __init__(self, board, params=None, uart=None, log=_log_stderr):
        self.board = board
        self.cal = board["cp_cal"]
        self.adc_max = (1 << board["adc_bits"]) - 1
        ntc = board["ntc"]
        self.ntc = (ntc["beta"], ntc["r25"], ntc["r_series"], ntc["adc_max"])
        self.plant = Plant(params, ticks_ms(), log)
        self.uart = uart
        self._noise = 12345
        # `log_applied`: each command the link server applies goes to the log too, so a
        # bench can check what reached the controller and in which order
        self.log_applied = self._log_applied if (params or {}).get("log_applied") else None
        self._cp_count = 0  # sample_cp calls: the sampler never stalls here
        path = (params or {}).get("inject")
        self._inject = open(path, "rb") if path else None  # open while the firmware runs
        self._inject_buf = b""
        self._log = log
        self._nv = {}  # type: dict[str, bytes]
        self.grid = None
        grid_cfg = board.get("grid")
        if grid_cfg is not None:
            from firmware.sim.grid import GridModel

            g = dict((params or {}).get("grid") or {})
            g.setdefault("f_nom", grid_cfg["f_nom"])
            self.grid = GridModel.from_params(grid_cfg["fs"], g)
            self.grid_t0 = self.plant.t0
            self.grid_pos = 0
            # the converter's reference runs this far from the grid (its own PLL error)
            self.ref_offset16 = g.get("converter_offset_mrad", 10) * 65536 // 6283
            self._log_grid_events(g.get("events", ()), log)
        # DC charger hardware (the sim-dc board): the pair, IMD and stage on the DC plant
        self.dc = None
        if board.get("dc") is not None:
            from firmware.sim.dcside import DcSide

            self.dc = DcSide(params, self.plant.t0, log, self.plant.p["contactor_ms"])
            self.plant.p["digital"] = True  # the EV charges by 5 % PWM

    def _log_applied(self, msg):
        """LinkServer.on_applied: one line per applied command, with its ordering
        (epoch, order) as the host numbered it."""
        values = ",".join(str(v) if isinstance(v, int) else '"?"' for v in msg.values())
        sys.stderr.write('{"plant": "applied", "fw_ms": %s, "type": %d, "epoch": %d, "order": %d, '
                         '"values": [%s]}\n' % (ticks_ms(), msg.TYPE, getattr(msg, "epoch", -1),
                                                 getattr(msg, "order", -1), values))

    def _counts(self, mv):
        # +-2 LSB of deterministic noise, as a real ADC would show
        self._noise = (self._noise * 1103515245 + 12345) & 0x7FFFFFFF
        c = mv_to_counts(mv, self.cal) + (self._noise >> 16) % 5 - 2
        return 0 if c < 0 else (self.adc_max if c > self.adc_max else c)

    def _poll_inject(self, f, now):
        """Lines appended to the inject file `f` since the last look (a regular file:
        read returns what was written after the last read)."""
        data = f.read()
        if not data:
            return
        lines = (self._inject_buf + data).split(b"\n")
        self._inject_buf = lines.pop()
        for line in lines:
            name = line.strip().decode()
            if name == "grid-dip" and self.grid is not None:
                # a sag to 50 % for 500 ms, from the next sample the ADC takes
                start = self.grid.n / self.grid.fs
                self.grid.sag(start, start + 0.5, 0.5)
                if self._log:
                    self._log(name, now)
            elif name and not self.plant.inject(name, now) and self._log:
                self._log("unknown-" + name, now)

    def sample_cp(self, high, low):
        now = ticks_ms()
        inject = self._inject
        if inject is not None:
            self._poll_inject(inject, now)
        dc = self.dc
        if dc is not None:
            dc.step(now, self.plant.phase == CHARGING)  # the EV asks for current
            self.plant.dc_ma = dc.current_ma()
        self.plant.step(now)
        hi, lo = self.plant.cp_levels()
        for i in range(CP_BURST):
            high[i] = self._counts(hi)
            low[i] = self._counts(lo)
        self._cp_count = (self._cp_count + 1) & 0x3FFFFFFF
        return self._cp_count

    def duty_steps(self):
        return 10000

    def set_pilot(self, mode, duty):
        self.plant.set_pilot(mode, duty)

    def set_contactor(self, on):
        self.plant.set_coil(bool(on), ticks_ms())

    def contactor_feedback(self):
        return self.plant.feedback(ticks_ms())

    def rcd_fault(self):
        return self.plant.rcd_fault()

    def rcd_test(self, on):
        self.plant.rcd_test_on = bool(on)

    def estop(self):
        return self.plant.estop

    def manual_override(self):
        return self.plant.override

    def ntc_counts(self, channel):
        beta, r25, r_series, adc_max = self.ntc
        t = self.plant.temp_dc / 10 + 273.15
        r = r25 * math.exp(beta * (1 / t - 1 / 298.15))
        return int(adc_max * r / (r + r_series) + 0.5)

    def _log_grid_events(self, events, log):
        from firmware.compat import ticks_add

        for e in events:  # [kind, start_s, ...]: logged at their scheduled time
            if log:
                log("grid-" + e[0], ticks_add(self.grid_t0, int(e[1] * 1000)))

    def grid_collect(self, gs):
        from firmware.compat import ticks_diff

        grid = self.grid
        if grid is None:  # a board without grid sensing: the ADC timer takes nothing
            return 0
        n = grid.due(ticks_diff(ticks_ms(), self.grid_t0))
        if n > gs.max_block:
            n = gs.max_block  # as a real ring would: the rest is the next block's
        if n > 0:
            self.grid_pos = grid.fill(gs.ring, self.grid_pos, n, gs.mask)
        return n if n > 0 else 0

    def converter_phase16(self, grid16):
        return (grid16 + self.ref_offset16) & 0xFFFF

    def current_ma(self):
        return self.plant.current_ma

    # ---- issue 15: proximity pilot, connector lock, non-volatile store ----

    def pp_counts(self):
        pp = self.board["pp"]
        r = self.plant.pp_ohms
        c = pp["adc_max"] * r // (r + pp["r_pull"])
        self._noise = (self._noise * 1103515245 + 12345) & 0x7FFFFFFF
        c += (self._noise >> 16) % 3 - 1
        return 0 if c < 0 else (pp["adc_max"] if c > pp["adc_max"] else c)

    def lock_drive(self, d):
        self.plant.set_lock_drive(d, ticks_ms())

    def lock_feedback(self):
        return self.plant.lock_feedback()

    def nv_load(self, name):
        """The sim board keeps its non-volatile records in memory (one run); a file
        store, as the MCU ports have, would add nothing to the bench."""
        return self._nv.get(name)

    def nv_save(self, name, data):
        self._nv[name] = bytes(data)

    # DC charger hardware (hal/base.py), on the sim-dc board

    def dc_contactors(self, bits):
        dc = self.dc
        if dc is not None:
            dc.set_coils(bits, ticks_ms())

    def dc_aux(self):
        dc = self.dc
        return dc.aux(ticks_ms()) if dc is not None else 0

    def dc_link_dv(self):
        dc = self.dc
        return dc.link_dv() if dc is not None else 0

    def imd_alarm(self):
        dc = self.dc
        return dc is not None and dc.alarm

    def imd_kohm(self):
        dc = self.dc
        return dc.imd_kohm() if dc is not None else -1

    def power_stage(self, on, target_dv):
        dc = self.dc
        if dc is not None:
            dc.power_stage(on, target_dv, ticks_ms())

    def feed_wdt(self):
        pass

    def reset_reason(self):
        return RESET_POWER_ON

    def reboot(self):
        raise SystemExit(0)
