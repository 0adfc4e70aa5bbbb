"""Every bad argument or absent board ends in one line on stderr and a non-zero exit."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import boards
from host import cli

pytestmark = pytest.mark.timeout(60)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(["flash", *args])
    err = capsys.readouterr().err
    return code, err


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    return err.strip()


def test_unknown_board(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        run(capsys, "--board", "esp8266", "--port", "/dev/ttyACM0")
    assert e.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert "invalid choice: 'esp8266'" in line and "rp2040" in line


def test_missing_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        run(capsys, "--board", "rp2040")
    assert e.value.code == 2
    assert "--port" in one_line(capsys.readouterr().err)


def test_port_that_does_not_exist(capsys: pytest.CaptureFixture[str], build_dir: Path) -> None:
    code, err = run(capsys, "--board", "sim", "--port", "/dev/v2gate-no-such-port",
                    "--build-dir", str(build_dir))  # fmt: skip
    assert code == 2
    assert one_line(err).startswith("v2gate flash: cannot open /dev/v2gate-no-such-port")


def test_board_that_does_not_answer(capsys: pytest.CaptureFixture[str], build_dir: Path) -> None:
    master, slave = os.openpty()  # a port with nothing behind it
    try:
        code, err = run(capsys, "--board", "sim", "--port", os.ttyname(slave), "--timeout", "0.5",
                        "--build-dir", str(build_dir))  # fmt: skip
    finally:
        os.close(master)
        os.close(slave)
    assert code == 2
    assert "no MicroPython raw REPL answered within 0.5 s" in one_line(err)


def test_no_mpy_cross(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = run(capsys, "--board", "rp2040", "--port", "/dev/ttyACM0",
                    "--mpy-cross", str(tmp_path / "mpy-cross"))  # fmt: skip
    assert code == 2
    assert one_line(err) == f"v2gate flash: mpy-cross '{tmp_path}/mpy-cross' is not an executable file"


def test_no_mpy_cross_for_the_arch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A board naming an arch the installed mpy-cross cannot emit (an older mpy-cross
    lacks the newer ones): said before compiling anything."""
    real = boards.load
    monkeypatch.setattr(boards, "load", lambda name: {**real(name), "march": "armv9"})
    code, err = run(capsys, "--board", "rp2040", "--port", "/dev/ttyACM0",
                    "--build-dir", str(tmp_path))  # fmt: skip
    assert code == 2
    assert one_line(err).startswith("v2gate flash: no mpy-cross for -march=armv9 (")
    assert not list(tmp_path.glob("rp2040-*"))


def test_image_that_does_not_exist(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = run(capsys, "--board", "esp32s3", "--port", "/dev/ttyUSB0",
                    "--micropython", str(tmp_path / "fw.bin"))  # fmt: skip
    assert code == 2
    assert one_line(err) == f"v2gate flash: {tmp_path}/fw.bin: no such image file"


def test_rp2040_image_without_bootsel_drive(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    img = tmp_path / "rp2.uf2"
    img.write_bytes(b"UF2\n")
    code, err = run(capsys, "--board", "rp2040", "--port", "/dev/ttyACM0", "--micropython",
                    str(img), "--drive", str(tmp_path / "nodrive"))  # fmt: skip
    assert code == 2
    assert one_line(err) == (
        f"v2gate flash: {tmp_path}/nodrive is not a BOOTSEL drive (it has no INFO_UF2.TXT)")


def test_stm32_image_says_what_to_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    img = tmp_path / "PYBV11.dfu"
    img.write_bytes(b"DfuSe")
    code, err = run(capsys, "--board", "stm32", "--port", "/dev/ttyACM0", "--micropython", str(img))
    assert code == 1
    assert f"  dfu-util --alt 0 --download {img}" in err.splitlines()
    img = tmp_path / "PYBV11.bin"
    img.write_bytes(b"\0")
    code, err = run(capsys, "--board", "stm32", "--port", "/dev/ttyACM0", "--micropython", str(img))
    assert f"  st-flash --reset write {img} 0x08000000" in err.splitlines()


def test_without_the_flash_extra(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                 build_dir: Path) -> None:
    """mpremote is imported only by `flash` itself: without it the other commands still
    build their parsers, and `flash` says which extra to install."""
    for name in ("mpremote", "mpremote.transport", "mpremote.transport_serial"):
        monkeypatch.setitem(sys.modules, name, None)  # import of it raises ImportError
    code, err = run(capsys, "--board", "sim", "--port", "/dev/ttyACM0",
                    "--build-dir", str(build_dir))  # fmt: skip
    assert code == 2
    assert one_line(err) == "v2gate flash: mpremote is not installed (pip install 'v2gate[flash]')"
