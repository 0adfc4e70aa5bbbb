"""The test PKI: three chains root -> Sub-CA 1 -> Sub-CA 2 -> leaf on secp256r1, keys 0600."""

from __future__ import annotations

import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.pki import Chain, Pki


def _chains(pki: Pki) -> list[Chain]:
    return [pki.v2g, pki.mo, pki.oem]


def test_each_certificate_is_signed_by_the_one_above(pki: Pki) -> None:
    for chain in _chains(pki):
        links = [chain.root, chain.sub1, chain.sub2, chain.leaf]
        chain.root.cert.verify_directly_issued_by(chain.root.cert)
        for issuer, subject in zip(links, links[1:], strict=False):
            subject.cert.verify_directly_issued_by(issuer.cert)
        with pytest.raises(ValueError):  # the issuer name does not match
            chain.leaf.cert.verify_directly_issued_by(chain.sub1.cert)


def test_keys_are_p256_and_private_files_0600(pki: Pki) -> None:
    for chain in _chains(pki):
        for issued in (chain.root, chain.sub1, chain.sub2, chain.leaf):
            assert isinstance(issued.key.curve, ec.SECP256R1)
            assert stat.S_IMODE(issued.key_path.stat().st_mode) == 0o600


def test_ca_flags_and_path_lengths(pki: Pki) -> None:
    for chain in _chains(pki):
        lengths = [chain.root, chain.sub1, chain.sub2, chain.leaf]
        got = [i.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
               for i in lengths]  # fmt: skip
        assert [(b.ca, b.path_length) for b in got] == [(True, 2), (True, 1), (True, 0), (False, None)]


def test_chain_file_is_leaf_first_without_the_root(pki: Pki) -> None:
    certs = x509.load_pem_x509_certificates(pki.v2g.chain_path.read_bytes())
    assert certs == [pki.v2g.leaf.cert, pki.v2g.sub2.cert, pki.v2g.sub1.cert]


def test_contract_leaf_names_the_emaid(pki: Pki) -> None:
    cn = pki.mo.leaf.cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn == "DEV2GTESTC00001"
