"""Fixtures for the V2G transport tests: the test PKI (made once per test run); the veth pair
for the root-only tests is in tests/host/conftest.py."""

from __future__ import annotations

import pytest

from tests.pki import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))
