"""Every script in benchmarks/ runs in its --quick mode and prints its figures.

The figures are printed, never judged (a shared CI machine makes timings noise): the
test only keeps the scripts working, which nothing else exercises. A benchmark that
needs root or Java runs its own part without them and says what it skipped.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("*.py"))
FIGURE = re.compile(r"\d\.\d")

pytestmark = pytest.mark.bench


# fleet.py shares the fleet tests' xdist group (tests/host/fleet): one of them at a time
RUNS = [pytest.param(p, marks=pytest.mark.xdist_group("fleet")) if p.name == "fleet.py" else p
        for p in BENCHMARKS]


@pytest.mark.parametrize("script", RUNS, ids=lambda p: p.name)
def test_quick_mode_runs_and_prints_figures(script: Path) -> None:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True,
                       text=True, cwd=str(ROOT), timeout=180)
    print(f"{script.name} --quick: {time.monotonic() - t0:.1f} s\n{r.stdout}")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    figures = [line for line in r.stdout.splitlines() if FIGURE.search(line)]
    assert len(figures) >= 2, r.stdout


def test_every_benchmark_is_found() -> None:
    assert {p.name for p in BENCHMARKS} >= {"exi.py", "firmware.py", "gridsync.py", "link.py",
                                            "secc.py", "slac.py"}
