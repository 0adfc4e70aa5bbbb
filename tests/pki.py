"""A test PKI for ISO 15118-2 made with `cryptography`: the V2G (CPO), MO and OEM chains,
each root -> Sub-CA 1 -> Sub-CA 2 -> leaf, on secp256r1 with ECDSA-SHA256 (-2 Annex F).

Written as PEM files (keys 0600). A session-scoped fixture makes one per test run
(tests/host/v2g/conftest.py); anything else may call ``make_pki(directory)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from host.pki import files
from host.pki import issue as build
from host.pki.profiles import ROLES

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
    return build.name(cn, org, "DE", dc)


def _issue(directory: Path, stem: str, subject: x509.Name, *, issuer: Issued | None,
           ca: bool, path_len: int | None, days: int) -> Issued:  # fmt: skip
    """`v2gate pki`'s builder (host/pki) with this PKI's own path lengths and lifetimes."""
    role = replace(ROLES["sub1" if ca else "secc"], path_len=path_len, days=days)
    key = ec.generate_private_key(ec.SECP256R1())
    signer = None if issuer is None else build.Issued(issuer.cert, issuer.key)
    made = build.issue(subject, role, key, issuer=signer, now=NOW)
    cert_path = directory / f"{stem}.pem"
    key_path = directory / f"{stem}.key"
    files.write_certs(cert_path, made.cert)
    files.write_key(key_path, key)  # 0600, atomically
    return Issued(made.cert, key, cert_path, key_path)


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
    files.write_certs(chain_path, leaf.cert, sub2.cert, sub1.cert)
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
