"""Third-party peers for interop tests and benchmarks, each in its own cached virtualenv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tools.cachelock import building

PEERS_DIR = Path(os.environ.get("V2GATE_PEERS_DIR", Path.home() / ".cache" / "v2gate" / "peers"))
PYSLAC_VERSION = "0.8.3"
# pyslac 0.8.3 reads its settings with environs 9, which breaks on marshmallow 4
PYSLAC_REQUIREMENTS = [f"pyslac=={PYSLAC_VERSION}", "marshmallow<4"]
PYSLAC_EVSE = Path(__file__).with_name("pyslac_evse.py")


def ensure_pyslac() -> Path:
    """The python of a virtualenv with pyslac installed (made once, then reused)."""
    venv = PEERS_DIR / f"pyslac-{PYSLAC_VERSION}"
    python = venv / "bin" / "python"
    marker = venv / ".v2gate-complete"
    if marker.exists():
        return python
    with building(venv):
        if not marker.exists():  # another process may have built it while we waited
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", *PYSLAC_REQUIREMENTS], check=True)  # fmt: skip
            marker.write_text(" ".join(PYSLAC_REQUIREMENTS) + "\n")
    return python


async def pev_against_pyslac(pair, python: Path, timeout: float = 30.0, on_links=None):
    """Our EV (and both simulated modems) against pyslac's EVSE on a veth pair.

    pyslac runs in the EVSE namespace; the EVSE modem's simulator sits on the EV end, the EV
    modem's on the EVSE end, as for our own pair. Returns (PairResult, pyslac's JSON lines).
    ``on_links(links)`` may replace links before use.
    """
    import asyncio
    import json

    from host.bench.slac_pair import PairResult, modem_sims, run_pev, veth_links

    links = veth_links(pair)
    if on_links is not None:
        on_links(links)  # the benchmark wraps the EV's link to time it
    result = PairResult(False, "veth")
    lines: list[dict] = []
    with modem_sims(links):
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", pair.ns_evse, str(python), str(PYSLAC_EVSE), pair.if_evse,
            str(timeout), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            ready = await asyncio.wait_for(proc.stdout.readline(), timeout)
            lines.append(json.loads(ready or b'{"failed": "pyslac exited"}'))
            if lines[0].get("ready"):
                await asyncio.wait_for(run_pev(links, result, lambda side, event: None), timeout)
                done = await asyncio.wait_for(proc.stdout.readline(), timeout)
                lines.append(json.loads(done or b'{"failed": "pyslac exited"}'))
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            links.close()
    return result, lines
