"""Writing the MicroPython image itself (`v2gate flash --micropython IMAGE`), per port.

ESP32-S3: esptool over the board's serial port (the ROM loader; esptool detects the
chip, uploads its flasher stub and raises the baud rate). S3 images are whole flash
images that start at offset 0 (the original ESP32's start at 0x1000).
RP2040: the ROM's BOOTSEL mode is a USB mass-storage drive (`RPI-RP2`, with an
INFO_UF2.TXT); copying a .uf2 onto it writes and reboots the chip.
STM32: DFU or an ST-LINK need tools and a boot jumper that v2gate cannot drive, so it
says exactly what to run.
"""

from __future__ import annotations

import glob
import os
import shutil
import time
from collections.abc import Callable

ESP32S3_OFFSET = 0x0
ESPTOOL_BAUD = 460800
UF2_MOUNTS = ("/media/*/*", "/run/media/*/*", "/media/*", "/mnt/*")


class ImageError(OSError):
    pass


def esptool_args(port: str, image: str, baud: int) -> list[str]:
    return ["--chip", "esp32s3", "--port", port, "--baud", str(baud),
            "write-flash", "--erase-all", hex(ESP32S3_OFFSET), image]  # fmt: skip


def write_esp32s3(port: str, image: str, baud: int, dry_run: bool, say: Callable[[str], None],
                  extra: list[str] | None = None) -> None:
    args = (extra or []) + esptool_args(port, image, baud)
    say("micropython: esptool " + " ".join(args))
    if dry_run:
        return
    try:
        import esptool
    except ImportError:
        raise ImageError("esptool is not installed (pip install 'v2gate[flash]')") from None

    try:
        esptool.main(args)
    except esptool.FatalError as e:
        raise ImageError(f"esptool: {e}") from None
    except SystemExit as e:  # esptool's argument errors end this way
        if e.code:
            raise ImageError(f"esptool exited with {e.code}") from None


def find_uf2_drive() -> str | None:
    for pattern in UF2_MOUNTS:
        for folder in sorted(glob.glob(pattern)):
            info = os.path.join(folder, "INFO_UF2.TXT")
            try:
                with open(info) as f:
                    if "RP2" in f.read():
                        return folder
            except OSError:
                continue
    return None


def write_rp2040(image: str, drive: str | None, dry_run: bool, say: Callable[[str], None]) -> None:
    if not image.lower().endswith(".uf2"):
        raise ImageError(f"{image}: an RP2040 image is a .uf2 file")
    if drive is not None and not os.path.isfile(os.path.join(drive, "INFO_UF2.TXT")):
        raise ImageError(f"{drive} is not a BOOTSEL drive (it has no INFO_UF2.TXT)")
    drive = drive or find_uf2_drive()
    if drive is None:
        raise ImageError(
            "no RP2040 in BOOTSEL mode found (hold BOOTSEL while plugging in, so a drive "
            "RPI-RP2 with INFO_UF2.TXT mounts; or give --drive PATH)",
        )
    say(f"micropython: copy {image} -> {drive}/ (BOOTSEL drive; the chip reboots when done)")
    if dry_run:
        return
    dest = os.path.join(drive, os.path.basename(image))
    shutil.copyfile(image, dest)
    fd = os.open(drive, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stm32_advice(image: str) -> list[str]:
    if image.lower().endswith(".dfu"):
        how = [
            "put the board in DFU mode (BOOT0 to 3.3 V, then reset), and run:",
            f"  dfu-util --alt 0 --download {image}",
        ]
    elif image.lower().endswith(".hex"):
        how = ["with an ST-LINK attached, run:", f"  st-flash --reset --format ihex write {image}"]
    else:
        how = ["with an ST-LINK attached, run:", f"  st-flash --reset write {image} 0x08000000"]
    return ["stm32: v2gate cannot write a MicroPython image to this board itself;"] + how + [
        "then run this command again without --micropython."
    ]


def wait_for_port(port: str, timeout: float) -> None:
    """After an image write the board re-enumerates: wait for its port to come back."""
    end = time.monotonic() + timeout
    while not os.path.exists(port):
        if time.monotonic() > end:
            raise ImageError(f"{port} did not come back within {timeout:g} s")
        time.sleep(0.2)
