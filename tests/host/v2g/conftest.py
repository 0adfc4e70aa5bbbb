"""Fixtures for the V2G transport tests: the test PKI (made once per test run); the veth pair
for the root-only tests is in tests/host/conftest.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from host.pki import hierarchy
from host.pki.profiles import PROFILES
from tests.pki import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def pki20(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A -20 lab PKI (`v2gate pki init --profile iso20`: secp521r1, SHA-512): secc_chain.pem,
    secc.key, v2g_root.pem, oem_root.pem, oem_prov_chain.pem / oem_prov.key, contract_chain.pem
    / contract.key (under the MO root: not a vehicle certificate)."""
    directory = tmp_path_factory.mktemp("pki20")
    hierarchy.init(directory, PROFILES["iso20"], hierarchy.Names(), dt.datetime.now(dt.UTC))
    return directory
