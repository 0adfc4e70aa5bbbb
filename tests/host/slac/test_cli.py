"""`v2gate slac`: the EVSE side against a modem that never confirms CM_SET_KEY, and the
step-by-step output of a match, on the in-process channel."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from host.bench.channel import Channel
from host.bench.modem_sim import ModemSim
from host.slac import cli
from host.slac import constants as c
from host.slac.driver import serve_modem_sim
from host.slac.errors import ModemNotAnswering

pytestmark = pytest.mark.unit


def _args(side: str, **extra) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["slac", side, "--interface", "unused", "--timeout", "10"])
    vars(args).update(extra)
    return args


async def _evse_against(sim: ModemSim, args: argparse.Namespace) -> int:
    channel = Channel()
    task = asyncio.ensure_future(serve_modem_sim(sim, channel.open(1, c.ETH_P_ALL)))
    try:
        return await cli._match(args, channel.open(0))
    finally:
        task.cancel()


def test_modem_not_confirming_set_key_is_a_driver_error(monkeypatch) -> None:
    monkeypatch.setattr(c, "MODEM_TIMEOUT", 0.05)  # the retries, not the wait, are the point
    with pytest.raises(ModemNotAnswering, match=r"did not confirm CM_SET_KEY on unused \(3 tries"):
        asyncio.run(_evse_against(ModemSim(answer_set_key=False), _args("evse")))


def test_evse_waits_for_the_ev_then_gives_up(capsys) -> None:
    code = asyncio.run(_evse_against(ModemSim(), _args("evse", init_timeout=0.3)))
    out, err = capsys.readouterr()
    assert code == cli.EXIT_FAILED
    assert "modem confirmed CM_SET_KEY" in out
    assert "FAILED: no CM_SLAC_PARM.REQ within TT_EVSE_SLAC_init" in err


def test_a_modem_that_is_not_qualcomm_still_matches(monkeypatch, capsys) -> None:
    """No answer to VS_SW_VER (nor to any Qualcomm MME): one warning line, then SLAC as usual,
    the link taken as up once the keys are set. The EV skips the probe (--no-vendor-probe)."""
    monkeypatch.setattr(c, "MODEM_TIMEOUT", 0.05)
    channel = Channel()
    ends = {"evse0": 0, "pev0": 1}

    class FakeRawLink:
        @staticmethod
        def open(ifname: str):
            return channel.open(ends[ifname])

    monkeypatch.setattr(cli, "RawLink", FakeRawLink)

    async def main():
        sims = [asyncio.ensure_future(serve_modem_sim(ModemSim(qualcomm=False),
                                                      channel.open(end, c.ETH_P_ALL)))
                for end in (0, 1)]  # fmt: skip
        evse = _args("evse", interface="evse0", init_timeout=5.0)
        pev = _args("pev", interface="pev0", no_vendor_probe=True)
        try:
            return await asyncio.gather(cli._run(evse), cli._run(pev))
        finally:
            for task in sims:
                task.cancel()

    codes = asyncio.run(main())
    out, err = capsys.readouterr()
    assert codes == [cli.EXIT_MATCHED, cli.EXIT_MATCHED], err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "VS_SW_VER" in warnings[0] and "carrying on" in warnings[0]
    assert out.count("MATCH: NID") == 2 and "modem firmware" not in out


def test_set_key_success_can_be_narrowed(capsys) -> None:
    """The simulator answers 0x01 like a QCA modem: taken by default, refused when only the
    HomePlug GP reading (0x00) is allowed."""
    code = asyncio.run(_evse_against(ModemSim(), _args("evse", init_timeout=0.2)))
    assert code == cli.EXIT_FAILED and "modem confirmed CM_SET_KEY" in capsys.readouterr().out
    narrowed = _args("evse", init_timeout=0.2)
    narrowed.set_key_success = cli._codes("0")
    code = asyncio.run(_evse_against(ModemSim(), narrowed))
    assert code == cli.EXIT_FAILED
    assert "FAILED: local modem refused CM_SET_KEY" in capsys.readouterr().err


def test_evse_id_is_checked_when_parsed(capsys) -> None:
    assert _args("evse").evse_id == bytes(17)
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["slac", "evse", "-i", "x", "--evse-id", "DE*V2G*E0001"])
    assert args.evse_id == b"DE*V2G*E0001" + bytes(5)
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["slac", "evse", "-i", "x", "--evse-id", "DE*V2G*E0000000001"])
    assert stop.value.code == 2
    assert "18 octets; the SLAC field holds 17" in capsys.readouterr().err
