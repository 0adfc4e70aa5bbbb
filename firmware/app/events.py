"""A fixed-size ring of event records, written by the control tick without allocating.

Each record is four ints (kind, a, b, at_ms) in one preallocated array; the link task
reads them out and builds the messages. When the ring is full the oldest record is
overwritten and `lost` counts it, so the tick never blocks on a slow link.
"""

from array import array

from firmware.compat import const

CP_CHANGED = const(1)  # a = old state, b = new state
CONTACTOR_CHANGED = const(2)  # a = closed, b = reason bit
FAULT_RAISED = const(3)  # a = fault bit, b = detail (ms)
# (4, 5: controller.LIMIT_CHANGED, GRID_CHANGED)
DC_CHANGED = const(9)  # DC boards (firmware/app/dc.py): what DcStatus shows changed; a = phase
# (10, 11: cable.CABLE_CHANGED, WEAR_CHANGED)

_SIZE = const(16)


class EventRing:
    def __init__(self):
        self._rec = array("i", [0] * (_SIZE * 4))
        self._head = 0
        self._count = 0
        self.lost = 0

    def push(self, kind, a, b, at):
        i = (self._head + self._count) % _SIZE
        if self._count == _SIZE:
            self._head = (self._head + 1) % _SIZE
            self.lost += 1
        else:
            self._count += 1
        r = self._rec
        j = i * 4
        r[j] = kind
        r[j + 1] = a
        r[j + 2] = b
        r[j + 3] = at

    def pop(self):
        """(kind, a, b, at) of the oldest record, or None."""
        if not self._count:
            return None
        j = self._head * 4
        r = self._rec
        self._head = (self._head + 1) % _SIZE
        self._count -= 1
        return r[j], r[j + 1], r[j + 2], r[j + 3]
