"""Veth pairs in network namespaces, and sockets opened inside them (tests, bench, sim).

A socket belongs to the namespace of the thread that created it, so a helper thread enters
the namespace (setns), opens the socket and hands it back: one process and one event loop
can then drive both ends of a pair that lives in two namespaces.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")
_serial = itertools.count()


@dataclass(frozen=True)
class VethPair:
    """The EVSE end lives in ``ns_evse`` as ``if_evse``; the EV end in ``ns_pev``."""

    ns_evse: str
    if_evse: str
    ns_pev: str
    if_pev: str


def why_no_veth() -> str | None:
    """None when this process can make namespaces and veth pairs, else the reason."""
    if os.geteuid() != 0:
        return "needs root: creating network namespaces and veth pairs"
    if subprocess.run(["ip", "-V"], capture_output=True).returncode != 0:  # noqa: S607
        return "needs the `ip` tool (iproute2)"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)  # noqa: S607


def create_veth_pair(tag: str = "slac") -> VethPair:
    """Two fresh namespaces joined by a veth pair, both ends up; names unique per call.
    The `x` keeps pid and serial apart, so one process's names are never the prefix of
    another's (pid 12 serial 34 and pid 123 serial 4 were both `1234`)."""
    uniq = f"{os.getpid() % 100000}x{next(_serial)}"
    pair = VethPair(f"v2g-{tag}-{uniq}-evse", f"se{uniq}", f"v2g-{tag}-{uniq}-pev", f"sp{uniq}")
    try:
        _ip("netns", "add", pair.ns_evse)
        _ip("netns", "add", pair.ns_pev)
        _ip("link", "add", pair.if_evse, "netns", pair.ns_evse, "type", "veth",
            "peer", "name", pair.if_pev, "netns", pair.ns_pev)  # fmt: skip
        _ip("-n", pair.ns_evse, "link", "set", pair.if_evse, "up")
        _ip("-n", pair.ns_pev, "link", "set", pair.if_pev, "up")
    except BaseException:
        destroy_veth_pair(pair)
        raise
    return pair


def destroy_veth_pair(pair: VethPair) -> None:
    """Deleting the namespaces deletes the veth ends in them."""
    for ns in (pair.ns_evse, pair.ns_pev):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # noqa: S607


@contextmanager
def veth_pair(tag: str = "slac") -> Iterator[VethPair]:
    pair = create_veth_pair(tag)
    try:
        yield pair
    finally:
        destroy_veth_pair(pair)


def in_netns(ns: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a thread that has entered network namespace ``ns``; return its result."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns({ns}) failed")
            finally:
                os.close(fd)
            box["result"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{ns}")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]
