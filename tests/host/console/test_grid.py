"""`v2gate grid` against the sim firmware: the report, phase alignment, and each
reason it gives for not aligning."""

from __future__ import annotations

import re
import subprocess

from tests.host.console.conftest import v2gate


def grid(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(v2gate("grid", *args), capture_output=True, text=True, timeout=timeout,
                          check=False)


def test_report_of_the_sim_grid() -> None:
    r = grid("--sim")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("frequency 50.0") and "ROCOF" in lines[0]
    assert lines[1].startswith("phase error ")
    assert lines[2].startswith("voltage 229.") or lines[2].startswith("voltage 230.")
    assert lines[3] == "in service (refusals: none)"


def test_phase_align_within_the_threshold() -> None:
    # the sim converter runs 10 mrad from the grid (firmware/hal/sim.py)
    r = grid("--sim", "--phase-align", "--threshold", "0.05")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("aligned: phase error ")
    assert "within the threshold 50 mrad" in r.stdout


def test_phase_align_below_the_converter_s_error_says_so() -> None:
    r = grid("--sim", "--phase-align", "--threshold", "0.004", "--timeout", "1.5")
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("v2gate grid: not aligned within 1.5 s: phase error ")
    # the firmware's own verdict: it took the threshold (its default, 50 mrad, passes)
    assert r.stderr.endswith("stays above the threshold 4 mrad (the firmware refuses to close for "
                             "export: grid-phase)\n")


def test_phase_align_without_a_grid() -> None:
    r = grid("--sim", "--sim-set", 'grid={"events": [["dropout", 0, 100]]}', "--phase-align",
             "--timeout", "1.5")
    assert r.returncode == 1
    assert r.stderr == "v2gate grid: not aligned within 1.5 s: no grid: the firmware measures no grid voltage\n"


def test_phase_align_out_of_band() -> None:
    r = grid("--sim", "--sim-set", 'grid={"f0": 53}', "--phase-align", "--timeout", "1.5")
    assert r.returncode == 1
    assert re.match(r"v2gate grid: not aligned within 1.5 s: grid out of band: 5[23]\.\d{3} Hz", r.stderr)
    assert r.stderr.count("\n") == 1
