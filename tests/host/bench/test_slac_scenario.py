"""The `slac` scenario for `v2gate simulate`, and the CLI registration."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from host import cli
from host.bench import slac_scenario as scenario
from host.slac import cli as slac_cli


@pytest.mark.unit
def test_scenario_falls_back_to_the_in_process_channel(monkeypatch, capsys) -> None:
    monkeypatch.setattr(scenario, "why_no_veth", lambda: "needs root: test")
    out = asyncio.run(scenario.run_slac_scenario(json_out=False))
    assert out["result"] == "match" and out["transport"] == "in-process"
    assert "in-process channel (needs root: test)" in capsys.readouterr().out
    assert set(out) >= {"result", "transport", "match_ms", "nid", "peer_mac", "attenuation_db"}


@pytest.mark.system
def test_scenario_over_veth_when_root(capsys) -> None:
    reason = scenario.why_no_veth()
    if reason is not None:
        print(f"skipping: {reason}")
        pytest.skip(reason)
    out = asyncio.run(scenario.run_slac_scenario(json_out=True))
    assert out["result"] == "match" and out["transport"] == "veth"
    assert capsys.readouterr().out == ""


@pytest.mark.unit
def test_slac_is_a_registered_subcommand() -> None:
    assert "host.slac.cli" in cli.SUBCOMMANDS
    parser = argparse.ArgumentParser()
    slac_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["slac", "pev", "--interface", "eth9", "--no-join"])
    assert args.func is slac_cli.run and args.side == "pev" and args.no_join


@pytest.mark.unit
def test_validate_scenario_through_simulate(monkeypatch, capsys) -> None:
    from host.bench import cli as sim_cli

    monkeypatch.setattr(scenario, "why_no_veth", lambda: "needs root: test")
    parser = argparse.ArgumentParser()
    sim_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["simulate", "--scenario", "slac-validate"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "scenario slac-validate: host only, no firmware" in out
    assert "validated_toggles=" in out and "validated_toggles=None" not in out
    assert "\nverdict: matched in " in out and "; validated by " in out
    assert out.rstrip().endswith("result: pass")


@pytest.mark.unit
def test_toggles_are_described() -> None:
    from host.slac.events import ToggleCp

    text = slac_cli.describe(ToggleCp(bytes.fromhex("020000000001"), 2, 0.3))
    assert text == "validating 02:00:00:00:00:01: 2 CP toggle(s) B->C->B, 300 ms per state"
