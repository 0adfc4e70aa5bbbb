"""`system` tier: the proximity pilot and connector lock end to end (`v2gate simulate`)."""

from __future__ import annotations

import pytest

from tests.host.bench.test_fault_scenarios import runtime
from tests.host.bench.test_simulate import simulate

pytestmark = pytest.mark.system


@pytest.mark.parametrize(("scenario", "fault", "trigger", "cable"), [
    ("pp-fault", "F-070 proximity-pilot", "pp-fault", ("pp", "open")),
    ("lock-fault", "F-071 connector-lock", "lock-lost", ("lock", "failed"))])
def test_cable_fault_opens_within_budget(scenario: str, fault: str, trigger: str,
                                         cable: tuple[str, str]) -> None:
    rc, s = simulate("--scenario", scenario, "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s.get("verdict")
    assert fault in s["faults_raised"]
    # from the plant's trigger to the contactor open, on the firmware's clock
    assert 0 <= s["trigger_to_open_ms"] <= s["budget_ms"] == 50
    assert s["contactor_events"][-1]["closed"] is False
    assert s["verdict"].startswith(f"contactor opened {s['trigger_to_open_ms']} ms after the {trigger}")
    # the wear counters saw the opening under load
    assert s["wear_changes"][-1]["under_load"] >= 1
    # the CableStatus reports: all well at first, then what failed
    field, failed = cable
    assert any(c["pp"] == "ok" and c["lock"] == "locked" for c in s["cable_changes"][:-1])
    assert s["cable_changes"][-1][field] == failed


def test_a_13a_cable_caps_the_32a_offer() -> None:
    rc, s = simulate("--scenario", "cable-13a", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s.get("verdict")
    assert s["host_offer_a"] == 32 and s["cable_rating_a"] == 13.0
    assert s["max_duty_percent"] <= 21.67 and s["max_limit_a"] == 13.0
    assert 12 <= s["peak_current_a"] <= 13.2
    assert all(c["rating_a"] == 13.0 for c in s["cable_changes"])
    assert any(c["lock"] == "locked" for c in s["cable_changes"])
