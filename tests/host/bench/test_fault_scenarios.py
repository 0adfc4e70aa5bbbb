"""`system` tier: the firmware's protections end to end (`v2gate simulate` fault scenarios)."""

from __future__ import annotations

import pytest

from host.bench.processes import micropython_binary
from tests.host.bench.test_simulate import simulate

pytestmark = pytest.mark.system


def runtime() -> str:
    return "micropython" if micropython_binary() else "cpython"


@pytest.mark.parametrize(("scenario", "fault", "trigger"), [
    ("rcd-trip", "F-030 rcd-trip", "rcd-trip"), ("diode-fault", "F-020 diode", "diode-short"),
    ("estop", "F-040 estop", "estop"), ("manual-override", "F-041 manual-override", "override")])
def test_fault_opens_within_budget(scenario: str, fault: str, trigger: str) -> None:
    rc, s = simulate("--scenario", scenario, "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s.get("verdict")
    assert fault in s["faults_raised"]
    # from the scheduled trigger to the contactor open, firmware clock: within a tick or two
    assert 0 <= s["trigger_to_open_ms"] <= s["budget_ms"]
    assert s["contactor_events"][-1]["closed"] is False
    assert s["verdict"].startswith(f"contactor opened {s['trigger_to_open_ms']} ms after the "
                                   f"{trigger}, limit {s['budget_ms']} ms; ")
    assert s["verdict"].endswith(f"(expected {fault})")


def test_weld_blocks_further_close() -> None:
    rc, s = simulate("--scenario", "weld", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s.get("verdict")
    assert "F-092 contactor-weld" in s["faults_raised"] and s["closes"] == 1 and s["still_latched"]
    assert 90 <= s["weld_to_detect_ms"] <= 130  # the 100 ms aux-contact check after opening
    assert s["verdict"].startswith(f"weld found {s['weld_to_detect_ms']} ms after the contactor "
                                   "was told to open (the aux-contact check runs 100 ms after")
    # the contacts stay shut although the coil is released: the JSON says welded
    assert s["status_changes"][-1]["contactor"] == "welded"


def test_thermal_foldback_derates_smoothly_and_recovers() -> None:
    rc, s = simulate("--scenario", "thermal-foldback", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s.get("verdict")
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
    assert s["verdict"].startswith(f"derated from {s['peak_current_a']:.1f} A to "
                                   f"{s['derated_to_a']:.1f} A (limit: below")
