"""The ISO 15118-20 scenarios of `v2gate simulate` (iso20-dc, iso20-dc-bpt, iso20-ac-bpt):
the sim firmware in the loop, TLS 1.3 with the -20 chain, and the timeline of power, SoC and
export enable per loop iteration: BPT discharges from the first iteration of a negative
setpoint and not at all from the first iteration without export enable."""

from __future__ import annotations

import argparse
import asyncio
import json

import pytest

from host.bench import cli as sim_cli
from host.bench import v2g_iso20
from host.bench import v2g_scenario as scenario


@pytest.fixture
def no_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scenario, "why_no_veth", lambda: "needs root: test")


def simulate(*args: str) -> int:
    parser = argparse.ArgumentParser()
    sim_cli.add_parser(parser.add_subparsers())
    parsed = parser.parse_args(["simulate", *args])
    return parsed.func(parsed)


def loops(out: dict) -> list[dict]:
    return [r for r in out["timeline"] if r["event"] == "power"]


def check_bpt(out: dict) -> None:
    assert out["result"] == "pass", out["verdict"]
    assert out["v2g"]["security"].startswith("TLSv1.3 ")
    assert out["firmware"]["ok"]
    assert [c["closed"] for c in out["firmware"]["contactor_events"]] == [True, False]
    records = loops(out)
    steps = {start: (setpoint, export) for start, setpoint, export in v2g_iso20.STEPS}
    by_loop = {r["loop"]: r for r in records}
    assert len(records) >= max(steps) + 1, records
    # the station's script as the SECC saw it, one iteration after each change
    assert by_loop[1]["power_w"] > 0  # charging on +10 kW
    assert by_loop[4]["setpoint_w"] < 0 and by_loop[4]["power_w"] < 0  # discharge at once
    assert by_loop[10]["export_enabled"] is False and by_loop[10]["power_w"] == 0  # dropped
    assert all(r["power_w"] == 0 for r in records if not r["export_enabled"])
    assert by_loop[14]["export_enabled"] and by_loop[14]["power_w"] < 0  # back
    # the SoC falls while discharging, and stays above the owner's floor
    assert records[-1]["soc_percent"] < by_loop[4]["soc_percent"]
    assert min(r["soc_percent"] for r in records) > out["power"]["soc_floor_percent"]
    assert out["power"]["energy_out_wh"] > 0


def test_iso20_dc_bpt_in_process_as_json(no_root: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate("--scenario", "iso20-dc-bpt", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["v2g"]["protocol"] == "iso20-dc" and out["v2g"]["transport"] == "in-process"
    check_bpt(out)
    names = [r["request"] for r in out["timeline"] if r["event"] == "secc"]
    assert {"DC_CableCheckReq", "DC_PreChargeReq", "DC_WeldingDetectionReq"} <= set(names)
    assert names[-1] == "SessionStopReq"


def test_iso20_ac_bpt_in_process(no_root: None) -> None:
    # over veth as root: test_v2g_scenario.test_scenarios_over_veth_when_root (its verdict
    # includes the same power checks)
    out = asyncio.run(scenario.run_variant("iso20-ac-bpt", quiet=True))
    assert out["v2g"]["protocol"] == "iso20-ac"
    check_bpt(out)
    names = {r["request"] for r in out["timeline"] if r["event"] == "secc"}
    assert "AC_ChargeLoopReq" in names and "DC_ChargeLoopReq" not in names


def test_iso20_dc_charges_only(no_root: None) -> None:
    out = asyncio.run(scenario.run_variant("iso20-dc", quiet=True))
    assert out["result"] == "pass", out["verdict"]
    records = loops(out)
    assert records and all(r["power_w"] > 0 for r in records)
    assert out["power"]["energy_out_wh"] == 0 and out["v2g"]["energy_wh"] > 0


def test_the_verdict_fails_power_while_export_is_disabled() -> None:
    records = [{"event": "power", "loop": n, "power_w": p, "setpoint_w": -1e4 if n > 1 else 1e4,
                "export_enabled": e}
               for n, p, e in ((1, 1e4, True), (2, -1e4, True), (3, -1e4, False))]  # fmt: skip
    ok, text = v2g_iso20.verdict(records, True, 1.0)
    assert not ok and text == "power while export was disabled"
    records[2]["power_w"] = 0.0
    assert v2g_iso20.verdict(records, True, 1.0)[0]
    assert v2g_iso20.verdict(records, True, 0.0) == (False, "no energy taken from the EV")
