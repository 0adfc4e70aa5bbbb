"""Contactor wear: operation counters per contactor, kept across reboots, and the
anti-chatter rule.

Contactors wear by operations, and much faster when they break a current: the DC
pair's contacts suffer thermal fatigue from frequent switching under load, their
commonest mechanical failure. Each contactor (an index: 0 the AC contactor, the DC
pair and a precharge relay their own) counts its operations (closes) and, apart, its
openings under load (a current at or above `load_ma` when the coil let go).

Anti-chatter: a contactor does not close again within `min_gap_ms` of its last close
(SetConfig contactor_min_gap_ms); the controller holds its interlock row
"chatter-guard" meanwhile, so a host that hunts (grants and withdraws leases in a
loop) cannot wear the contacts out.

Persistence: `pack()` / `load()` give and take a small record (magic, count, per
contactor: operations, under load). The tick only counts; the record is written
outside it, by the control task when `due` (every `save_every` operations of any
contactor) and at an orderly shutdown (Reset(reboot)). Worst case, a power loss drops
the last save_every - 1 operations and openings under load of each contactor (a flash
sector takes ~10^5 erases; at save_every 16 a contactor's 10^5 rated operations cost
6250 writes, spread over the file system's blocks).
"""

import struct
from array import array

from firmware.compat import const, ticks_diff

MAGIC = const(0x5745)  # "WE"
SAVE_EVERY = const(16)
MIN_GAP_MS = const(2000)  # default minimum time between two closes of one contactor
LOAD_MA = const(1000)  # an opening with at least this current counts as under load
_HEAD = "<HB"
_ROW = "<II"


class Wear:
    def __init__(self, n=1, min_gap_ms=MIN_GAP_MS, save_every=SAVE_EVERY, load_ma=LOAD_MA):
        self.n = n
        self.ops = array("L", [0] * n)
        self.under_load = array("L", [0] * n)
        self.closed_at = array("l", [0] * n)
        self.ever_closed = bytearray(n)  # no close since boot: no guard
        self.min_gap_ms = min_gap_ms
        self.save_every = save_every
        self.load_ma = load_ma
        self.unsaved = 0
        self.due = False
        self.changed = False  # for the link: a WearStatus goes out
        self._buf = bytearray(struct.calcsize(_HEAD) + n * struct.calcsize(_ROW))

    def guard(self, i, now):
        """True while contactor i may not close yet (anti-chatter)."""
        return bool(self.ever_closed[i]) and ticks_diff(now, self.closed_at[i]) < self.min_gap_ms

    def guard_left_ms(self, i, now):
        if not self.ever_closed[i]:
            return 0
        left = self.min_gap_ms - ticks_diff(now, self.closed_at[i])
        return left if left > 0 else 0

    def closed(self, i, now):
        self.ops[i] += 1
        self.closed_at[i] = now
        self.ever_closed[i] = 1
        self._count()

    def opened(self, i, current_ma):
        if current_ma >= self.load_ma or -current_ma >= self.load_ma:
            self.under_load[i] += 1
            self.changed = True

    def _count(self):
        self.changed = True
        self.unsaved += 1
        if self.unsaved >= self.save_every:
            self.due = True

    def pack(self):
        """The record to keep (allocates: outside the tick). Clears `due`."""
        buf = self._buf
        struct.pack_into(_HEAD, buf, 0, MAGIC, self.n)
        at = struct.calcsize(_HEAD)
        row = struct.calcsize(_ROW)
        for i in range(self.n):
            struct.pack_into(_ROW, buf, at + i * row, self.ops[i], self.under_load[i])
        self.unsaved = 0
        self.due = False
        return bytes(buf)

    def load(self, data):
        """Take a kept record; False (counters left at 0) when it is not one of ours or
        not for this many contactors."""
        head = struct.calcsize(_HEAD)
        row = struct.calcsize(_ROW)
        if not data or len(data) != head + self.n * row:
            return False
        magic, n = struct.unpack_from(_HEAD, data, 0)
        if magic != MAGIC or n != self.n:
            return False
        for i in range(n):
            self.ops[i], self.under_load[i] = struct.unpack_from(_ROW, data, head + i * row)
        return True


def save(wear, hal):
    """Write the counters through the HAL's non-volatile store, where it has one."""
    store = getattr(hal, "nv_save", None)
    if store is not None:
        store("wear", wear.pack())
    else:
        wear.pack()  # nowhere to keep them: only clear `due`


def restore(wear, hal):
    load = getattr(hal, "nv_load", None)
    return wear.load(load("wear")) if load is not None else False
