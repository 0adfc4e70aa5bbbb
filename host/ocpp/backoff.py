"""Reconnect back-off, OCPP-J Part 4 §5.4 with the OCPPCommCtrlr RetryBackOff* variables.

The first attempt after a loss waits RetryBackOffWaitMinimum plus a random part of at most
RetryBackOffRandomRange; every failed attempt doubles the fixed part, RetryBackOffRepeatTimes
times at most, with a new random part each time; a successful connection starts over.
"""

from __future__ import annotations

from collections.abc import Callable

from .devmodel import DeviceModel


class Backoff:
    def __init__(self, model: DeviceModel, rng: Callable[[float, float], float]) -> None:
        self.model = model
        self.rng = rng  # random.uniform, or a fake in tests
        self.failures = 0

    def next_delay(self) -> float:
        comm = "OCPPCommCtrlr"
        wait_min = self.model.integer(comm, "RetryBackOffWaitMinimum")
        repeat = self.model.integer(comm, "RetryBackOffRepeatTimes")
        spread = self.model.integer(comm, "RetryBackOffRandomRange")
        delay = wait_min * 2 ** min(self.failures, repeat) + self.rng(0, spread)
        self.failures += 1
        return float(delay)

    def reset(self) -> None:
        self.failures = 0
