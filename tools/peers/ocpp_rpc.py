"""The independent OCPP peer: a Node.js CSMS (``ocpp_csms.js``) on the npm package
``ocpp-rpc`` in strict mode (schemas for ocpp2.0.1 and ocpp2.1 ship with it).

``ensure_ocpp_rpc()`` installs the package once into the peers cache with npm; the script
stays in the repository and finds the package through NODE_PATH. No node_modules in the
repository.

Why ocpp-rpc and not ocpp-ws-io (which also claims 2.1): ocpp-ws-io 2.3.2 depends on
``voltlog-io``, which the npm registry does not have (404), so it cannot be installed;
ocpp-rpc 2.2.1 validates 2.1 as well (``lib/schemas/ocpp2_1.json``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tools.cachelock import building

from . import PEERS_DIR

OCPP_RPC_VERSION = "2.2.1"
CSMS_SCRIPT = Path(__file__).with_name("ocpp_csms.js")


class PeerUnavailable(Exception):
    """node or npm is missing, or the install failed: the reason says which."""


def ensure_ocpp_rpc() -> Path:
    """The node_modules directory holding ocpp-rpc (installed once, then reused)."""
    home = PEERS_DIR / f"ocpp-rpc-{OCPP_RPC_VERSION}"
    modules = home / "node_modules"
    marker = home / ".v2gate-complete"
    if marker.exists():
        return modules
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise PeerUnavailable("node and npm are needed for the ocpp-rpc CSMS")
    with building(home):
        if marker.exists():  # another process installed it while we waited
            return modules
        home.mkdir(parents=True, exist_ok=True)
        (home / "package.json").write_text('{"name": "v2gate-ocpp-peer", "private": true}\n')
        got = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--save-exact",
                              f"ocpp-rpc@{OCPP_RPC_VERSION}"], cwd=home, capture_output=True,
                             text=True, timeout=300)  # fmt: skip
        if got.returncode != 0:
            raise PeerUnavailable(f"npm install ocpp-rpc failed: {got.stderr.strip()[-400:]}")
        marker.write_text(f"ocpp-rpc@{OCPP_RPC_VERSION}\n")
    return modules


def csms_command(protocol: str, port: int = 0, heartbeat: int = 2, *, log: Path | None = None,
                 mode: str = "scenario", extra: tuple[str, ...] = ()) -> tuple[list[str], dict]:  # fmt: skip
    """argv and environment to run the Node CSMS for one subprotocol. ``log``: fsync every
    received frame there before answering; ``mode``: scenario (smart charging), actions
    (the station actions), outage (answer only). ocpp_csms.js says what each does;
    ``extra``: more of its arguments (--root-cert PEM)."""
    env = dict(os.environ, NODE_PATH=str(ensure_ocpp_rpc()))
    argv = ["node", str(CSMS_SCRIPT), "--port", str(port), "--protocol", protocol,
            "--heartbeat", str(heartbeat)]  # fmt: skip
    if log is not None:
        argv += ["--log", str(log)]
    argv += ["--mode", mode, *extra]
    return argv, env
