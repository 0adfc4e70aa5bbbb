"""`system` tier: the DC hardware end to end on the sim-dc board (`v2gate simulate`
imd-alarm and dc-weld), the firmware on MicroPython where it is installed."""

from __future__ import annotations

import pytest

from tests.host.bench.test_fault_scenarios import runtime
from tests.host.bench.test_simulate import simulate

pytestmark = pytest.mark.system


def test_imd_alarm_mid_loop_opens_pair_and_stage_within_budget() -> None:
    rc, s = simulate("--scenario", "imd-alarm", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s.get("verdict")
    assert "F-080 imd-alarm" in s["faults_raised"]
    assert s["current_at_trigger_a"] > 40  # mid-loop: the DC current was flowing
    # from the scheduled alarm to the coils and the enable output, firmware clock
    assert 0 <= s["trigger_to_open_ms"] <= s["budget_ms"] == 50
    assert 0 <= s["trigger_to_stage_off_ms"] <= s["budget_ms"]
    assert s["verdict"].startswith(f"IMD alarm at {s['current_at_trigger_a']:.1f} A: pair opened "
                                   f"{s['trigger_to_open_ms']} ms and power stage off "
                                   f"{s['trigger_to_stage_off_ms']} ms after it")
    # the sequence the host saw: CableCheck valid, precharge, closed, then open and alarm
    phases = [d["phase"] for d in s["dc_changes"]]
    assert phases.index("precharging") < phases.index("closed") < phases.index("settling")
    assert any(d["isolation"] == "valid" for d in s["dc_changes"])
    assert any(d["imd_alarm"] for d in s["dc_changes"])


def test_dc_weld_is_found_by_the_aux_contacts_and_blocks_the_next_session() -> None:
    rc, s = simulate("--scenario", "dc-weld", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s.get("verdict")
    assert "F-093 dc-contactor-weld" in s["faults_raised"] and s["closes"] == 1 and s["still_latched"]
    assert 90 <= s["weld_to_detect_ms"] <= 130  # the aux contacts are read 100 ms after opening
    assert 0 <= s["trigger_to_open_ms"] <= 50 and 0 <= s["trigger_to_stage_off_ms"] <= 50
    assert s["dc_link_v_at_check"] > 300  # both contacts shut: the battery's voltage stays
    weld = [f for f in s["faults"] if f["fault"] == "F-093 dc-contactor-weld"][0]
    assert weld["found_by"] == ["plus-aux", "minus-aux"]
    assert s["status_changes"][-1]["contactor"] == "welded"
