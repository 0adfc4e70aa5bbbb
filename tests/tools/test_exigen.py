"""The committed codecs under host/exi/schemas/ are exactly what the generator writes."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tools.exigen.__main__ import OUT, generate, installed_schemas

pytestmark = pytest.mark.unit


def test_committed_codecs_match_a_fresh_generation(tmp_path: Path) -> None:
    schemas = installed_schemas()
    if schemas is None:
        pytest.skip("iso15118 schemas are not installed here (nor in the cached peer venv): "
                    "cannot regenerate host/exi/schemas/")
    written = generate(schemas, tmp_path)
    assert written
    for fresh in written:
        committed = OUT / fresh.name
        assert committed.exists(), f"{committed} is not committed"
        new, old = fresh.read_text(), committed.read_text()
        if new != old:
            diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                str(committed), "regenerated", n=1))
            pytest.fail(f"{committed.name} differs from a fresh generation:\n{diff[:4000]}")
    stale = {p.name for p in OUT.glob("*.py")} - {p.name for p in written} - {"__init__.py"}
    assert not stale, f"committed modules no schema generates: {sorted(stale)}"
