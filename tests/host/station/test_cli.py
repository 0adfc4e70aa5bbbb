"""`v2gate station` as a user meets it: same options as `python -m host.station`,
and a port that is missing or silent ends in one line saying what to check."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import serial

from host.cli import build_parser
from host.station import cli


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def test_the_subcommand_has_the_modules_options() -> None:
    sub = build_parser()._subparsers._group_actions[0].choices["station"]  # type: ignore[union-attr]
    module = argparse.ArgumentParser()
    cli.add_arguments(module)
    assert _options(sub) == _options(module)
    assert {"--port", "--sessions", "--export", "--report-only", "--set", "--clear-faults"} <= _options(sub)


def _station(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "host.cli", "station", *args],
                          capture_output=True, text=True, timeout=60)


def test_a_missing_port_is_one_line() -> None:
    r = _station("--port", "/dev/v2gate-no-such-port")
    assert r.returncode == 2 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    error = json.loads(lines[0])["error"]
    assert "no such file or directory" in error and "port name" in error


def test_a_silent_port_says_what_to_check() -> None:
    master, slave = os.openpty()  # nothing answers on the other end
    try:
        r = _station("--port", os.ttyname(slave), "--open-timeout", "0.3", "--baud", "9600")
    finally:
        os.close(master)
        os.close(slave)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    error = json.loads(lines[0])["error"]
    assert "no answer" in error and "baud rate" in error and "9600" in error
    assert "firmware is running" in error and "wiring" in error


def test_a_refused_hello_says_the_firmwares_reason(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    # the firmware answered, refusing our Hello: "check the baud rate" would mislead
    async def refused(station, driver, emit, open_timeout) -> None:  # type: ignore[no-untyped-def]
        raise cli.NoAnswer(driver.port, "no-entropy")

    class Driver:
        def __init__(self, port: str, baud: int) -> None:
            self.port = port

        def close(self) -> None:
            pass

    monkeypatch.setattr(cli, "serve", refused)
    monkeypatch.setattr(cli, "LinkDriver", Driver)
    assert cli.main(["--port", "/dev/ttyX"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    error = json.loads(lines[0])["error"]
    assert "refuses the link: no-entropy" in error and "baud" not in error


def test_a_port_another_program_holds_is_refused() -> None:
    # two hosts on one port would take the firmware's session from each other for ever
    master, slave = os.openpty()
    holder = serial.Serial(os.ttyname(slave), exclusive=True)  # another station, say
    try:
        r = _station("--port", os.ttyname(slave), "--open-timeout", "0.3")
    finally:
        holder.close()
        os.close(master)
        os.close(slave)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    error = json.loads(lines[0])["error"]
    assert "cannot open" in error and "busy" in error


def test_dc_voltage_sets_a_dc_session_and_a_bad_one_is_one_line() -> None:
    ap = argparse.ArgumentParser()
    cli.add_arguments(ap)
    s = cli.settings_from(ap.parse_args(["--port", "x", "--dc-voltage", "365"]), ap)
    assert s.dc_target_dv == 3650
    assert cli.settings_from(ap.parse_args(["--port", "x"]), ap).dc_target_dv == 0  # AC
    r = _station("--port", "/dev/null", "--dc-voltage", "2000")
    assert r.returncode == 2 and "--dc-voltage 2000: expected 10..1500 V" in r.stderr
    assert "Traceback" not in r.stderr
