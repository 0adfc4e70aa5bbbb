"""docs/hardware.md's pin tables say what boards/*.py say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import boards

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit
HARDWARE = [n for n in boards.NAMES if boards.load(n)["march"]]


def doc_tables() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {}
    current = None
    for line in (ROOT / "docs" / "hardware.md").read_text().splitlines():
        heading = re.match(r"## (\w+) \(", line)
        if heading:
            current = tables.setdefault(heading.group(1), {})
            continue
        row = re.match(r"\| (\w+) \| (\S+) \|$", line)
        if current is not None and row and row.group(1) not in ("role", "signal"):
            current[row.group(1)] = row.group(2)
    return tables


@pytest.mark.parametrize("name", HARDWARE)
def test_pin_table_matches_board(name: str) -> None:
    board = boards.load(name)
    table = doc_tables()[name]
    want = {role: str(pin) for role, pin in board["pins"].items() if pin is not None}
    assert table == want
    uart = board["uart"]
    row = f"| UART{uart['id']} tx / rx | {uart['tx']} / {uart['rx']} |"
    assert row in (ROOT / "docs" / "hardware.md").read_text()
