"""Fixtures for the root-only SLAC tests: a veth pair in two namespaces, and pyslac."""

from __future__ import annotations

import pytest

from host.bench.veth import VethPair, create_veth_pair, destroy_veth_pair, why_no_veth


@pytest.fixture
def veth() -> VethPair:
    reason = why_no_veth()
    if reason is not None:
        print(f"skipping: {reason}")
        pytest.skip(reason)
    pair = create_veth_pair("test")
    try:
        yield pair
    finally:
        destroy_veth_pair(pair)


@pytest.fixture(scope="session")
def pyslac_python():
    """pyslac in its own cached virtualenv (it needs marshmallow<4, which we do not pin)."""
    from tools.peers import ensure_pyslac

    return ensure_pyslac()
