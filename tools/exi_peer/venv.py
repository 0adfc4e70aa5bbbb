"""An isolated virtualenv holding the `iso15118` package, and a client for its EXI jar.

The package pins cryptography 44 and pydantic 1.x, which clash with ours, so it never
enters our environment: it gets its own virtualenv, cached across runs, and we talk to it
through `bridge.py` over pipes (one JVM for a whole test session).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tools.cachelock import building

PEER_VERSION = "0.31.2"
# aiofile: the package imports it but forgets to declare it
PEER_REQUIREMENTS = [f"iso15118=={PEER_VERSION}", "aiofile>=3.8,<4"]
BRIDGE = Path(__file__).with_name("bridge.py")
# requests per pipe write: their answers (< 2 kB each) must fit the 64 kB pipe buffer
_CHUNK = 16


def peer_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "v2gate" / "peers" / f"iso15118-{PEER_VERSION}"


def peer_python() -> Path:
    return peer_dir() / "bin" / "python"


def peer_site_packages() -> Path | None:
    found = sorted(peer_dir().glob("lib/python3*/site-packages"))
    return found[0] if found else None


def ensure_peer_venv() -> Path:
    """Create the cached peer virtualenv on first use; return its interpreter."""
    python = peer_python()
    marker = peer_dir() / ".complete"
    if marker.exists():
        return python
    with building(peer_dir()):
        if not marker.exists():  # another process may have built it while we waited
            shutil.rmtree(peer_dir(), ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(peer_dir())], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS],
                           check=True)  # fmt: skip
            marker.write_text(" ".join(PEER_REQUIREMENTS) + "\n")
    return python


class JarPeer:
    """The reference codec behind one long-lived JVM; requests are answered in order."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [str(ensure_peer_venv()), str(BRIDGE)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.version = self._read()["ready"]

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the EXI jar bridge exited")
        return json.loads(line)

    def batch(self, requests: list[dict]) -> list[dict]:
        """Send requests in chunks, reading each chunk's answers before the next: few pipe
        round trips, and neither pipe fills while the other side waits (a deadlock)."""
        assert self.proc.stdin is not None
        answers: list[dict] = []
        for start in range(0, len(requests), _CHUNK):
            chunk = requests[start : start + _CHUNK]
            self.proc.stdin.write("".join(json.dumps(r) + "\n" for r in chunk))
            self.proc.stdin.flush()
            answers.extend(self._read() for _ in chunk)
        return answers

    def encode(self, namespace: str, message_json: str) -> dict:
        return self.batch([{"op": "encode", "ns": namespace, "json": message_json}])[0]

    def decode(self, namespace: str, data: bytes) -> dict:
        return self.batch([{"op": "decode", "ns": namespace, "hex": data.hex()}])[0]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
