"""`v2gate console --sim` with its commands piped in and its log read as plain lines:
each fault the sim board can inject reaches the firmware, which raises its F-code."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from tests.host.console.conftest import ROOT, v2gate


class Piped:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(v2gate("console", "--sim"), cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_for(self, text: str, after: int = 0, timeout: float = 20.0) -> int:
        """Index of the first log line from `after` on that contains `text`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for n in range(after, len(self.lines)):
                if text in self.lines[n]:
                    return n
            if self.proc.poll() is not None and not self.reader.is_alive():
                break
            time.sleep(0.05)
        pytest.fail(f"{text!r} not in the console's log within {timeout:g} s:\n" + "\n".join(self.lines[-30:]))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.type("quit")
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def test_weld_overtemperature_estop_and_grid_dip_reach_the_firmware() -> None:
    c = Piped()
    try:
        n = c.wait_for("rx CpStateChanged old=A new=B")
        c.type("pilot pwm 26.7")
        n = c.wait_for("rx CpStateChanged old=B new=C", n)
        c.type("grant 16")
        n = c.wait_for("rx ContactorChanged closed=1", n)
        c.type("inject weld")
        c.type("revoke")  # the contactor opens, and its aux contact stays closed
        n = c.wait_for("rx Fault code=F-092 contactor-weld", n)
        c.type("inject overtemp")  # the connector heats past the board's 90 C limit
        c.wait_for("rx Fault code=F-050 overtemperature", n)
        c.type("inject estop")
        c.wait_for("rx Fault code=F-040 estop", n)
        c.type("inject grid-dip")
        c.wait_for("sim plant: grid-dip at fw", n)
    finally:
        code = c.stop()
    assert code == 0
