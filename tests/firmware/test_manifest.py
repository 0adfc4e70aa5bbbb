"""manifest.py freezes exactly what each board imports (no MicroPython toolchain needed).

The manifest runs here as MicroPython's manifest tool runs it (its globals `module`,
`include`, `options`; the working directory is the manifest's), and what it names is
compared with the modules a boot and a short session of that board load
(tests/firmware/heapsession.py on CPython, the port HAL over the fake machine).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import boards

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit


class Options:
    def __init__(self, **kw: object) -> None:
        self._kw = kw
        self._defaults: dict[str, object] = {}

    def defaults(self, **kw: object) -> None:
        self._defaults = kw

    def __getattr__(self, name: str) -> object:
        return self._kw.get(name, self._defaults.get(name))


def frozen(board: str) -> list[str]:
    named: list[str] = []
    g = {"module": lambda path, base_path=".", opt=None: named.append(path),
         "include": lambda *a, **kw: None, "options": Options(board=board)}
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile((ROOT / "manifest.py").read_text(), "manifest.py", "exec"), g)
    finally:
        os.chdir(cwd)
    return named


def imported(board: str) -> set[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "tests/firmware/heapsession.py", board, "30"], cwd=ROOT,
                       capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=120)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("MODULES "))
    files = set()
    for mod in line.split()[1:]:
        path = mod.replace(".", "/")
        files.add(path + "/__init__.py" if (ROOT / path).is_dir() else path + ".py")
    return files


@pytest.mark.parametrize("board", boards.NAMES)
def test_manifest_freezes_what_the_board_imports(board: str) -> None:
    names = frozen(board)
    assert len(names) == len(set(names)), "a module named twice"
    for path in names:
        assert (ROOT / path).is_file(), path
    assert set(names) == imported(board)


def test_manifest_leaves_out_what_the_board_does_not_need() -> None:
    rp2 = set(frozen("rp2040"))
    assert "firmware/hal/rp2.py" in rp2
    assert not {"firmware/hal/esp32.py", "firmware/hal/sim.py", "firmware/sim/plant.py",
                "boards/sim.py"} & rp2
    # the DC charger hardware loads only on a board with a `dc` section
    assert not {"firmware/app/dc.py", "firmware/sim/dcplant.py", "firmware/sim/dcside.py"} & rp2
    assert "firmware/app/dc.py" not in frozen("sim") and "firmware/app/dc.py" in frozen("sim-dc")
    assert "firmware/app/edgesync.py" not in frozen("esp32s3")  # no zero-cross pin there


def test_manifest_without_a_board_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("V2GATE_BOARD", raising=False)
    with pytest.raises(ValueError, match="name the board"):
        frozen("")
