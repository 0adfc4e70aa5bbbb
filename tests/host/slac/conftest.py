"""Fixtures for the root-only SLAC tests: pyslac (the veth pair is in tests/host/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def pyslac_python():
    """pyslac in its own cached virtualenv (it needs marshmallow<4, which we do not pin)."""
    from tools.peers import ensure_pyslac

    return ensure_pyslac()
