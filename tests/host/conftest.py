"""Fixtures shared by the host test packages."""

from __future__ import annotations

import pytest

from host.bench.veth import VethPair, create_veth_pair, destroy_veth_pair, why_no_veth


@pytest.fixture
def veth(request: pytest.FixtureRequest) -> VethPair:
    """A veth pair in two fresh namespaces for the root-only tests, named after the test's
    package so a leftover namespace says where it came from."""
    reason = why_no_veth()
    if reason is not None:
        print(f"skipping: {reason}")
        pytest.skip(reason)
    pair = create_veth_pair(request.path.parent.name)
    try:
        yield pair
    finally:
        destroy_veth_pair(pair)
