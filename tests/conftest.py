"""Shared test set-up: tier markers and the firmware-vm runner.

Firmware test modules that begin with the line `# firmware-vm` are written in the
MicroPython subset (plain asserts, `test_*()` functions without arguments, no pytest
imports). pytest runs them on CPython as `unit` tests, and each of their functions is
run again under the real MicroPython unix port as its own `firmware_vm` test
(tests/firmware/test_on_micropython.py).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# The machines that run this suite are shared and noisy: a property test judges what it
# finds, never how long one example took (hypothesis' default 200 ms deadline turned a
# loaded machine into a failure). Budgets stay per test (max_examples).
settings.register_profile("v2gate", deadline=None)
settings.load_profile("v2gate")

TIERS = {"unit", "firmware_vm", "cross", "system", "interop", "bench"}


# Under pytest-xdist (the README's command) a worker takes the tests in this order: the
# slow tiers first, so the long peers and benchmarks are not the last thing still running
# while the other workers sit idle. Every worker sorts alike (the order only depends on
# the markers), as xdist requires.
FIRST = ("bench", "interop", "system")


def _rank(item: pytest.Item) -> int:
    names = {mark.name for mark in item.iter_markers()}
    return next((i for i, tier in enumerate(FIRST) if tier in names), len(FIRST))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not TIERS & {mark.name for mark in item.iter_markers()}:
            item.add_marker(pytest.mark.unit)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=_rank)  # stable: collection order within a tier


@pytest.fixture(autouse=True)
def _one_of_its_xdist_group_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests marked `xdist_group(name)` never run at the same time as another of that
    group, whichever workers they land on: `--dist loadgroup` should put them on one
    worker, but with pytest 9.2 it no longer does (pytest-xdist issue 1386), so an
    exclusive lock per group holds them apart. The lock is the machine's: two test runs
    on one machine are held apart too."""
    mark = request.node.get_closest_marker("xdist_group")
    if mark is None:
        yield
        return
    name = mark.args[0] if mark.args else mark.kwargs.get("name", "default")
    with open(Path(tempfile.gettempdir()) / f"v2gate-xdist-group-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, after teardown
        yield
