"""The ISO 15118 session scenarios of `v2gate simulate` (din-dc, iso2-ac, iso2-dc-pnc): the
sim firmware in the loop (5 % PWM on CP B, the contactor on the session's requests), in
process (SLAC channel, loopback TCP/TLS) and, as root, over a veth pair in two network
namespaces (SLAC, SDP, TCP/TLS)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json

import pytest

from host.bench import cli as sim_cli
from host.bench import v2g_scenario as scenario
from host.secc import serve
from host.secc.controller import Decision, SimEvseController


@pytest.fixture(autouse=True)
def short_charge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scenario, "CHARGE_FOR", 0.3)


@pytest.fixture
def no_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scenario, "why_no_veth", lambda: "needs root: test")


def simulate(*args: str) -> int:
    parser = argparse.ArgumentParser()
    sim_cli.add_parser(parser.add_subparsers())
    parsed = parser.parse_args(["simulate", *args])
    return parsed.func(parsed)


def requests(out: dict) -> list[str]:
    return [r["request"] for r in out["timeline"] if r["event"] == "secc"]


def test_din_dc_in_process_as_json(no_root: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate("--scenario", "din-dc", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["result"] == "pass" and out["scenario"] == "din-dc"
    v2g = out["v2g"]
    assert (v2g["transport"], v2g["protocol"], v2g["security"]) == ("in-process", "din", "plain TCP")
    assert "needs root: test" in v2g["transport_note"] and v2g["energy_wh"] > 0
    names = requests(out)
    assert names[0] == "SessionSetupReq" and names[-1] == "SessionStopReq"
    assert {"ContractAuthenticationReq", "CableCheckReq", "CurrentDemandReq"} <= set(names)


def test_iso2_ac_in_process_with_the_firmware(no_root: None) -> None:
    out = asyncio.run(scenario.run_variant("iso2-ac", quiet=True))
    assert out["result"] == "pass", out["verdict"]
    assert out["v2g"]["protocol"] == "iso2" and out["v2g"]["security"] == "plain TCP"
    names = requests(out)
    assert "ChargingStatusReq" in names and "CurrentDemandReq" not in names
    fw = out["firmware"]
    assert fw["ok"] and fw["pwm_duty_percent"] == 5.0
    assert fw["cp_states"] == ["A", "B", "C", "B", "A"]
    assert [c["closed"] for c in fw["contactor_events"]] == [True, False]
    events = [r["event"] for r in out["timeline"]]
    # the lease (the contactor's permission) only after the session asked, SLAC after 5 %
    assert events.index("offer") < events.index("slac")
    assert events.index("power-wanted") < events.index("lease") < events.index("contactor")
    assert "CP A -> B -> C -> B -> A" in out["verdict"]


def test_contactor_refused_by_the_firmware_fails_the_session(
        no_root: None, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    # an EV that never closes S2 (stays in B): PowerDelivery cannot close the contactor
    from host.bench import v2g_firmware

    monkeypatch.setitem(v2g_firmware.SIM, "react_ms", 600_000)
    out = asyncio.run(scenario.run_variant("iso2-ac", quiet=True))
    assert out["result"] == "fail"
    assert "PowerDeliveryReq FAILED_ContactorError" in out["verdict"]
    assert "contactor refused: the EV is in CP B, not C" in out["verdict"]
    assert out["firmware"]["contactor_events"] == []
    assert "lease" not in [r["event"] for r in out["timeline"]]


def test_iso2_dc_pnc_in_process_says_what_it_ran(no_root: None,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert simulate("--scenario", "iso2-dc-pnc") == 0
    text = capsys.readouterr().out
    assert "transport in-process SLAC channel and loopback TCP, no SDP (needs root: test)" in text
    assert "TLS: TLSv1.2 ECDHE-ECDSA-AES128-SHA256" in text
    assert "secc: CurrentDemandReq -> OK  (x" in text  # the loop, folded
    assert "secc: PaymentServiceSelectionReq -> OK" in text
    assert "secc: PaymentDetailsReq -> OK" in text  # the contract chain, checked
    assert "\nverdict: iso2 session to SessionStopRes in " in text
    emaid = text.split("Plug & Charge: contract ", 1)[1].split()[0]
    assert emaid.startswith("DE") and f"Plug & Charge, contract {emaid} authorized" in text
    assert "result: pass" in text.rstrip().splitlines()[-1]
    # the firmware's lines and the session's in one timeline, in the order they happened
    order = ["firmware: CP A -> B", "station: 5 % PWM", "slac evse:", "secc: PaymentDetailsReq",
             "secc: PowerDeliveryReq -> OK", "firmware: contactor closed",
             "firmware: contactor open", "firmware: CP B -> A"]
    assert "secc: SessionStopReq -> OK" in text
    at = [text.index(line) for line in order]
    assert at == sorted(at), list(zip(order, at, strict=True))


def test_iso2_dc_pnc_pays_by_contract(no_root: None) -> None:
    out = asyncio.run(scenario.run_variant("iso2-dc-pnc", quiet=True))
    assert out["result"] == "pass", out["verdict"]
    assert out["v2g"]["authorization"] == "pnc" and out["v2g"]["emaid"]
    names = requests(out)
    assert names.index("PaymentDetailsReq") < names.index("AuthorizationReq")
    pnc = [r for r in out["timeline"] if r["event"] == "pnc"]
    assert [r["emaid"] for r in pnc] == [out["v2g"]["emaid"]]


def test_a_refused_contract_fails_the_pnc_scenario(no_root: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from host.secc.pnc import AllowList

    original = serve.pnc_config
    monkeypatch.setattr(serve, "pnc_config", lambda pki, *a, **kw: dataclasses.replace(
        original(pki), allow=AllowList.from_lines(["DE-XYZ-C12345678-9"])))  # fmt: skip
    out = asyncio.run(scenario.run_variant("iso2-dc-pnc", quiet=True))
    assert out["result"] == "fail"
    assert "PaymentDetailsReq FAILED_CertificateNotAllowedAtThisEVSE" in out["verdict"]
    assert "no contract authorized" in out["verdict"]


def test_a_refused_authorization_fails_the_scenario(no_root: None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    original = serve.sim_controller

    def refusing(context):
        controller = original(context)
        assert isinstance(controller, SimEvseController)
        controller.decision = Decision.REJECTED
        return controller

    monkeypatch.setattr(serve, "sim_controller", refusing)
    out = asyncio.run(scenario.run_variant("iso2-ac", quiet=True))
    assert out["result"] == "fail"
    assert out["verdict"].startswith("no clean SessionStop (FAILED answers: AuthorizationReq FAILED")


@pytest.mark.system
@pytest.mark.parametrize("name", list(scenario.VARIANTS))
def test_scenarios_over_veth_when_root(name: str) -> None:
    reason = scenario.why_no_veth()
    if reason is not None:
        print(f"skipping: {reason}")
        pytest.skip(reason)
    out = asyncio.run(scenario.run_variant(name, quiet=True))
    assert out["result"] == "pass", out["verdict"]
    assert out["v2g"]["transport"] == "veth" and out["firmware"]["ok"]
    sdp = [r for r in out["timeline"] if r["event"] == "sdp"]
    assert len(sdp) == 1 and sdp[0]["address"].startswith("fe80::")  # found by SDP
    tls = [r for r in out["timeline"] if r["event"] == "tls"]
    want = {"iso2-dc-pnc": ["TLSv1.2"], "iso20-dc": ["TLSv1.3"], "iso20-dc-bpt": ["TLSv1.3"],
            "iso20-ac-bpt": ["TLSv1.3"]}  # fmt: skip
    assert [r["version"] for r in tls] == want.get(name, [])
