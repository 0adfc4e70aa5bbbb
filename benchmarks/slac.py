"""SLAC benchmark (root): our EV against our EVSE and against pyslac's EVSE, same veth set-up.

Times each run from the EV's first CM_SLAC_PARM.REQ to its CM_SLAC_MATCH.CNF, both modems
simulated (one ModemSim on each end of the pair). Most of that time is the EV's own pacing
(collection window, 13 sounding messages 20 ms apart), the same for both EVSEs, so it also
reports the EVSE's turnaround as the EV sees it: PARM.REQ -> CNF, last sound -> ATTEN_CHAR.IND,
MATCH.REQ -> CNF. The rest (match time minus turnaround) is the EV's pacing, a floor no EVSE
can go under: it also prints the best ratio any EVSE could reach against pyslac on this metric
(pyslac's median over that floor). Prints the runs, the medians and the ratios; it passes or
fails nothing.

Without root (no veth pair) it times our pair over the in-process channel and says why
pyslac is left out.

    python benchmarks/slac.py [--runs N] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host.bench.slac_pair import channel_links, run_pair, veth_links  # noqa: E402
from host.bench.veth import veth_pair, why_no_veth  # noqa: E402
from host.slac.errors import RemoteProtocolError  # noqa: E402
from host.slac.messages import (  # noqa: E402
    CmAttenCharInd,
    CmMnbcSoundInd,
    CmSlacMatchCnf,
    CmSlacMatchReq,
    CmSlacParmCnf,
    CmSlacParmReq,
    parse_frame,
)
from tools.peers import PYSLAC_VERSION, ensure_pyslac, pev_against_pyslac  # noqa: E402


class TimedLink:
    """The EV's link, noting when each SLAC message went out or came in."""

    def __init__(self, link) -> None:
        self.link, self.mac = link, link.mac
        self.seen: list[tuple[float, str, type]] = []

    def _note(self, way: str, data: bytes) -> None:
        try:
            self.seen.append((time.monotonic(), way, type(parse_frame(data).message)))
        except RemoteProtocolError:
            pass

    def send(self, frame: bytes) -> None:
        self._note("out", frame)
        self.link.send(frame)

    async def recv(self):
        data, outgoing = await self.link.recv()
        self._note("in", data)
        return data, outgoing

    def close(self) -> None:
        self.link.close()

    def turnaround(self) -> float | None:
        """Sum of the EVSE's three answer times, as the EV saw them."""

        def first(way, kind, after=0.0):
            return next((t for t, w, k in self.seen if w == way and k is kind and t >= after), None)

        sounds = [t for t, w, k in self.seen if w == "out" and k is CmMnbcSoundInd]
        pairs = [(first("out", CmSlacParmReq), CmSlacParmCnf),
                 (sounds[-1] if sounds else None, CmAttenCharInd),
                 (first("out", CmSlacMatchReq), CmSlacMatchCnf)]  # fmt: skip
        total = 0.0
        for sent, answer in pairs:
            got = None if sent is None else first("in", answer, sent)
            if got is None:
                return None
            total += got - sent
        return total


async def ours(make_links) -> tuple[float | None, float | None]:
    links = make_links()
    links.pev = timed = TimedLink(links.pev)
    try:
        result = await run_pair(links)
    finally:
        links.close()
    return (result.match_s, timed.turnaround()) if result.matched else (None, None)


async def theirs(pair, python: Path) -> tuple[float | None, float | None]:
    timed: list[TimedLink] = []

    def wrap(links) -> None:
        links.pev = TimedLink(links.pev)
        timed.append(links.pev)

    result, lines = await pev_against_pyslac(pair, python, on_links=wrap)
    if result.match_s is None or not lines[-1].get("matched"):
        return None, None
    return result.match_s, timed[0].turnaround()


def pyslac_or_reason() -> tuple[Path | None, str | None]:
    """pyslac's interpreter (its virtualenv is built on first use, as for the interop
    tests), or why it cannot be had."""
    try:
        return ensure_pyslac(), None
    except (OSError, subprocess.CalledProcessError) as e:
        return None, f"pyslac {PYSLAC_VERSION} could not be installed ({e})"


async def main(runs: int) -> dict:
    """Ours over veth and pyslac's over the same veth (root); without root, ours over the
    in-process channel alone (no pyslac: it needs its own process on a real interface)."""
    skipped = why_no_veth()
    python = None
    if skipped is None:
        python, skipped = pyslac_or_reason()
    names = ["v2gate"] + ([f"pyslac {PYSLAC_VERSION}"] if python is not None else [])
    times: dict[str, list[tuple[float | None, float | None]]] = {name: [] for name in names}
    with contextlib.ExitStack() as stack:
        if why_no_veth() is None:
            pair = stack.enter_context(veth_pair("bench"))
            transport = "veth"

            def make_links():
                return veth_links(pair)
        else:
            transport, make_links = "in-process channel", channel_links
        for _ in range(runs):  # interleaved, so drift on a shared machine hits both alike
            times[names[0]].append(await ours(make_links))
            if python is not None:
                times[names[1]].append(await theirs(pair, python))
    report: dict = {"runs": runs, "transport": transport, "skipped": skipped,
                    "metric": "EV first CM_SLAC_PARM.REQ -> CM_SLAC_MATCH.CNF"}
    for name, values in times.items():
        ok = [v for v in values if v[0] is not None]
        report[name] = {
            "runs_ms": [None if v[0] is None else round(v[0] * 1000, 1) for v in values],
            "median_ms": round(statistics.median(v[0] for v in ok) * 1000, 1) if ok else None,
            "turnaround_median_ms": (
                round(statistics.median(v[1] for v in ok) * 1000, 2) if ok else None
            ),
            "ev_pacing_median_ms": (
                round(statistics.median(v[0] - v[1] for v in ok) * 1000, 1) if ok else None
            ),
            "failed": len(values) - len(ok),
        }
    if python is None:
        return report
    for key, label in (("median_ms", "pyslac_over_v2gate"),
                       ("turnaround_median_ms", "turnaround_pyslac_over_v2gate")):  # fmt: skip
        a, b = report[names[0]][key], report[names[1]][key]
        report[label] = round(b / a, 2) if a and b else None
    floor = report[names[0]]["ev_pacing_median_ms"]
    theirs_ms = report[names[1]]["median_ms"]
    report["best_possible_ratio"] = round(theirs_ms / floor, 2) if floor and theirs_ms else None
    return report


def show(report: dict) -> None:
    print(f"{report['metric']}, over {report['transport']}, {report['runs']} run(s)")
    if report["skipped"]:
        print(f"  pyslac skipped: {report['skipped']}")
    for name in ("v2gate", f"pyslac {PYSLAC_VERSION}"):
        r = report.get(name)
        if r is None:
            continue
        print(f"  {name:<14} median {r['median_ms']} ms  runs {r['runs_ms']}  failed {r['failed']}")
        print(f"  {'':<14} EVSE turnaround median {r['turnaround_median_ms']} ms, "
              f"EV pacing median {r['ev_pacing_median_ms']} ms")
    if "pyslac_over_v2gate" in report:
        print(f"  pyslac / v2gate: match {report['pyslac_over_v2gate']}, "
              f"EVSE turnaround {report['turnaround_pyslac_over_v2gate']}")
        print(f"  best ratio any EVSE could reach on this metric (EVSE answering in 0 ms): "
              f"{report['best_possible_ratio']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run (CI)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = asyncio.run(main(1 if args.quick else args.runs))
    if args.json:
        print(json.dumps(report))
    else:
        show(report)
