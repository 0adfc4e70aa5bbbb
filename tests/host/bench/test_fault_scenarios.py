"""`system` tier: the firmware's protections end to end (`v2gate simulate` fault scenarios)."""

from __future__ import annotations

import pytest

from host.bench.processes import micropython_binary
from tests.host.bench.test_simulate import simulate

pytestmark = pytest.mark.system


def runtime() -> str:
    return "micropython" if micropython_binary() else "cpython"


@pytest.mark.parametrize(("scenario", "code"), [("rcd-trip", 30), ("diode-fault", 20), ("estop", 40)])
def test_fault_opens_within_budget(scenario: str, code: int) -> None:
    rc, s = simulate("--scenario", scenario, "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s
    assert code in s["fault_codes"]
    # from the scheduled trigger to the contactor open, firmware clock: within a tick or two
    assert 0 <= s["trigger_to_open_ms"] <= s["budget_ms"]
    assert s["contactor_events"][-1]["closed"] is False


def test_weld_blocks_further_close() -> None:
    rc, s = simulate("--scenario", "weld", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s
    assert 92 in s["fault_codes"] and s["closes"] == 1 and s["still_latched"]
    assert 90 <= s["weld_to_detect_ms"] <= 130  # the 100 ms aux-contact check after opening


def test_thermal_foldback_derates_smoothly_and_recovers() -> None:
    rc, s = simulate("--scenario", "thermal-foldback", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s
    assert s["faults"] == []
    assert s["peak_current_a"] > 30
    assert 6 <= s["derated_to_a"] < 20
    assert s["recovered_to_a"] > 30
    temps = [p["temp_c"] for p in s["trace"]]
    assert max(temps) >= 85
    # the offer never rose while the temperature was rising
    heating = [p for p in s["trace"] if 77 <= p["temp_c"] and p["t"] < 9.0 and p["current_a"] > 1]
    currents = [p["current_a"] for p in heating]
    assert all(b <= a + 0.5 for a, b in zip(currents, currents[1:], strict=False))
