"""One builder at a time for a cache shared by processes (a peer's virtualenv, its npm
modules, downloaded schemas): pytest-xdist's workers and a benchmark may all reach for
the same cache on a fresh machine, and two pip or npm runs into one directory break it.

The caller checks its completion marker, takes the lock, and checks again: whoever waited
finds the cache built by the first and does not build it twice.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def building(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``target`` (a lock file beside it) for the block."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield
