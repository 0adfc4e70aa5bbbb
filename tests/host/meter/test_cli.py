"""`python -m host.meter sim` and `poll` as two processes over Modbus TCP on loopback: the
signed path end to end across a process boundary, as `v2gate simulate` will run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[3]


def test_poll_verifies_the_simulated_meters_signed_records() -> None:
    sim = subprocess.Popen(
        [sys.executable, "-m", "host.meter", "sim", "--tcp", "127.0.0.1:0", "--map",
         "abb-b23", "--sign", "ECDSA-brainpool256r1-SHA256", "--power", "-7400",
         "--import-wh", "5000"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        info = json.loads(sim.stdout.readline())
        out = subprocess.run(
            [sys.executable, "-m", "host.meter", "poll", "--tcp", f"127.0.0.1:{info['port']}",
             "--map", "abb-b23", "--public-key", info["public_key"], "--count", "2",
             "--interval", "0.1", "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
    finally:
        sim.terminate()
        sim.wait(10)
    events = [json.loads(line) for line in out.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert out.returncode == 0, out.stderr
    assert "SignedValueVerified" in kinds
    smv = next(e for e in events if e["event"] == "SignedValueVerified")["signed_meter_value"]
    assert smv["signingMethod"] == "ECDSA-brainpool256r1-SHA256"
    taken = next(e for e in events if e["event"] == "ReadingTaken")
    assert taken["values"]["import_wh"] == pytest.approx(5000, abs=10)
    assert "export allowed: metered" in out.stderr


def test_poll_without_a_meter_says_export_is_not_allowed() -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]         # nothing listens here once closed
    out = subprocess.run(
        [sys.executable, "-m", "host.meter", "poll", "--tcp", f"127.0.0.1:{port}",
         "--count", "1", "--interval", "0.1", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    kinds = [json.loads(line)["event"] for line in out.stdout.splitlines()]
    assert "ReadFailed" in kinds and "MeterLost" in kinds
    assert "export not allowed: meter not answering" in out.stderr
