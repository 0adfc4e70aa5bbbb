"""`v2gate` as a user meets it: interrupts and environment errors end in one line and the
exit code a shell expects, never a traceback (real processes, real signals, real pipes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import serial

from host.bench.veth import why_no_veth
from host.cli import EXIT_SIGPIPE, EXIT_USAGE, version

V2GATE = [sys.executable, "-m", "host.cli"]
# runs `v2gate` with the test-only subcommand of tests/host/cli_probe.py added
WITH_PROBE = [sys.executable, "-c", "import sys; from host import cli; "
              "cli.SUBCOMMANDS.append('tests.host.cli_probe'); sys.exit(cli.main())"]


def one_error_line(stderr: str, *words: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    for word in words:
        assert word in lines[0], stderr
    return lines[0]


def start(*args: str, env: dict[str, str] | None = None,
          sigint_ignored: bool = False) -> subprocess.Popen[str]:
    """`v2gate ARGS`; with `sigint_ignored` as a shell starts a background job (`cmd &`)."""
    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen([*V2GATE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, preexec_fn=ignore_sigint if sigint_ignored else None)


def read_until(p: subprocess.Popen[str], text: str) -> list[str]:
    """Lines of stdout up to and including the first that contains `text`."""
    assert p.stdout is not None
    lines = []
    for line in p.stdout:
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never printed: {''.join(lines)}")


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout  # noqa: S607
    return [int(x) for x in out.split()]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.unit
def test_version_comes_from_the_package_metadata() -> None:
    r = subprocess.run([*V2GATE, "--version"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == f"v2gate {version()}"
    assert version()[0].isdigit()  # installed in the test environment, so not "unknown"


@pytest.mark.unit
def test_usage_error_is_one_line() -> None:
    r = subprocess.run([*V2GATE, "simulate", "--no-such-option"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == EXIT_USAGE
    one_error_line(r.stderr, "--no-such-option", "--help")


@pytest.mark.unit
def test_a_reader_that_goes_away_is_a_quiet_exit_141() -> None:
    """`v2gate simulate --list | head -1`, with the reader gone before anything is written
    (so the write fails for certain, as it does by chance with a real head)."""
    read, write = os.pipe()
    os.close(read)
    try:
        r = subprocess.run([*V2GATE, "simulate", "--list"], stdout=write, stderr=subprocess.PIPE,
                           text=True, timeout=30)
    finally:
        os.close(write)
    assert r.returncode == EXIT_SIGPIPE
    assert r.stderr == ""


@pytest.mark.unit
def test_head_through_a_shell_pipe() -> None:
    r = subprocess.run(f"set -o pipefail; {' '.join(V2GATE)} simulate --list | head -1",
                       shell=True, executable="/bin/bash", capture_output=True, text=True,  # noqa: S604
                       timeout=30)  # fmt: skip
    assert r.stdout.startswith("basic-ac")
    assert r.stderr == ""
    assert r.returncode in (0, EXIT_SIGPIPE)  # 0 when head read it all before leaving


@pytest.mark.system
@pytest.mark.parametrize(("sig", "word"), [(signal.SIGINT, "interrupted"),
                                           (signal.SIGTERM, "terminated")])
def test_signal_mid_scenario_ends_in_one_line_and_stops_the_firmware(
        sig: signal.Signals, word: str) -> None:
    """The timeline streams: a line from the middle of the session is readable while the
    session runs, so the signal lands before the verdict (on a printer that waits for the
    end, the verdict would already be out by then)."""
    p = start("simulate", "--runtime", "cpython")
    try:
        read_until(p, "CP B -> C")
        kids = children(p.pid)
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 128 + sig
    assert one_error_line(err) == f"v2gate simulate: {word}"
    assert "verdict:" not in out and "result:" not in out
    assert kids and not [k for k in kids if alive(k)]  # the firmware and host processes


def _netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout  # noqa: S607
    return [line.split()[0] for line in out.splitlines() if line.strip()]


@pytest.mark.system
@pytest.mark.parametrize(("sig", "background"), [
    (signal.SIGTERM, False), (signal.SIGINT, False),
    (signal.SIGTERM, True),  # SIGINT ignored, so asyncio has no handler of its own
])
def test_signal_during_slac_removes_its_namespaces(sig: signal.Signals, background: bool) -> None:
    reason = why_no_veth()
    if reason is not None:
        print(f"skipping: {reason}")
        pytest.skip(reason)
    p = start("simulate", "--scenario", "slac-validate", sigint_ignored=background)
    prefix = f"v2g-sim-{p.pid % 100000}x"  # host/bench/veth.py's names
    try:
        made: list[str] = []
        deadline = time.monotonic() + 30  # a bound on the wait, not a figure under test
        while len(made) < 2 and p.poll() is None and time.monotonic() < deadline:
            made = [ns for ns in _netns() if ns.startswith(prefix)]
        time.sleep(0.2)  # into the match, past the namespaces' creation
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
        left = [ns for ns in _netns() if ns.startswith(prefix)]
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout  # noqa: S607
        ends = [w for w in links.split() if w.rstrip(":@").startswith(
            (f"se{p.pid % 100000}x", f"sp{p.pid % 100000}x"))]  # the veth ends' names
    finally:
        p.kill()
        for ns in _netns():  # leave nothing behind, whatever happened
            if ns.startswith(prefix):
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # noqa: S607
    assert len(made) == 2, made
    assert left == [] and ends == []  # deleting a namespace deletes the veth end in it
    assert p.returncode == 128 + sig
    one_error_line(err, "terminated" if sig == signal.SIGTERM else "interrupted")


@pytest.mark.system
def test_firmware_that_cannot_start_is_one_line_exit_2() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        broken = Path(tmp) / "micropython"
        broken.write_text(textwrap.dedent("""\
            #!/bin/sh
            echo "MemoryError: heap too small" >&2
            exit 3
            """))
        broken.chmod(0o755)
        env = dict(os.environ, V2GATE_MICROPYTHON=str(broken))
        r = subprocess.run([*V2GATE, "simulate", "--runtime", "micropython"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == EXIT_USAGE
        one_error_line(r.stderr, "exited with code 3", "MemoryError: heap too small")
        env["V2GATE_MICROPYTHON"] = str(Path(tmp) / "missing")
        r = subprocess.run([*V2GATE, "simulate", "--runtime", "micropython"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == EXIT_USAGE
        one_error_line(r.stderr, "cannot start", "No such file")


@pytest.mark.unit
def test_missing_serial_port_is_one_line_exit_2() -> None:
    r = subprocess.run([*WITH_PROBE, "probe-port", "--port", "/dev/v2gate-no-such-port"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == EXIT_USAGE
    one_error_line(r.stderr, "v2gate probe-port:", "/dev/v2gate-no-such-port")


@pytest.mark.unit
def test_busy_serial_port_is_one_line_exit_2() -> None:
    master, slave = os.openpty()
    try:
        with serial.Serial(os.ttyname(slave), exclusive=True):
            r = subprocess.run([*WITH_PROBE, "probe-port", "--exclusive", "--port",
                                os.ttyname(slave)], capture_output=True, text=True, timeout=30)
    finally:
        os.close(master)
        os.close(slave)
    assert r.returncode == EXIT_USAGE
    one_error_line(r.stderr, "v2gate probe-port:", "lock")


@pytest.mark.unit
def test_missing_network_interface_is_one_line_exit_2() -> None:
    r = subprocess.run([*V2GATE, "slac", "evse", "--interface", "v2gno0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == EXIT_USAGE
    one_error_line(r.stderr, "v2gno0")


@pytest.mark.system
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_slac_waits_for_its_modem(sig: signal.Signals) -> None:
    """`v2gate slac` on the loopback interface: no modem answers, so it waits; a signal
    then ends it in one line."""
    reason = why_no_veth()  # raw sockets need root as the namespaces do
    if reason is not None:
        print(f"skipping: {reason}")
        pytest.skip(reason)
    p = start("slac", "evse", "--interface", "lo")
    try:
        read_until(p, "raw socket on lo")
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 128 + sig
    one_error_line(err, "v2gate slac:", "terminated" if sig == signal.SIGTERM else "interrupted")
