"""Debian packages that system tests need, installed on demand (tools/apt.py).

CI runs as root on a fresh machine with the network, so a program that cannot be had
fails the test there (V2GATE_CI=1); elsewhere it skips, with the reason printed.
"""

from __future__ import annotations

import os

import pytest

from tools.apt import ensure


def require(program: str, package: str | None = None) -> str:
    found, reason = ensure(program, package)
    if found:
        return found
    if os.environ.get("V2GATE_CI"):
        pytest.fail(reason)
    print(reason)
    pytest.skip(reason)
