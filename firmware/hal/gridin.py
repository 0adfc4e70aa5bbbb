"""Grid sensing on the microcontroller ports: the interrupt side.

Three writers, each feeding a ring that an estimator in firmware/app owns:

* `AdcSampler` - one ADC read per timer interrupt into a GridSync's ring (`gs.ring`,
  `gs.mask`). For ports whose timer callback is a hard IRQ running at the timer's own
  pace (rp2, stm32): the n-th sample is the n-th period, so the sample times are as
  regular as the timer.
* `ClockedSampler` - for ports whose timer callbacks are soft (esp32): a callback can
  run late or be dropped when the scheduler queue is full, so counting callbacks would
  compress time. Each callback instead reads the clock and fills every sample slot
  that has fallen due since the last one with the one value it reads (a held sample
  for a late callback). The ring stays on the true time base; the price is that a
  sample's value is taken up to one callback latency after its slot.
* `EdgeStamper` - a comparator zero-cross pin's rising edges as ticks_us timestamps
  into an EdgeSync's ring (`es.ring`, `es.mask`), from a pin IRQ.

Shared rules, because these run in interrupts: no allocation (small ints only, state
in preallocated arrays, bound methods cached before the IRQ is enabled), no floats.
Each keeps a free-running count of what it wrote in `count[0]` (an array('i'), mod
2**30); the ring index is count & mask, and 2**30 is a multiple of every ring length,
so the index runs on smoothly when the count wraps. `collect()` (control loop) returns
how many were written since its last call: one word read, so it needs no lock; the
writer only ever moves forward.

Nothing here imports `machine`: the port HAL passes its ADC read, clock and IRQ lock.
The samplers attach to the estimator's ring on the first `collect` (the controller
creates the estimator after the HAL) and only then start their timer or IRQ.
"""

from array import array

from firmware.compat import const

COUNT_MASK = const(0x3FFFFFFF)
# times are ticks_us modulo 2**30: that is the ticks period of the 32-bit ports, and
# the unix port's (2**62) reduces to it, so the same arithmetic holds everywhere
US_MASK = const(0x3FFFFFFF)
US_HALF = const(0x20000000)


class _RingWriter:
    """What the three writers share: the count, attaching to an owner's ring, collect()."""

    callback = None  # type: object  # each writer's IRQ handler, bound once: no IRQ allocation

    def __init__(self, irq_off, irq_on, start, ring):
        self.count = array("i", [0])
        self._irq_off = irq_off
        self._irq_on = irq_on
        self._start = start
        self._ring = ring  # a placeholder until attach(): the IRQ is not running yet
        self._mask = 0
        self._last = 0
        self._owner = None

    def attach(self, owner):
        """Point the writer at `owner.ring` from index 0; start the timer or IRQ once."""
        state = self._irq_off()  # ring, mask and count change together, never half
        self._ring = owner.ring
        self._mask = owner.mask
        self.count[0] = 0
        self._last = 0
        self._irq_on(state)
        started = self._owner is not None
        self._owner = owner
        if not started:
            self._start(self.callback)

    def collect(self, owner):
        """How many entries were written into owner.ring since the last call (0 on the
        first call, which attaches)."""
        if owner is not self._owner:
            self.attach(owner)
            return 0
        c = self.count[0]
        n = (c - self._last) & COUNT_MASK
        self._last = c
        return n


class AdcSampler(_RingWriter):
    """`read()` returns read_u16-style counts; `shift` scales them to the ring's 12 bits.

    `irq_off`/`irq_on` guard the read where another interrupt reads the same ADC (the
    CP sample IRQ on rp2 and stm32 selects its own channel: a read cut between select
    and convert would return the wrong channel). `start(callback)` is the port's
    function that starts the timer with our callback.
    """

    def __init__(self, read, shift, irq_off, irq_on, start):
        _RingWriter.__init__(self, irq_off, irq_on, start, array("H", [0]))
        self._read = read
        self._shift = shift
        self.callback = self._sample  # bound once, before any IRQ can run

    def _sample(self, _timer):
        state = self._irq_off()
        v = self._read()
        self._irq_on(state)
        c = self.count[0]
        self._ring[c & self._mask] = v >> self._shift
        self.count[0] = (c + 1) & COUNT_MASK


class ClockedSampler(AdcSampler):
    """AdcSampler for soft timer callbacks: slots by the clock, not by the callback.

    `now_us()` is time.ticks_us (taken modulo 2**30). Slot k is due at start + k / fs
    seconds; the period 1e6 / fs us is kept as whole us plus a remainder, so no slot
    drifts. A stall longer
    than the ring resynchronises to the clock (the estimator then sees an overrun: the
    count has run past what its ring holds).
    """

    def __init__(self, read, shift, fs, now_us, start):
        AdcSampler.__init__(self, read, shift, _no_irq_off, _no_irq_on, start)
        self._now = now_us
        self._fs = fs
        self._step = 1000000 // fs
        self._frac = 1000000 % fs
        self._due = array("i", [0, 0])  # next slot's time (us), remainder (1/fs us)
        self.held = 0  # slots filled with a repeated value (late or dropped callbacks)
        self.callback = self._clocked

    def _clocked(self, _timer):
        now = self._now() & US_MASK
        v = self._read() >> self._shift
        due = self._due[0]
        rem = self._due[1]
        c = self.count[0]
        ring = self._ring
        mask = self._mask
        k = 0
        while ((now - due) & US_MASK) < US_HALF:  # the slot at `due` has come
            ring[c & mask] = v
            c = (c + 1) & COUNT_MASK
            due += self._step
            rem += self._frac
            if rem >= self._fs:
                rem -= self._fs
                due += 1
            due &= US_MASK
            k += 1
            if k > mask:  # stalled for a whole ring: start again from now
                due = (now + self._step) & US_MASK
                rem = 0
                break
        if k > 1:
            self.held += k - 1
        self.count[0] = c
        self._due[0] = due
        self._due[1] = rem

    def attach(self, owner):
        # the first slot half a period ahead: on-time callbacks land mid-slot, so a
        # little jitter either way neither skips nor doubles a slot
        self._due[0] = (self._now() + (self._step >> 1)) & US_MASK
        self._due[1] = 0
        AdcSampler.attach(self, owner)


class EdgeStamper(_RingWriter):
    """Rising edges of a comparator as ticks_us & US_MASK into `es.ring`.

    `hold_us`: edges closer than this to the previous stored one are dropped here, so
    the chatter of a comparator at the crossing cannot flood the small ring between
    two control ticks (EdgeSync applies the real plausibility rules).
    """

    def __init__(self, now_us, hold_us, irq_off, irq_on, start):
        _RingWriter.__init__(self, irq_off, irq_on, start, array("i", [0]))
        self._now = now_us
        self._hold = hold_us
        self._prev = array("i", [0, 0])  # last stored time; 1 once one is stored
        self.dropped = array("i", [0])  # edges dropped by the hold-off
        self.callback = self._edge

    def _edge(self, _pin):
        t = self._now() & US_MASK
        prev = self._prev
        if prev[1] and ((t - prev[0]) & US_MASK) < self._hold:
            self.dropped[0] = (self.dropped[0] + 1) & COUNT_MASK
            return
        prev[0] = t
        prev[1] = 1
        c = self.count[0]
        self._ring[c & self._mask] = t
        self.count[0] = (c + 1) & COUNT_MASK


def _no_irq_off():
    return 0


def _no_irq_on(_state):
    pass
