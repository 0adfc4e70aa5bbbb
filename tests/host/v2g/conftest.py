"""Fixtures for the V2G transport tests: the test PKI (made once per test run) and a veth
pair for the root-only tests."""

from __future__ import annotations

import pytest

from host.bench.veth import VethPair, create_veth_pair, destroy_veth_pair, why_no_veth
from tests.pki import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def veth() -> VethPair:
    reason = why_no_veth()
    if reason is not None:
        print(f"skipping: {reason}")
        pytest.skip(reason)
    pair = create_veth_pair("v2g")
    try:
        yield pair
    finally:
        destroy_veth_pair(pair)
