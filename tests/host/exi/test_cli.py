"""`v2gate decode`, driven through its own parser (other subcommands live on other branches)."""

from __future__ import annotations

import argparse
import json

import pytest

from host.exi import cli

pytestmark = pytest.mark.unit

ISO2 = "urn:iso:15118:2:2013:MsgDef"
SESSION_SETUP = "8098004011d018282c3034383c00"  # FACTS.md, from the reference codec
SESSION_SETUP_JSON = {"V2G_Message": {"Header": {"SessionID": "00"},
                                      "Body": {"SessionSetupReq": {"EVCCID": "0A0B0C0D0E0F"}}}}


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="v2gate")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["decode", *argv])
    return args.func(args)


def test_decode_prints_json(capsys) -> None:
    assert run("--ns", ISO2, SESSION_SETUP) == 0
    assert json.loads(capsys.readouterr().out) == SESSION_SETUP_JSON


def test_encode_prints_hex(capsys) -> None:
    assert run("--ns", ISO2, "--encode", json.dumps(SESSION_SETUP_JSON)) == 0
    assert capsys.readouterr().out.strip() == SESSION_SETUP


def test_bad_input_is_a_clear_error_and_exit_code_1(capsys) -> None:
    assert run("--ns", ISO2, "80980040") == 1
    assert "bit " in capsys.readouterr().err
    assert run("--ns", "urn:nope", "80") == 1
    assert "unknown namespace" in capsys.readouterr().err


def test_cli_registry_lists_the_subcommand() -> None:
    from host import cli as main_cli

    assert "host.exi.cli" in main_cli.SUBCOMMANDS
