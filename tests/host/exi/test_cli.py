"""`v2gate decode`, driven through its own parser (other subcommands live on other branches)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

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


def test_bad_input_is_a_clear_error_and_exit_code_2(capsys) -> None:
    assert run("--ns", ISO2, "80980040") == 2
    assert "bit " in capsys.readouterr().err
    assert run("--ns", "urn:nope", "80") == 2
    assert "unknown namespace" in capsys.readouterr().err


FRAME = "01fe8001" + f"{len(SESSION_SETUP) // 2:08x}" + SESSION_SETUP  # V2GTP header + EXI


@pytest.mark.parametrize("text", [SESSION_SETUP, "0x" + SESSION_SETUP, "0X" + SESSION_SETUP.upper(),
                                  " 8098 0040\n11d0 1828 2c30 3438 3c00\n", FRAME,
                                  "0x" + FRAME, FRAME[:16] + " " + FRAME[16:]])
def test_hex_forms_and_whole_v2gtp_frames_decode_alike(capsys, text: str) -> None:
    assert run("--ns", ISO2, text) == 0
    assert json.loads(capsys.readouterr().out) == SESSION_SETUP_JSON


def test_hex_split_over_arguments(capsys) -> None:
    assert run("--ns", ISO2, FRAME[:16], FRAME[16:]) == 0
    assert json.loads(capsys.readouterr().out) == SESSION_SETUP_JSON


@pytest.mark.parametrize(("text", "says"), [
    (SESSION_SETUP[:-1], "odd number of hex digits (27)"),
    ("0x", "no hex digits"),
    ("80zz", "'z' at position 3 is not a hex digit"),
    ("01fe8001" + "0000000f" + SESSION_SETUP, "V2GTP header says 15 payload bytes, the frame has 14"),
    ("01fe9000" + "0000000e" + SESSION_SETUP, "payload type 0x9000 is SDP"),
    ("01fe1234" + "0000000e" + SESSION_SETUP, "payload type 0x1234 is not an EXI message"),
    ("02fd8001" + "0000000e" + SESSION_SETUP, "protocol version 0x02, expected 0x01"),
    ("01fe8001", "V2GTP header cut short: 4 of 8 bytes"),
])
def test_bad_hex_and_bad_frames_are_one_line_exit_2(capsys, text: str, says: str) -> None:
    assert run("--ns", ISO2, text) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err


def test_v2gtp_payload_types_of_iso15118_20_are_exi() -> None:
    payload = bytes.fromhex(SESSION_SETUP)
    for ptype in range(0x8001, 0x8007):
        frame = bytes([1, 0xFE]) + ptype.to_bytes(2, "big") + len(payload).to_bytes(4, "big")
        assert cli.strip_v2gtp(frame + payload) == payload
    assert cli.strip_v2gtp(payload) == payload  # not a frame: the EXI stream itself


def test_encode_refuses_hex_too(capsys) -> None:
    assert run("--ns", ISO2, "--encode", json.dumps(SESSION_SETUP_JSON), FRAME) == 2
    assert "not both" in capsys.readouterr().err


def test_encode_refuses_json_that_is_not_an_object(capsys) -> None:
    assert run("--ns", ISO2, "--encode", "[1]") == 2
    assert "expected a JSON object" in capsys.readouterr().err


def decode_process(*args: str, stdin: str | None) -> subprocess.CompletedProcess[str]:
    """`v2gate decode` as a process, stdin from a pipe already written and closed (or the
    null device), so what it reads does not depend on timing."""
    read, write = os.pipe()
    os.write(write, (stdin or "").encode())
    os.close(write)
    try:
        return subprocess.run([sys.executable, "-m", "host.cli", "decode", "--ns", ISO2, *args],
                              stdin=read if stdin is not None else subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=30)
    finally:
        os.close(read)


@pytest.mark.parametrize("args", [(), ("-",)])
def test_stdin_without_argument_or_with_dash(args: tuple[str, ...]) -> None:
    r = decode_process(*args, stdin="0x" + FRAME + "\n")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == SESSION_SETUP_JSON


def test_encode_reads_json_from_stdin() -> None:
    r = decode_process("--encode", "-", stdin=json.dumps(SESSION_SETUP_JSON))
    assert r.returncode == 0 and r.stdout.strip() == SESSION_SETUP


@pytest.mark.parametrize(("args", "stdin", "says"), [
    ((FRAME[:8], "-"), SESSION_SETUP, "`-` (read stdin) cannot be mixed"),
    ((), "", "no hex digits"),
    ((), "abc", "odd number of hex digits"),
])
def test_conflicting_or_empty_input_is_one_line_exit_2(args: tuple[str, ...], stdin: str,
                                                       says: str) -> None:
    r = decode_process(*args, stdin=stdin)
    assert r.returncode == 2 and r.stdout == ""
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1 and says in r.stderr, r.stderr


def test_an_argument_with_empty_stdin_is_no_conflict() -> None:
    r = decode_process(SESSION_SETUP, stdin=None)  # </dev/null, as under cron or CI
    assert r.returncode == 0 and json.loads(r.stdout) == SESSION_SETUP_JSON


@pytest.mark.parametrize("args", [(SESSION_SETUP,), ("--encode", json.dumps(SESSION_SETUP_JSON))])
def test_an_argument_wins_over_a_pipe_on_stdin(args: tuple[str, ...]) -> None:
    # stdin was read (and taken as a conflict) whenever it was a pipe with data
    r = decode_process(*args, stdin="not hex, and not for us\n")
    assert r.returncode == 0, r.stderr
    assert SESSION_SETUP in r.stdout or json.loads(r.stdout) == SESSION_SETUP_JSON


def test_a_shell_loop_over_a_file_of_frames_decodes_every_line(tmp_path) -> None:
    # each `v2gate decode "$f"` inherits the loop's stdin: reading it failed the first
    # line and swallowed the rest of the file
    frames = tmp_path / "frames.txt"
    frames.write_text(f"{SESSION_SETUP}\n0x{FRAME}\n{SESSION_SETUP}\n")
    loop = ('while read -r f; do "$0" -m host.cli decode --ns "$1" "$f" || echo FAILED; '
            'done < "$2"')
    r = subprocess.run(["bash", "-c", loop, sys.executable, ISO2, str(frames)],
                       capture_output=True, text=True, timeout=60)
    assert "FAILED" not in r.stdout, r.stderr
    decoded = [json.loads(line) for line in r.stdout.splitlines()]
    assert decoded == [SESSION_SETUP_JSON] * 3, r.stderr


def test_cli_registry_lists_the_subcommand() -> None:
    from host import cli as main_cli

    assert "host.exi.cli" in main_cli.SUBCOMMANDS
