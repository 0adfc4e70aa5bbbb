"""System: tcpdump records a real TLS 1.2 session between our -2 EVCC and our SeccServer
on loopback (the SECC writing its lab keylog), and `v2gate decode --pcap --keylog` gives
back every message of it. Needs root for tcpdump (CI runs as root); installs tcpdump with
apt-get when it is missing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from host import cli
from host.bench.dcplant import DcPlant, StageLimits
from host.ev.evcc.driver import run_connection
from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso2 import Iso2Config, Iso2Evcc, SessionStopped
from host.exi.schemas import iso2 as i
from host.secc.controller import SimEvseController
from host.secc.iso2 import iso2_factory
from host.v2g import sap, tls
from host.v2g.server import SeccServer, ServerConfig
from tests.apt import require
from tests.host.v2g.test_server import _free_port, _loopback
from tests.pki import make_pki

pytestmark = pytest.mark.timeout(120)


def _tcpdump() -> str:
    if os.geteuid() != 0:
        print("not root: tcpdump cannot capture")
        pytest.skip("tcpdump needs root")
    return require("tcpdump")


def _until_capturing(cap: Path, host: str, port: int) -> None:
    """tcpdump says "listening" a little before its filter sees packets: knock on the
    closed port until the knocks reach the file (-U writes each packet at once). The
    knocks carry no payload, so the decoder shows nothing of them."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection((host, port), timeout=1).close()
        if cap.exists() and cap.stat().st_size > 24:  # more than the pcap header
            return
        time.sleep(0.05)
    pytest.fail("tcpdump captured nothing of the knocks within 20 s")


def _until_quiet(cap: Path) -> None:
    """Until the file stops growing: tcpdump has written the session's last packets
    (stopped early, it would drop what it had not written yet)."""
    size, still = -1, 0
    while still < 5:
        time.sleep(0.1)
        now = cap.stat().st_size
        still = still + 1 if now == size else 0
        size = now


def test_tcpdump_capture_of_a_tls_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exe = _tcpdump()
    host = _loopback()
    port = _free_port(host)
    pki = make_pki(tmp_path / "pki")
    keylog = tmp_path / "sslkeys.log"
    cap = tmp_path / "v2g_trace.pcap"
    dump = subprocess.Popen([exe, "-i", "lo", "-n", "--immediate-mode", "-U", "-w", str(cap), f"tcp port {port}"],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert dump.stderr is not None
        line = dump.stderr.readline()
        assert "listening on" in line, line
        _until_capturing(cap, host, port)
        plant = DcPlant(StageLimits(voltage_ramp=20_000.0, current_ramp=10_000.0, bleed_rate=20_000.0),
                        isolation_time=0.05)
        controller = SimEvseController(plant)
        ev = Iso2Evcc(SimEv(plant.battery, charge_for=0.3),
                      Iso2Config(mode=i.EnergyTransferModeType.AC_three_phase_core, loop_interval=0.02,
                                 msg_timeout=10.0, loop_msg_timeout=10.0))
        server_tls = tls.lab_keylog(tls.server_context(pki.v2g.chain_path, pki.v2g.leaf.key_path,
                                                       tls13=False), keylog)

        async def main() -> None:
            server = SeccServer(ServerConfig(host=host, port=port, offers=(sap.ISO2,), tls=server_tls),
                                {sap.ISO2.namespace: iso2_factory(lambda _c: controller)})
            await server.start()
            try:
                await asyncio.wait_for(run_connection(ev, host, port,
                                                      tls=tls.client_context(pki.v2g.root.cert_path)), 30)
            finally:
                await server.close()

        asyncio.run(main())
        assert isinstance(ev.result, SessionStopped), ev.result
        _until_quiet(cap)
    finally:
        dump.send_signal(signal.SIGINT)
        dump.wait(10)
    code = cli.main(["decode", "--pcap", str(cap), "--keylog", str(keylog)])
    out, err = capsys.readouterr()
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0]["tls"] == "TLS 1.2 ECDHE-ECDSA-AES128-SHA256"
    sent = [next(iter(r["message"]["V2G_Message"]["Body"])) for r in records
            if r.get("from") == "EV" and "V2G_Message" in r.get("message", {})]
    assert sent == ev.sent  # every request the EV sent, in order, decrypted and decoded
    assert records[-1]["from"] == "SECC" and "SessionStopRes" in records[-1]["message"]["V2G_Message"]["Body"]
