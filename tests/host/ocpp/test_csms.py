"""The test CSMS as its own process (`v2gate csms`): bad arguments, a busy port, and its
answer to station actions it has no handler for (the `ocpp` 2.1.0 package sends none on
ocpp2.1 connections; csms.py answers them itself)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from host import cli

from .test_system import ROOT, start_csms, stop

V2GATE = [sys.executable, "-m", "host.cli", "csms"]


def v2gate_csms(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*V2GATE, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)  # fmt: skip


@pytest.mark.parametrize("args, says", [
    (["--port", "70000"], "argument --port: invalid port value: '70000'"),
    (["--port", "0", "--cert", "c.pem"], "--cert and --key go together"),
    (["--port", "0", "--client-ca", "ca.pem"], "--client-ca needs --cert and --key"),
    (["--port", "0", "--versions", "2.0.1"], "--versions: 2.0.1 is not an OCPP subprotocol"),
    (["--port", "0", "--send", "/nonexistent/script"], "/nonexistent/script: No such file"),
    (["--port", "0", "--boot-status", "Maybe"], "argument --boot-status: invalid choice"),
])  # fmt: skip
def test_bad_arguments_get_one_line_and_exit_2(args: list[str], says: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    try:  # in-process: the dispatcher and error paths are those of the `v2gate` command
        code = cli.main(["csms", *args])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.splitlines()) == 1 and says in err and "Traceback" not in err
    assert err.startswith("v2gate csms: ")


def test_a_busy_port_is_one_line_and_sigterm_stops_it() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = v2gate_csms("--port", str(busy.getsockname()[1]))
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "address already in use" in r.stderr.lower()
    proc = subprocess.Popen([*V2GATE, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().startswith("listening on")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and err.strip() == "v2gate csms: terminated"


@pytest.mark.parametrize("subprotocol", ["ocpp2.0.1", "ocpp2.1"])
def test_unhandled_station_actions_are_answered(tmp_path: Path, subprotocol: str) -> None:
    """The `ocpp` 2.1.0 package leaves these unanswered on ocpp2.1 (the station would wait
    for its MessageTimeout); Part 4 §4.3 wants NotSupported / NotImplemented."""
    proc, port = start_csms(tmp_path / "csms.jsonl")

    async def ask() -> list[list]:
        async with connect(f"ws://127.0.0.1:{port}/ocpp/CS1", subprotocols=[subprotocol]) as ws:  # type: ignore[list-item]
            got = []
            for frame in ([2, "a1", "FirmwareStatusNotification", {"status": "Installed"}],
                          [2, "a2", "MakeCoffee", {}]):  # fmt: skip
                await ws.send(json.dumps(frame))
                async with asyncio.timeout(10):  # a hang guard: no answer is the bug
                    got.append(json.loads(await ws.recv())[:3])
            return got

    try:
        assert asyncio.run(ask()) == [[4, "a1", "NotSupported"], [4, "a2", "NotImplemented"]]
    finally:
        stop(proc)
