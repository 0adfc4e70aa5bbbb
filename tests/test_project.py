"""Project hygiene: the README's commands, generated docs, lint and types."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import fwtypes

ROOT = Path(__file__).resolve().parent.parent


def quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [ln.strip() for ln in section.splitlines() if ln.startswith("    ")]


def test_readme_has_exactly_two_commands() -> None:
    lines = quick_start()
    assert len(lines) == 2
    assert lines[0].endswith("v2gate simulate")
    assert " -m pytest" in lines[1]


def test_ci_runs_the_readme_test_line() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    pattern = re.search(r'grep -m1 -E "(.*?)" README.md', ci)
    assert pattern is not None
    matches = [ln for ln in (ROOT / "README.md").read_text().splitlines()
               if re.search(pattern.group(1), ln)]
    assert matches and matches[0].strip() == quick_start()[1]


def test_link_doc_is_current() -> None:
    r = subprocess.run([sys.executable, "-m", "tools.linkdoc", "--check"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    found = str(exe) if exe.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not installed (pip install 'v2gate[test]')")
    return found


def test_ruff_clean() -> None:
    r = subprocess.run([_tool("ruff"), "check", "firmware", "host", "boards", "tools", "tests",
                        "benchmarks"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_clean_on_host() -> None:
    r = subprocess.run([_tool("mypy"), "host"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("port", fwtypes.PORTS)
def test_mypy_clean_on_firmware(port: str) -> None:
    """The firmware against `port`'s MicroPython stubs (tools/fwtypes.py)."""
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy not installed (pip install 'v2gate[test]')")
    try:
        stubs = fwtypes.install_stubs(port)
    except fwtypes.StubsUnavailable as e:
        if os.environ.get("V2GATE_CI") or os.environ.get("CI"):  # CI has the network
            pytest.fail(str(e))
        pytest.skip(f"MicroPython stubs unavailable: {e}")
    r = fwtypes.check(port, stubs)
    assert r.returncode == 0, r.stdout + r.stderr
