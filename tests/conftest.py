"""Shared test set-up: tier markers and the firmware-vm runner.

Firmware test modules that begin with the line `# firmware-vm` are written in the
MicroPython subset (plain asserts, `test_*()` functions without arguments, no pytest
imports). pytest runs them on CPython as `unit` tests, and each of their functions is
run again under the real MicroPython unix port as its own `firmware_vm` test
(tests/firmware/test_on_micropython.py).
"""

from __future__ import annotations

import pytest
from hypothesis import settings

# The machines that run this suite are shared and noisy: a property test judges what it
# finds, never how long one example took (hypothesis' default 200 ms deadline turned a
# loaded machine into a failure). Budgets stay per test (max_examples).
settings.register_profile("v2gate", deadline=None)
settings.load_profile("v2gate")

TIERS = {"unit", "firmware_vm", "cross", "system", "interop", "bench"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not TIERS & {mark.name for mark in item.iter_markers()}:
            item.add_marker(pytest.mark.unit)
