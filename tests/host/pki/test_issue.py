"""`issue` and `csr`, the -2/-20 key types, and how keys reach the disk."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.x509.oid import NameOID

from host.pki import files
from host.pki.check import check

from .conftest import Run


def subject(cert: x509.Certificate | x509.CertificateSigningRequest) -> dict[str, str]:
    return {a.rfc4514_attribute_name: str(a.value) for a in cert.subject}


@pytest.mark.parametrize(("profile", "curve", "digest"), [
    ("iso2", ec.SECP256R1, hashes.SHA256), ("iso20", ec.SECP521R1, hashes.SHA512),
    ("iso20-ed448", None, None)])  # fmt: skip
def test_profiles_choose_key_and_hash(made: Callable[[str], Path], profile: str,
                                      curve: type | None, digest: type | None) -> None:  # fmt: skip
    d = made(profile)
    for stem in ("v2g_root", "v2g_sub2", "secc", "contract", "station"):
        cert = files.read_certs(d / f"{stem}.pem")[0]
        key = cert.public_key()
        if curve is None:
            assert isinstance(key, ed448.Ed448PublicKey) and cert.signature_hash_algorithm is None
        else:
            assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, curve)
            assert isinstance(cert.signature_hash_algorithm, digest)  # type: ignore[arg-type]


def test_ed448_leaves_only_sign(made: Callable[[str], Path]) -> None:
    ku = files.read_certs(made("iso20-ed448") / "secc.pem")[0].extensions.get_extension_for_class(
        x509.KeyUsage).value  # fmt: skip
    assert ku.digital_signature and not ku.key_agreement


def test_issue_a_secc_leaf_from_sub_ca_2(v2gate: Run, own_lab: Path) -> None:
    r = v2gate("pki", "issue", "--ca", own_lab / "v2g_sub2", "--role", "secc", "--cn",
               "DE*V2G*E0000002", "--org", "v2gate Lab CPO", "--out", own_lab / "secc2")
    assert r.code == 0, r.err
    cert = files.read_certs(own_lab / "secc2.pem")[0]
    assert subject(cert) == {"CN": "DE*V2G*E0000002", "O": "v2gate Lab CPO", "C": "DE",
                             "DC": "CPO"}  # fmt: skip
    assert stat.S_IMODE((own_lab / "secc2.key").stat().st_mode) == 0o600
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 60
    assert check([own_lab], now=cert.not_valid_before_utc).problems == []


def test_issue_never_outlives_its_ca(v2gate: Run, own_lab: Path) -> None:
    r = v2gate("pki", "issue", "--ca", own_lab / "v2g_sub2", "--role", "contract", "--cn", "E",
               "--org", "O", "--days", "5000", "--out", own_lab / "long")
    assert r.code == 0, r.err
    ca = files.read_certs(own_lab / "v2g_sub2.pem")[0]
    assert files.read_certs(own_lab / "long.pem")[0].not_valid_after_utc == ca.not_valid_after_utc


@pytest.mark.parametrize(("kind", "want"), [
    ("ChargingStationCertificate", {"CN": "V2GATE-CS-0042", "O": "Lab CPO", "C": "NL"}),
    ("V2GCertificate", {"CN": "V2GATE-CS-0042", "O": "Lab CPO", "C": "NL", "DC": "CPO"})])  # fmt: skip
def test_csr_for_ocpp_sign_certificate_then_signed_by_the_ca(
        v2gate: Run, own_lab: Path, kind: str, want: dict[str, str]) -> None:  # fmt: skip
    key = own_lab / "new.key"
    r = v2gate("pki", "csr", "--type", kind, "--cn", "V2GATE-CS-0042", "--org", "Lab CPO",
               "--country", "nl", "--key", key)
    assert r.code == 0, r.err
    request = x509.load_pem_x509_csr(r.out.encode())  # stdout: what SignCertificateRequest.csr carries
    assert request.is_signature_valid and subject(request) == want
    assert isinstance(request.signature_hash_algorithm, hashes.SHA256)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    (own_lab / "new.csr").write_text(r.out)
    ca, role = ("csms_root", "station") if kind.startswith("Charging") else ("v2g_sub2", "secc")
    r = v2gate("pki", "issue", "--ca", own_lab / ca, "--role", role, "--csr", own_lab / "new.csr",
               "--out", own_lab / "new")  # fmt: skip
    assert r.code == 0, r.err
    cert = files.read_certs(own_lab / "new.pem")[0]
    assert subject(cert) == want
    assert check([own_lab], now=cert.not_valid_before_utc).problems == []  # the key matches


def test_csr_with_an_existing_key(v2gate: Run, own_lab: Path) -> None:
    r = v2gate("pki", "csr", "--type", "V2GCertificate", "--cn", "S", "--org", "O",
               "--key", own_lab / "secc.key", "--reuse-key", "--out", own_lab / "secc.csr")
    assert r.code == 0, r.err
    request = x509.load_pem_x509_csr((own_lab / "secc.csr").read_bytes())
    cert = files.read_certs(own_lab / "secc.pem")[0]
    assert request.public_key() == cert.public_key()
    assert request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "S"


def test_a_key_is_0600_even_over_a_0644_file_and_under_a_lax_umask(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    path.write_text("old")
    os.chmod(path, 0o644)
    old = os.umask(0)
    try:
        files.write_key(path, ec.generate_private_key(ec.SECP256R1()))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert files.read_key(path) is not None
    assert [p.name for p in tmp_path.iterdir()] == ["k.key"]  # no temporary file left
