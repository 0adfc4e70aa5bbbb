"""SLAC benchmark (root): our EV against our EVSE and against pyslac's EVSE, same veth set-up.

Times each run from the EV's first CM_SLAC_PARM.REQ to its CM_SLAC_MATCH.CNF, both modems
simulated (one ModemSim on each end of the pair). Prints the runs, the medians and the
ratio; it passes or fails nothing.

    python benchmarks/slac.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host.slac.pair import run_pair, veth_links  # noqa: E402
from host.slac.veth import veth_pair, why_no_veth  # noqa: E402
from tools.peers import PYSLAC_VERSION, ensure_pyslac, pev_against_pyslac  # noqa: E402


async def ours(pair) -> float | None:
    links = veth_links(pair)
    try:
        result = await run_pair(links)
    finally:
        links.close()
    return result.match_s if result.matched else None


async def theirs(pair, python: Path) -> float | None:
    result, lines = await pev_against_pyslac(pair, python)
    return result.match_s if result.match_s is not None and lines[-1].get("matched") else None


async def main(runs: int) -> dict:
    python = ensure_pyslac()
    times: dict[str, list[float | None]] = {"v2gate": [], f"pyslac {PYSLAC_VERSION}": []}
    with veth_pair("bench") as pair:
        for _ in range(runs):  # interleaved, so drift on a shared machine hits both alike
            times["v2gate"].append(await ours(pair))
            times[f"pyslac {PYSLAC_VERSION}"].append(await theirs(pair, python))
    report: dict = {"runs": runs, "metric": "EV first CM_SLAC_PARM.REQ -> CM_SLAC_MATCH.CNF"}
    for name, values in times.items():
        ok = [v for v in values if v is not None]
        report[name] = {
            "runs_ms": [None if v is None else round(v * 1000, 1) for v in values],
            "median_ms": round(statistics.median(ok) * 1000, 1) if ok else None,
            "failed": len(values) - len(ok),
        }
    a, b = report["v2gate"]["median_ms"], report[f"pyslac {PYSLAC_VERSION}"]["median_ms"]
    report["pyslac_over_v2gate"] = round(b / a, 2) if a and b else None
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if (reason := why_no_veth()) is not None:
        sys.exit(f"slac benchmark: {reason}")
    report = asyncio.run(main(args.runs))
    if args.json:
        print(json.dumps(report))
    else:
        print(report["metric"])
        for name in ("v2gate", f"pyslac {PYSLAC_VERSION}"):
            r = report[name]
            print(f"  {name:<14} median {r['median_ms']} ms  runs {r['runs_ms']}  failed {r['failed']}")
        print(f"  pyslac / v2gate = {report['pyslac_over_v2gate']}")
