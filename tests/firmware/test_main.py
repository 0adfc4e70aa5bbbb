# firmware-vm
"""The control loop's schedule (firmware/main.py): ticks on a fixed 10 ms grid however
long each takes, missed periods skipped rather than caught up, and the watchdog fed
only after a tick that completed. On fake time: the loop's clock and sleep are
replaced by a clock that only the sleeps and the ticks move."""

import asyncio

from firmware import main
from firmware.app.wear import Wear
from firmware.compat import ticks_add, ticks_diff

PERIOD = 10


class Stop(Exception):
    pass


class FakeTime:
    def __init__(self, start):
        self.t = start
        self.slept = []

    def ticks_ms(self):
        return self.t

    async def sleep_ms(self, ms):
        assert ms >= 0, ms
        self.slept.append(ms)
        self.t = ticks_add(self.t, ms)


class Hal:
    def __init__(self):
        self.fed = 0
        self.saved = []  # (name, record, after how many ticks)

    def feed_wdt(self):
        self.fed += 1

    def nv_save(self, name, data):
        self.saved.append((name, data, self.fed))


class Ctrl:
    """Each tick takes the next of `costs` ms of fake time; past the last it raises."""

    def __init__(self, clock, costs):
        self.hal = Hal()
        self.clock = clock
        self.costs = costs
        self.at = []
        self.wear = Wear(1, save_every=3)  # the tick closes the contactor every other time

    def tick(self, now):
        if len(self.at) == len(self.costs):
            raise Stop()
        if len(self.at) % 2:
            self.wear.closed(0, now)
        self.at.append(now)
        self.clock.t = ticks_add(self.clock.t, self.costs[len(self.at) - 1])


def _run(costs, start=1000, ctrl=None):
    clock = FakeTime(start)
    ctrl = ctrl or Ctrl(clock, costs)
    saved = (main.ticks_ms, main.sleep_ms)
    main.ticks_ms = clock.ticks_ms
    main.sleep_ms = clock.sleep_ms
    try:
        asyncio.run(main.control_task(ctrl, PERIOD))
    except Stop:
        pass
    finally:
        main.ticks_ms, main.sleep_ms = saved
    return [ticks_diff(t, start) for t in ctrl.at], ctrl.hal.fed


def test_ticks_stay_on_the_grid_whatever_each_takes():
    at, fed = _run([3, 7, 9, 1, 0, 4] * 5)
    assert at == [PERIOD * i for i in range(30)], at  # no drift: 10 ms, not 10 ms + tick
    assert fed == 30


def test_an_overrun_skips_the_missed_periods_without_a_burst():
    # the third tick takes 25 ms: it misses the ticks due at 30 and 40, the next runs at
    # 50 (not at 35, and not twice at once to catch up); a tick of exactly one period
    # runs the next one at once, on the grid
    at, fed = _run([2, 2, 25, 2, 10, 2, 31, 2])
    assert at == [0, 10, 20, 50, 60, 70, 80, 120], at
    assert fed == 8


def test_the_schedule_crosses_the_ticks_wrap():
    start = ticks_add(0, -35)  # 35 ms before the clock wraps to 0
    at, _fed = _run([4, 13, 6, 8, 2, 5, 9, 1], start=start)
    assert at == [0, 10, 30, 40, 50, 60, 70, 80], at


def test_next_deadline():
    assert main.next_deadline(100, 103, PERIOD) == 110
    assert main.next_deadline(100, 110, PERIOD) == 110  # due now: run it now
    assert main.next_deadline(100, 111, PERIOD) == 120
    assert main.next_deadline(100, 145, PERIOD) == 150
    assert main.next_deadline(ticks_add(0, -5), 3, PERIOD) == 5


def test_the_watchdog_is_fed_only_after_a_completed_tick():
    # a tick that raises ends the loop (the exception reaches asyncio.run) unfed, so the
    # hardware watchdog resets the board
    assert _run([1, 1, 1]) == ([0, 10, 20], 3)
    assert _run([]) == ([], 0)


def test_isr_traceback_buffer_is_reserved_where_the_port_has_it():
    got = []

    class Board:  # a board port's `micropython` module
        @staticmethod
        def alloc_emergency_exception_buf(size):
            got.append(size)

    assert main.reserve_isr_traceback(Board) is True
    assert got == [main.EMERGENCY_EXCEPTION_BUF]
    assert main.reserve_isr_traceback(object()) is False  # the unix port: none
    main.reserve_isr_traceback()  # this runtime's own: never raises


def test_the_tx_buffer_drains_before_a_requested_reboot():
    # rp2 and esp32 buffer UART TX: a reset right after write() cut off the Ack of the
    # Reset(reboot), so the host sent it again after the reboot, and again (issue #10)
    calls = []

    class Uart:
        def read(self):
            return None

        def write(self, data):
            calls.append("write")

        def drain(self, timeout_ms):
            assert timeout_ms == main.REBOOT_DRAIN_MS
            calls.append("drain")

    class RebootHal:
        def reboot(self):
            calls.append("reboot")
            raise Stop()

        def nv_save(self, name, data):
            calls.append("save " + name)  # the wear counters not yet saved (issue 15)

    class Server:
        reboot_requested = True

        def __init__(self):
            self.ctrl = self
            self.hal = RebootHal()
            self.wear = Wear(1)
            self.wear.closed(0, 0)

        def receive(self, data, now):
            pass

        def poll(self, now):
            pass

        def data_to_send(self):
            return [b"ack", b"status"]

    try:
        asyncio.run(main.link_task(Server(), Uart()))
    except Stop:
        pass
    assert calls == ["write", "write", "drain", "save wear", "reboot"]


def test_wear_is_saved_after_the_tick_every_save_every_operations_and_at_shutdown():
    clock = FakeTime(1000)
    ctrl = Ctrl(clock, [1] * 14)  # 7 closes in 14 ticks
    _run(ctrl.costs, ctrl=ctrl)
    hal = ctrl.hal
    # after the 3rd and 6th close, once each, outside the tick (the tick only counts)
    assert [(name, fed) for name, _, fed in hal.saved] == [("wear", 6), ("wear", 12)]
    again = Wear(1)
    assert again.load(hal.saved[-1][1]) and again.ops[0] == 6
    assert ctrl.wear.unsaved == 1  # the 7th: a power cut now would lose it
    main.save_on_shutdown(ctrl)  # Reset(reboot) keeps it
    assert again.load(hal.saved[-1][1]) and again.ops[0] == 7 and ctrl.wear.unsaved == 0
