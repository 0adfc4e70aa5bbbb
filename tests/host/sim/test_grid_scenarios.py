"""`system` tier: IEEE 1547 functions end to end (`v2gate simulate` grid scenarios)."""

from __future__ import annotations

import pytest

from host.sim.processes import micropython_binary
from tests.host.sim.test_simulate import simulate

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
