"""The wheel installs the product, not the development tree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.system
def test_wheel_holds_only_product_packages(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=240)
    if out.returncode != 0:
        if os.environ.get("V2GATE_CI"):
            pytest.fail(out.stderr[-2000:])
        print(f"skipping: pip could not build the wheel (offline?): {out.stderr[-300:]}")
        pytest.skip("pip could not build the wheel")
    (wheel,) = tmp_path.glob("v2gate-*.whl")
    with zipfile.ZipFile(wheel) as z:
        tops = {n.split("/")[0] for n in z.namelist() if not n.startswith("v2gate-")}
        names = set(z.namelist())
    assert tops == {"firmware", "host", "boards"}
    assert "host/exi/schemas/iso2.py" in names
    assert "firmware/link/messages.py" in names
