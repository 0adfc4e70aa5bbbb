"""`system` tier: IEEE 1547 functions end to end (`v2gate simulate` grid scenarios)."""

from __future__ import annotations

import pytest

from host.bench.processes import micropython_binary
from tests.host.bench.test_simulate import simulate

pytestmark = pytest.mark.system


def runtime() -> str:
    return "micropython" if micropython_binary() else "cpython"


def test_freq_dip_droop_response() -> None:
    rc, s = simulate("--scenario", "freq-dip", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s.get("verdict")
    assert 0 < s["response_ms"] < 250
    assert 49.65 <= s["lowest_freq_hz"] <= 49.75
    assert s["droop_w"] > 1000  # towards less charging
    assert s["current_after_droop_a"] < 16
    freqs = [g["freq_hz"] for g in s["grid_trace"] if g["freq_hz"]]
    assert max(freqs) > 49.98 and min(freqs) < 49.75  # the trace shows the dip
    assert s["verdict"].startswith(f"droop answered {s['response_ms']} ms after the dip began, "
                                   "limit 250 ms")


def test_islanding_opens_within_a_few_cycles() -> None:
    rc, s = simulate("--scenario", "islanding", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s.get("verdict")
    assert s["exporting_before"]
    assert 0 < s["time_to_open_ms"] <= 200  # IEEE 1547's limit is 2 s
    assert [f["fault"] for f in s["faults"]] == ["F-060 grid-trip"]
    assert s["verdict"].startswith(f"contactor opened {s['time_to_open_ms']} ms after the grid "
                                   "dropped out, limit 2000 ms; F-060 grid-trip loss-of-grid")


def test_ride_through_does_not_trip() -> None:
    rc, s = simulate("--scenario", "ride-through", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s.get("verdict")
    assert not s["tripped"] and s["contactor_stayed_closed"]
    assert any(g["refused"] == [] for g in s["grid_trace"])
    assert "contactor closed 1x, opened 0x (limit 0)" in s["verdict"]


def test_overvoltage_trips_ov1_by_its_clearing_time() -> None:
    rc, s = simulate("--scenario", "overvoltage", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s.get("verdict")
    assert s["exporting_before"] and s["trip"] == "OV1"
    assert s["set_over_link"] == ["grid_ov1_ms=1000"]  # 2 s default, 1 s set for a short run
    # the contacts part by the clearing time, at most a tick and a half cycle early
    assert 975 <= s["swell_to_open_ms"] <= 1000
    assert s["swell_to_command_ms"] == s["swell_to_open_ms"] - 20  # the sim contactor
    assert [f["fault"] for f in s["faults"]] == ["F-060 grid-trip"]
    assert max(g["v_rms"] for g in s["grid_trace"]) > 260  # 1.15 x 230 V
    assert s["verdict"] == (f"contacts parted {s['swell_to_open_ms']} ms after the swell, "
                            "limit 1000 ms (not before 975 ms); trip OV1 (expected OV1)")


def test_undervoltage_trips_uv2_by_160_ms() -> None:
    rc, s = simulate("--scenario", "undervoltage", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s.get("verdict")
    assert s["exporting_before"] and s["trip"] == "UV2"
    assert 135 <= s["sag_to_open_ms"] <= 160
    assert any(g["trip"] == "UV2" and g["v_rms"] < 100 for g in s["grid_trace"])
    assert s["verdict"] == (f"contacts parted {s['sag_to_open_ms']} ms after the sag, "
                            "limit 160 ms (not before 135 ms); trip UV2 (expected UV2)")


def test_deep_sag_without_zero_crossings_still_trips_uv2() -> None:
    rc, s = simulate("--scenario", "uv2-deep", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", s.get("verdict")
    assert s["trip"] == "UV2" and [f["trip"] for f in s["faults"]] == ["UV2"]
    assert 135 <= s["sag_to_open_ms"] <= 160
