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
    assert rc == 0 and s["result"] == "pass", {k: v for k, v in s.items() if k != "timeline"}
    assert 0 < s["response_ms"] < 250
    assert 49.65 <= s["lowest_freq_hz"] <= 49.75
    assert s["droop_w"] > 1000  # towards less charging
    assert s["current_after_droop_a"] < 16
    freqs = [g["freq_hz"] for g in s["grid_trace"] if g["freq_hz"]]
    assert max(freqs) > 49.98 and min(freqs) < 49.75  # the trace shows the dip


def test_islanding_opens_within_a_few_cycles() -> None:
    rc, s = simulate("--scenario", "islanding", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", {k: v for k, v in s.items() if k != "timeline"}
    assert s["exporting_before"]
    assert 0 < s["time_to_open_ms"] <= 200  # IEEE 1547's limit is 2 s
    assert [f["code"] for f in s["faults"]] == [60]


def test_ride_through_does_not_trip() -> None:
    rc, s = simulate("--scenario", "ride-through", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", {k: v for k, v in s.items() if k != "timeline"}
    assert not s["tripped"] and s["contactor_stayed_closed"]
    assert any(g["refused"] == [] for g in s["grid_trace"])


def test_overvoltage_trips_ov1_by_its_clearing_time() -> None:
    rc, s = simulate("--scenario", "overvoltage", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", {k: v for k, v in s.items() if k != "timeline"}
    assert s["exporting_before"] and s["trip"] == "OV1"
    assert s["set_over_link"] == ["grid_ov1_ms=1000"]  # 2 s default, 1 s set for a short run
    # the contacts part by the clearing time, at most a tick and a half cycle early
    assert 975 <= s["swell_to_open_ms"] <= 1000
    assert s["swell_to_command_ms"] == s["swell_to_open_ms"] - 20  # the sim contactor
    assert [f["code"] for f in s["faults"]] == [60]
    assert max(g["v_rms"] for g in s["grid_trace"]) > 260  # 1.15 x 230 V


def test_undervoltage_trips_uv2_by_160_ms() -> None:
    rc, s = simulate("--scenario", "undervoltage", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", {k: v for k, v in s.items() if k != "timeline"}
    assert s["exporting_before"] and s["trip"] == "UV2"
    assert 135 <= s["sag_to_open_ms"] <= 160
    assert any(g["trip"] == "UV2" and g["v_rms"] < 100 for g in s["grid_trace"])


def test_deep_sag_without_zero_crossings_still_trips_uv2() -> None:
    rc, s = simulate("--scenario", "uv2-deep", "--runtime", runtime())
    assert rc == 0 and s["result"] == "pass", {k: v for k, v in s.items() if k != "timeline"}
    assert s["trip"] == "UV2" and [f["code"] for f in s["faults"]] == [60]
    assert 135 <= s["sag_to_open_ms"] <= 160
