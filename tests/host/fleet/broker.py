"""A real mosquitto broker with TLS on a loopback port, for the fleet tests and benchmark."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from host.fleet.mqtt import Broker
from tests.host.ocpp.pki import make_pki


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """`start()`, `kill()` (SIGKILL: nothing saved since the last autosave) and
    `stop()` (SIGTERM: the broker saves its sessions and queues first)."""

    def __init__(self, program: str, folder: Path, port: int | None = None, *,
                 autosave_on_changes: bool = True) -> None:  # fmt: skip
        """`autosave_on_changes`: save the whole database after every change, so a
        SIGKILL loses nothing the broker acknowledged (the tests); False saves it once a
        second, which is what 500 chargers need: a save per change rewrites every
        session's state for each QoS 1 message (benchmarks/fleet.py measures both)."""
        self.program, self.folder = program, folder
        self.port = port or free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.pki = make_pki(folder)
        data = folder / "data"
        data.mkdir(exist_ok=True)
        os.chmod(folder, 0o755)
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"cafile {self.pki['root']}\ncertfile {self.pki['csms']}\nkeyfile {self.pki['csms_key']}\n"
            "allow_anonymous true\n"
            f"persistence true\npersistence_location {data}/\n"
            # after every change (so a SIGKILL loses nothing the broker acknowledged), or
            # each second
            f"autosave_on_changes {'true' if autosave_on_changes else 'false'}\nautosave_interval 1\n"
            "max_queued_messages 100000\nmax_inflight_messages 100\n"
            "set_tcp_nodelay true\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
            # started as root, mosquitto drops to user "mosquitto", which cannot read the
            # test's 0600 key: stay the user that made it
            + ("user root\n" if os.geteuid() == 0 else "")
        )  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / "mosquitto.log"

    def broker(self) -> Broker:
        return Broker("127.0.0.1", self.port, cafile=self.pki["root"])

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.program, "-c", str(self.conf)], stdout=log,
                                         stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def _end(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)


class FogProcess:
    """`v2gate fog` as its own process; a thread reads its output as it comes (a line
    is never lost to a timed-out read), and its JSON count lines are parsed."""

    def __init__(self, broker: Mosquitto | None, fog_id: str = "fog1", group: str = "fog",
                 report: float = 0.5, *, command: list[str] | None = None) -> None:
        """`command`: the fog's arguments after `v2gate fog` (default: for `broker`)."""
        self.fog_id = fog_id
        if command is None:
            assert broker is not None
            command = ["--broker", f"127.0.0.1:{broker.port}", "--cafile", str(broker.pki["root"]),
                       "--fog-id", fog_id, "--group", group, "--report", str(report),
                       "--period", "0.5"]  # fmt: skip
        cmd = [sys.executable, "-m", "host.cli", "fog", *command]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.counts: dict[str, int] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.counts = json.loads(line)
            elif "pending publish calls" not in line:  # aiomqtt's chatter while it waits
                self.lines.append(line.rstrip())

    async def wait_for(self, predicate: object, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self):  # type: ignore[operator]
            if self.proc.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"fog exited: {self.lines[-8:]}")
            if loop.time() > deadline:
                raise AssertionError(f"{self.fog_id}: condition not met in {timeout} s; counts "
                                     f"{self.counts}; last lines: {self.lines[-8:]}")
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._reader.join(5)
