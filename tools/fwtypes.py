"""Type-check the firmware against each MicroPython port's stubs.

    python -m tools.fwtypes            # every port
    python -m tools.fwtypes stm32      # one port

The stubs are Josverl's `micropython-<port>-stubs`, pinned in pyproject.toml under
[tool.v2gate.firmware-stubs]. They are not a pip extra of the project: each port's
package declares its own `machine` (and `time`, `micropython`, ...), so they clash,
and mypy would ignore them in site-packages anyway (they are top-level .pyi files
without py.typed, which PEP 561 skips). Instead each port's stubs are installed once
with `pip install --target` into a cache directory of their own. That directory is
laid out like a typeshed: `stdlib/` holds MicroPython's builtins (including `const`
and the viper types `ptr16`, `ptr32`) and standard modules, the top level the port's
modules. So mypy runs with it as --custom-typeshed-dir and on MYPYPATH, and the
firmware is checked against MicroPython, not CPython.

Each port checks its own HAL and board; rp2 also checks the portable code (app,
link, kernels, compat, sim, main), so every file is checked once. The mypy settings
shared by all ports are in tools/fwtypes.ini.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tools" / "fwtypes.ini"

# the files only one port can import; everything else is portable
PORT_FILES = {
    "rp2": ("firmware/hal/rp2.py", "boards/rp2040.py"),
    "esp32": ("firmware/hal/esp32.py", "boards/esp32s3.py"),
    "stm32": ("firmware/hal/stm32.py", "boards/stm32.py"),
}
PORTS = tuple(PORT_FILES)
PORTABLE_WITH = "rp2"


class StubsUnavailable(RuntimeError):
    """The port's stubs are not cached and pip could not install them (offline?)."""


def stub_requirements() -> dict[str, str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return dict(tomllib.load(f)["tool"]["v2gate"]["firmware-stubs"])


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "v2gate" / "firmware-stubs"


def install_stubs(port: str) -> Path:
    """The directory holding `port`'s stubs; installs them on first use."""
    req = stub_requirements()[port]
    target = cache_root() / re.sub(r"[^A-Za-z0-9.]+", "_", req)
    if (target / "stdlib" / "VERSIONS").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # install beside the target and rename, so an interrupted install is never used
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--no-input", "--target", str(tmp), req]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or not (tmp / "stdlib" / "VERSIONS").exists():
        shutil.rmtree(tmp, ignore_errors=True)
        why = (r.stderr or r.stdout).strip()[-600:]
        raise StubsUnavailable(f"cannot install {req!r}: {why}")
    try:
        tmp.rename(target)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def files_for(port: str) -> list[str]:
    if port != PORTABLE_WITH:
        return list(PORT_FILES[port])
    others = {f for p, files in PORT_FILES.items() if p != port for f in files}
    found = sorted(str(p.relative_to(ROOT)) for d in ("firmware", "boards")
                   for p in (ROOT / d).rglob("*.py"))
    return [f for f in found if f not in others]


def check(port: str, stubs: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(CONFIG),
           "--custom-typeshed-dir", str(stubs), "--cache-dir", str(stubs / ".mypy_cache"),
           *files_for(port)]
    env = dict(os.environ, MYPYPATH=str(stubs))
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)


def main(argv: list[str]) -> int:
    ports = argv or list(PORTS)
    failed = False
    for port in ports:
        if port not in PORT_FILES:
            print(f"unknown port {port!r} (known: {', '.join(PORTS)})", file=sys.stderr)
            return 2
        try:
            stubs = install_stubs(port)
        except StubsUnavailable as e:
            print(f"{port}: {e}", file=sys.stderr)
            return 2
        r = check(port, stubs)
        print(f"{port}: {(r.stdout + r.stderr).strip()}")
        failed = failed or r.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
