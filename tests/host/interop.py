"""Helpers of the interop tests that run the `iso15118` package (a third-party EV or SECC,
Java EXI) in one namespace of a veth pair against ours in the other."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from host.bench.veth import VethPair, in_netns
from host.v2g.netif import link_local


def peer_python() -> Path:
    """The iso15118 package's cached virtualenv python, or a skip where there is no Java."""
    if shutil.which("java") is None:
        print("skipping: the iso15118 package's EXI codec needs Java")
        pytest.skip("no java")
    from tools.exi_peer.venv import ensure_peer_venv

    return ensure_peer_venv()


def wait_link_local(ns: str, ifname: str) -> None:
    deadline = time.monotonic() + 10.0
    while in_netns(ns, lambda: link_local(ifname)) is None:
        assert time.monotonic() < deadline, f"{ifname}: no link-local address"
        time.sleep(0.05)


def ready_pair(veth: VethPair, peer_ns: str) -> None:
    """Loopback up where their peer runs (py4j talks to its JVM over 127.0.0.1), and both
    ends with a link-local address before anyone sends SDP."""
    subprocess.run(["ip", "-n", peer_ns, "link", "set", "lo", "up"], check=True)
    wait_link_local(veth.ns_evse, veth.if_evse)
    wait_link_local(veth.ns_pev, veth.if_pev)


def their_evcc_config(veth: VethPair, folder: Path, protocol: str) -> None:
    """The .env and ev.json their EVCC reads: one protocol, DC, no TLS."""
    (folder / ".env").write_text(f"NETWORK_INTERFACE={veth.if_pev}\nLOG_LEVEL=INFO\n")
    (folder / "ev.json").write_text(json.dumps({
        "supportedProtocols": [protocol], "supportedEnergyServices": ["DC"],
        "energyTransferMode": "DC_extended", "isCertInstallNeeded": False, "useTls": False,
    }))  # fmt: skip


def start_peer(ns: str, python: Path, args: list[str], cwd: Path) -> subprocess.Popen:
    """Their program in namespace `ns`, in a process group of its own (it starts a JVM)."""
    return subprocess.Popen(["ip", "netns", "exec", ns, str(python), *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def stop_peer(proc: subprocess.Popen) -> str:
    """Kills the peer and its JVM (the group we started) and returns its log."""
    os.killpg(proc.pid, signal.SIGKILL)
    return proc.communicate(timeout=30)[0].decode(errors="replace")
