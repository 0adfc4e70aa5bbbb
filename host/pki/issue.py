"""Building certificates and CSRs for the roles of profiles.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed448
from cryptography.x509.oid import NameOID

from .profiles import PrivateKey, PublicKey, Role, hash_for, key_usage


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey | None  # None when the public key came in a CSR


def name(cn: str, org: str, country: str = "DE", dc: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, cn),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
             x509.NameAttribute(NameOID.COUNTRY_NAME, country)]  # fmt: skip
    if dc is not None:
        parts.append(x509.NameAttribute(NameOID.DOMAIN_COMPONENT, dc))
    return x509.Name(parts)


def certificate(subject: x509.Name, public: PublicKey, role: Role, *, issuer: Issued | None,
                signer: PrivateKey, now: dt.datetime, days: int | None = None,
                san: list[x509.GeneralName] | None = None) -> x509.Certificate:  # fmt: skip
    """One certificate; ``issuer`` None makes it self-signed (``signer`` is its own key).

    Not valid after its issuer: a chain is only as valid as its shortest link, and a
    leaf outliving its Sub-CA would fail the day the Sub-CA expires."""
    not_after = now + dt.timedelta(days=role.days if days is None else days)
    if issuer is not None:
        not_after = min(not_after, issuer.cert.not_valid_after_utc)
    usage = role
    if isinstance(public, ed448.Ed448PublicKey) and not role.ca:
        # Ed448 signs and nothing else: no key agreement or encipherment on its certificate
        usage = Role(role.name, False, None, role.days, frozenset({"digital_signature"}))
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # a little slack for clock skew
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=role.ca, path_length=role.path_len
                                             if role.ca else None), critical=True)  # fmt: skip
        .add_extension(key_usage(usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if issuer is not None:
        ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    if role.eku:
        b = b.add_extension(x509.ExtendedKeyUsage(list(role.eku)), critical=False)
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(signer, hash_for(signer))  # type: ignore[arg-type]


def issue(subject: x509.Name, role: Role, key: PrivateKey, *, issuer: Issued | None,
          now: dt.datetime, days: int | None = None,
          san: list[x509.GeneralName] | None = None) -> Issued:  # fmt: skip
    if issuer is not None and issuer.key is None:
        raise ValueError("the issuer needs its private key")
    signer = key if issuer is None else issuer.key
    assert signer is not None
    cert = certificate(subject, key.public_key(), role, issuer=issuer, signer=signer,
                       now=now, days=days, san=san)  # fmt: skip
    return Issued(cert, key)


def csr(subject: x509.Name, key: PrivateKey) -> x509.CertificateSigningRequest:
    return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(
        key, hash_for(key))  # type: ignore[arg-type]
