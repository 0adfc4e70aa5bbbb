"""Shared test set-up: tier markers and the firmware-vm runner.

Firmware test modules that begin with the line `# firmware-vm` are written in the
MicroPython subset (plain asserts, `test_*()` functions without arguments, no pytest
imports). pytest runs them on CPython as `unit` tests, and each of their functions is
run again under the real MicroPython unix port as its own `firmware_vm` test
(tests/firmware/test_on_micropython.py).
"""

from __future__ import annotations

import pytest

TIERS = {"unit", "firmware_vm", "cross", "system", "interop", "bench"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not TIERS & {mark.name for mark in item.iter_markers()}:
            item.add_marker(pytest.mark.unit)
