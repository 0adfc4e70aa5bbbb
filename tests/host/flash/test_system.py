"""`system` tier: the real mpremote (through `v2gate flash`) against the raw-REPL device,
which runs what it gets in the real MicroPython unix port; the firmware then boots from
the copied .mpy files and answers a HostHello over the same pty."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from host.link.driver import LinkDriver
from tests.host.flash.conftest import RawDevice, start_device

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.system, pytest.mark.timeout(120)]


def flash(*args: str, build_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "host.cli", "flash", *args, "--build-dir", str(build_dir),
         "--timeout", "10"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


def manifest(build_dir: Path, board: str) -> dict[str, str]:
    (folder,) = build_dir.glob(f"{board}-*")
    return dict(json.loads((folder / "manifest.json").read_text())["files"])


def differing(root: Path, files: dict[str, str]) -> list[str]:
    out = []
    for path, digest in files.items():
        f = root / path
        if not f.exists() or hashlib.sha256(f.read_bytes()).hexdigest() != digest:
            out.append(path)
    return out


async def hello(port: str) -> str:
    drv = LinkDriver(port)
    try:
        up = await drv.open(timeout=5)
    finally:
        drv.close()
    h = up.hello
    return f"{h.fw_major}.{h.fw_minor}.{h.fw_patch} {up.board}"


def test_flash_sim_boots_from_the_copy_and_answers_hello(device: RawDevice, build_dir: Path) -> None:
    r = flash("--board", "sim", "--port", device.port, build_dir=build_dir)
    assert r.returncode == 0, r.stderr
    files = manifest(build_dir, "sim")
    assert f"0 of {len(files)} files already there, {len(files)} to copy" in r.stdout
    assert "firmware 0.1.0 on board sim said Hello" in r.stdout
    assert differing(device.root, files) == []
    assert (device.root / "main.py").read_text() == "import firmware.main\nfirmware.main.run()\n"
    # only compiled modules went over (board.py names the board), so what answers below
    # was imported from them: the device runs outside the checkout
    assert not [p for p in device.root.rglob("*.py") if p.name not in ("main.py", "board.py")]
    assert not (device.root / "firmware/hal/rp2.mpy").exists()  # only the board's own HAL
    # an independent client, host/link's asyncio driver, on the same pty after the reset
    assert asyncio.run(hello(device.port)) == "0.1.0 sim"


def test_interrupted_copy_resumes_with_what_is_missing(tmp_path: Path, build_dir: Path) -> None:
    root = tmp_path / "fs"
    dev = start_device(root, tmp_path)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "host.cli", "flash", "--board", "sim", "--port", dev.port,
             "--build-dir", str(build_dir)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("[4/6 copy 3/"):
                proc.send_signal(signal.SIGKILL)  # the host dies mid-copy
                break
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
    finally:
        dev.stop()
    files = manifest(build_dir, "sim")
    missing = differing(root, files)
    assert 0 < len(missing) < len(files)
    assert not (root / "main.py").exists()  # a half-copied firmware does not boot
    (root / "firmware/link/cobs.py").write_text("raise ImportError('stale source')\n")

    dev = start_device(root, tmp_path)
    try:
        r = flash("--board", "sim", "--port", dev.port, build_dir=build_dir)
        assert r.returncode == 0, r.stderr
        n = len(files)
        assert f"{n - len(missing)} of {n} files already there, {len(missing)} to copy" in r.stdout
        assert "remove /firmware/link/cobs.py" in r.stdout
        copied = re.findall(r"\| copy (/\S+) \(", r.stdout)
        assert sorted(copied) == sorted("/" + p for p in missing)
        assert "said Hello" in r.stdout
        assert differing(root, files) == []
        assert not (root / "firmware/link/cobs.py").exists()
    finally:
        dev.stop()


def test_wrong_board_is_refused_before_any_write(device: RawDevice, build_dir: Path) -> None:
    r = flash("--board", "rp2040", "--port", device.port, build_dir=build_dir)
    assert r.returncode == 2
    assert re.fullmatch(
        rf"v2gate flash: {device.port} runs micropython [0-9.]+ on linux, mpy v6\.\d x64, "
        r"but --board rp2040 is a rp2 board\n", r.stderr), r.stderr
    assert os.listdir(device.root) == []


def test_dry_run_reads_the_board_and_writes_nothing(device: RawDevice, build_dir: Path) -> None:
    r = flash("--board", "sim", "--port", device.port, "--dry-run", build_dir=build_dir)
    assert r.returncode == 0, r.stderr
    files = manifest(build_dir, "sim")
    assert len(re.findall(r"\| would copy /\S+ \(", r.stdout)) == len(files)
    assert "would soft-reset" in r.stdout
    assert r.stdout.rstrip().endswith("dry run: nothing written")
    assert os.listdir(device.root) == []


@pytest.mark.parametrize("link", ["console", "own-port"])
def test_a_firmware_that_stops_at_boot_is_one_line(tmp_path: Path, build_dir: Path,
                                                   link: str) -> None:
    """The REPL prompt coming back after the reset means main.py ended: the traceback's
    last line is the error, at once rather than after the Hello timeout; seen on the
    link when it is the console (sim), by watching the REPL when the link has its own
    UART (the hardware boards)."""
    dev = start_device(tmp_path / "fs", tmp_path, env={"V2GATE_SIM": "{not json"})
    master, slave = os.openpty()  # the link UART of a board that never gets to speak
    extra = ["--link-port", os.ttyname(slave)] if link == "own-port" else []
    try:
        r = flash("--board", "sim", "--port", dev.port, *extra, build_dir=build_dir)
    finally:
        dev.stop()
        os.close(master)
        os.close(slave)
    assert r.returncode == 2
    assert re.fullmatch(rf"v2gate flash: {dev.port}: the firmware stopped at boot: "
                        r"ValueError: .*\n", r.stderr), r.stderr  # fmt: skip
    assert "said Hello" not in r.stdout
