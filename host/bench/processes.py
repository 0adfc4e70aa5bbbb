"""Start the firmware and the host as separate processes joined by a pty pair.

The firmware process gets the pty master as its stdin/stdout (its UART); the host
opens the slave by path (/dev/pts/N) with pyserial, exactly as it opens /dev/ttyAMA0
on a gateway. We keep our own handle on the slave so the firmware's UART stays up
while a host process is killed and restarted, as a board's UART would.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tty
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import firmware

FIRMWARE_ROOT = Path(firmware.__file__).resolve().parent.parent


def micropython_binary() -> str | None:
    """The unix-port `micropython`: $V2GATE_MICROPYTHON when set (your own build), else
    the one from the test extra next to this Python, else the one on PATH."""
    chosen = os.environ.get("V2GATE_MICROPYTHON")
    if chosen:
        return chosen
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside)
    return shutil.which("micropython")


@dataclass
class Pty:
    master: int
    slave: int
    path: str

    @classmethod
    def open(cls) -> Pty:
        master, slave = os.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        return cls(master, slave, os.ttyname(slave))

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


async def start_firmware(pty: Pty, sim: dict[str, Any], runtime: str,
                         board: str = "sim") -> asyncio.subprocess.Process:
    env = dict(os.environ, V2GATE_BOARD=board, V2GATE_SIM=json.dumps(sim))
    if runtime == "micropython":
        exe = micropython_binary()
        assert exe is not None
        env["MICROPYPATH"] = ".frozen:" + str(FIRMWARE_ROOT)
        argv = [exe, "-m", "firmware.main"]
    else:
        env["PYTHONPATH"] = str(FIRMWARE_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        argv = [sys.executable, "-m", "firmware.main"]
    return await asyncio.create_subprocess_exec(
        *argv, stdin=pty.master, stdout=pty.master, stderr=asyncio.subprocess.PIPE, env=env,
        cwd=str(FIRMWARE_ROOT),
    )


async def start_host(pty: Pty, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "host.station", "--port", pty.path, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def _json_lines(stream: asyncio.StreamReader | None) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects a process prints one per line; anything else is skipped."""
    assert stream is not None
    async for line in stream:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            yield rec


async def read_records(proc: asyncio.subprocess.Process, sink: list[dict[str, Any]],
                       offset: float = 0.0) -> None:
    """Collect the host's JSON lines into `sink`, shifting times by `offset`."""
    async for rec in _json_lines(proc.stdout):
        rec["t"] = round(rec.get("t", 0.0) + offset, 3)
        sink.append(rec)


async def read_plant(fw: asyncio.subprocess.Process, sink: list[dict[str, Any]],
                     log: deque[str] | None = None) -> None:
    """Collect the sim plant's injected events (firmware clock) from its stderr, and the
    last lines of anything else it says into `log` (why it stopped, if it does)."""
    assert fw.stderr is not None
    async for line in fw.stderr:
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if isinstance(rec, dict):
            if "plant" in rec:
                sink.append(rec)
        elif log is not None and line.strip():
            log.append(line.decode(errors="replace").strip())


async def stop(proc: asyncio.subprocess.Process | None) -> None:
    if proc is None or proc.returncode is not None:
        return
    proc.kill()
    await proc.wait()
