"""`system` tier: the real esptool, driven by `v2gate flash --micropython`, writes an
image to a pty that speaks the ESP32-S3 ROM loader's protocol (esprom.py)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.host.flash.esprom import DEFL_DATA, ERASE_FLASH, GET_SECURITY_INFO, RomLoader

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.system, pytest.mark.timeout(120)]
CHANGE_BAUDRATE, SPI_FLASH_MD5 = 0x0F, 0x13


def test_esptool_writes_the_image_byte_for_byte(tmp_path: Path, build_dir: Path) -> None:
    rng = random.Random(14)
    # compressible, as firmware images are, so esptool sends deflated blocks; a random
    # tail so a misplaced block cannot match by chance
    image = bytes(rng.choice(b"\x00\x01\xff") for _ in range(150_000)) + rng.randbytes(20_000)
    img = tmp_path / "ESP32_GENERIC_S3.bin"
    img.write_bytes(image)
    with RomLoader() as rom:
        r = subprocess.run(
            [sys.executable, "-m", "host.cli", "flash", "--board", "esp32s3", "--port", rom.path,
             "--micropython", str(img), "--esptool-arg=--before=no-reset",
             "--esptool-arg=--after=no-reset", "--timeout", "1", "--build-dir", str(build_dir)],
            capture_output=True, text=True, cwd=ROOT, timeout=100,
        )  # fmt: skip
        flash = bytes(rom.flash)
        commands = list(rom.commands)
    assert f"micropython: esptool --before=no-reset --after=no-reset --chip esp32s3 --port " \
           f"{rom.path} --baud 460800 write-flash --erase-all 0x0 {img}" in r.stdout
    assert "Hash of data verified." in r.stdout, r.stdout[-2000:]
    assert flash[: len(image)] == image
    assert flash[len(image) :] == b"\xff" * (len(flash) - len(image))  # erased first
    for op in (GET_SECURITY_INFO, CHANGE_BAUDRATE, ERASE_FLASH, DEFL_DATA, SPI_FLASH_MD5):
        assert op in commands, hex(op)
    # the image went on; the ROM loader is no MicroPython REPL, so the deploy that
    # follows stops with one line
    assert r.returncode == 2
    assert r.stderr == (f"v2gate flash: {rom.path}: no MicroPython raw REPL answered within 1 s "
                        "(is a board there, and is its REPL on this port?)\n")  # fmt: skip
