"""The flash tool's wait for the firmware's Hello opens the link port exclusively, as
the station does: a port another program holds is one clear line at once, not a
Hello timeout with two programs reading each other's frames."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import serial

from host.bench.processes import Pty
from host.flash.device import DeviceError, wait_hello


def test_wait_hello_on_a_port_another_program_holds_says_busy() -> None:
    pty = Pty.open()
    try:
        with serial.Serial(pty.path, exclusive=True):  # a console or station on the link
            with pytest.raises(DeviceError) as e:
                wait_hello(pty.path, 1.0)
        assert str(e.value) == (f"{pty.path}: cannot open the link port: busy, another program "
                                "holds it (a console or station?)")
    finally:
        pty.close()


def _flocked(path: str) -> bool:
    """Whether this process holds an flock on the device at `path` (/proc/locks)."""
    ino, me = os.stat(path).st_ino, os.getpid()
    for line in Path("/proc/locks").read_text().splitlines():
        f = line.split()
        if len(f) >= 6 and f[1] == "FLOCK" and f[4] == str(me) and f[5].endswith(f":{ino}"):
            return True
    return False


def test_wait_hello_holds_the_port_exclusively() -> None:
    pty = Pty.open()
    try:
        # nothing answers: while it waits, the port is locked against a second opener
        failed: list[BaseException] = []

        def waiting() -> None:
            try:
                wait_hello(pty.path, 1.5)
            except DeviceError as e:
                failed.append(e)

        t = threading.Thread(target=waiting)
        t.start()
        try:
            # look for its flock in /proc/locks rather than by opening the port ourselves:
            # a probe that takes the lock, even briefly, can be the one that makes
            # wait_hello find the port busy (it did, on a loaded machine)
            deadline = time.monotonic() + 1.0
            locked = False
            while time.monotonic() < deadline and not locked:
                locked = _flocked(pty.path)
                time.sleep(0.01)
            assert locked
        finally:
            t.join()
        assert failed and "no firmware Hello" in str(failed[0])
    finally:
        pty.close()
