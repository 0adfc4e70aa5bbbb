"""A test PKI for ISO 15118-2 made with `cryptography`: the V2G (CPO), MO and OEM chains,
each root -> Sub-CA 1 -> Sub-CA 2 -> leaf, on secp256r1 with ECDSA-SHA256 (-2 Annex F).

Written as PEM files (keys 0600). A session-scoped fixture makes one per test run
(tests/host/v2g/conftest.py); anything else may call ``make_pki(directory)``.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path
    key_path: Path


@dataclass(frozen=True)
class Chain:
    root: Issued
    sub1: Issued
    sub2: Issued
    leaf: Issued
    chain_path: Path  # leaf, Sub-CA 2, Sub-CA 1: what a TLS server or a PnC EV sends


@dataclass(frozen=True)
class Pki:
    directory: Path
    v2g: Chain  # V2G root -> CPO Sub-CA 1 -> CPO Sub-CA 2 -> SECC leaf
    mo: Chain  # MO root -> MO Sub-CA 1 -> MO Sub-CA 2 -> contract leaf (CN = EMAID)
    oem: Chain  # OEM root -> OEM Sub-CA 1 -> OEM Sub-CA 2 -> OEM provisioning leaf


def _name(cn: str, org: str, dc: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, cn),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
             x509.NameAttribute(NameOID.COUNTRY_NAME, "DE")]  # fmt: skip
    if dc is not None:
        parts.append(x509.NameAttribute(NameOID.DOMAIN_COMPONENT, dc))
    return x509.Name(parts)


def _issue(directory: Path, stem: str, subject: x509.Name, *, issuer: Issued | None,
           ca: bool, path_len: int | None, days: int) -> Issued:  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    signer_key = issuer.key if issuer is not None else key
    issuer_name = issuer.cert.subject if issuer is not None else subject
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_len if ca else None),
                       critical=True)  # fmt: skip
        .add_extension(x509.KeyUsage(
            digital_signature=not ca, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=not ca, key_cert_sign=ca, crl_sign=ca,
            encipher_only=False, decipher_only=False), critical=True)  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    cert = builder.sign(signer_key, hashes.SHA256())
    cert_path = directory / f"{stem}.pem"
    key_path = directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))  # fmt: skip
    os.chmod(key_path, 0o600)  # in case the file was there with other bits
    return Issued(cert, key, cert_path, key_path)


def _chain(directory: Path, tag: str, org: str, leaf_cn: str, *, leaf_dc: str | None,
           root_cn: str) -> Chain:  # fmt: skip
    root = _issue(directory, f"{tag}_root", _name(root_cn, org, "V2G" if tag == "v2g" else None),
                  issuer=None, ca=True, path_len=2, days=365 * 40)  # fmt: skip
    sub1 = _issue(directory, f"{tag}_sub1", _name(f"{org} Sub-CA 1", org), issuer=root,
                  ca=True, path_len=1, days=365 * 4)  # fmt: skip
    sub2 = _issue(directory, f"{tag}_sub2", _name(f"{org} Sub-CA 2", org), issuer=sub1,
                  ca=True, path_len=0, days=365 * 2)  # fmt: skip
    leaf = _issue(directory, f"{tag}_leaf", _name(leaf_cn, org, leaf_dc), issuer=sub2,
                  ca=False, path_len=None, days=365)  # fmt: skip
    chain_path = directory / f"{tag}_chain.pem"
    chain_path.write_bytes(b"".join(i.cert.public_bytes(serialization.Encoding.PEM)
                                    for i in (leaf, sub2, sub1)))  # fmt: skip
    return Chain(root, sub1, sub2, leaf, chain_path)


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    return Pki(
        directory,
        v2g=_chain(directory, "v2g", "CPO Test", "SECC-TEST-0001", leaf_dc="CPO",
                   root_cn="V2G Root CA Test"),  # fmt: skip
        mo=_chain(directory, "mo", "MO Test", "DEV2GTESTC00001", leaf_dc=None,
                  root_cn="MO Root CA Test"),  # fmt: skip
        oem=_chain(directory, "oem", "OEM Test", "OEMPROV-TEST-0001", leaf_dc=None,
                   root_cn="OEM Root CA Test"),  # fmt: skip
    )
