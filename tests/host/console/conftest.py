"""A real terminal for the console: a tmux server of the test's own (its own socket)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.apt import require

ROOT = Path(__file__).resolve().parents[3]


class Tmux:
    def __init__(self, exe: str, tmp: Path) -> None:
        self.exe = exe
        self.socket = f"v2gate-test-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp

    def run(self, *args: str) -> str:
        return subprocess.run([self.exe, "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=20, check=True).stdout

    def start(self, argv: list[str], width: int = 160, height: int = 50) -> None:
        # the command's own output stays on the screen when it ends (remain-on-exit),
        # so a failure to start can be read from the pane
        cmd = " ".join(argv)
        self.run("start-server", ";", "set-option", "-g", "remain-on-exit", "on", ";",
                 "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), "-c", str(ROOT), cmd)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t")

    def type(self, line: str) -> None:
        self.run("send-keys", "-t", "t", line, "Enter")

    def wait_for(self, found: Callable[[str], bool], what: str, timeout: float = 20.0) -> str:
        """Poll the screen until `found` holds; fail with the last screen otherwise."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if found(screen):
                return screen
            time.sleep(0.1)
        pytest.fail(f"{what} did not show within {timeout:g} s; the screen was:\n{screen}")

    def pane_dead(self) -> bool:
        return self.run("display-message", "-p", "-t", "t", "#{pane_dead}").strip() == "1"

    def kill(self) -> None:
        subprocess.run([self.exe, "-L", self.socket, "kill-server"], capture_output=True, check=False)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(require("tmux"), tmp_path)  # installed on demand; skips, printed, off CI
    try:
        yield t
    finally:
        t.kill()


def v2gate(*args: str) -> list[str]:
    return [sys.executable, "-m", "host.cli", *args]
