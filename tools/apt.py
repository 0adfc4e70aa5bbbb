"""Install a Debian package on demand (tests and benchmarks that need mosquitto, tmux...).

Only as root and with apt-get; two processes never run apt at once (a lock file). Returns
the program's path, or None and the reason it could not be had.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess

LOCK = "/tmp/v2gate-apt.lock"


def ensure(program: str, package: str | None = None) -> tuple[str | None, str]:
    found = shutil.which(program)
    if found:
        return found, ""
    package = package or program
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, f"{program} is not installed (apt-get install {package} needs root)"
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = shutil.which(program)
        if found:
            return found, ""
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", package]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:  # a fresh machine's package lists may be stale or absent
            subprocess.run(["apt-get", "update"], env=env, capture_output=True)
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    found = shutil.which(program)
    if found:
        return found, ""
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return None, f"{program}: apt-get install {package} failed: {last}"
