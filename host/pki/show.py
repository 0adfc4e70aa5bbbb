"""`v2gate pki show`: one readable line per certificate."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.x509.oid import NameOID

_KU_NAMES = {"digital_signature": "digitalSignature", "content_commitment": "nonRepudiation",
             "key_encipherment": "keyEncipherment", "data_encipherment": "dataEncipherment",
             "key_agreement": "keyAgreement", "key_cert_sign": "keyCertSign",
             "crl_sign": "cRLSign"}  # fmt: skip


def cn(cert: x509.Certificate) -> str:
    return cn_of(cert.subject)


def _algorithm(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        alg = key.curve.name
    elif isinstance(key, ed448.Ed448PublicKey):
        alg = "Ed448"
    else:
        alg = type(key).__name__.removeprefix("_").removesuffix("PublicKey")
    h = cert.signature_hash_algorithm
    return f"{alg}/{h.name.upper()}" if h is not None else alg


def _kind(cert: x509.Certificate) -> str:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return "no-basicConstraints"
    if not bc.ca:
        return "leaf"
    return "CA" if bc.path_length is None else f"CA pathlen {bc.path_length}"


def _usage(cert: x509.Certificate) -> str:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "no keyUsage"
    return ",".join(label for attr, label in _KU_NAMES.items() if getattr(ku, attr))


def line(cert: x509.Certificate, now: dt.datetime) -> str:
    subject = ", ".join(f"{a.rfc4514_attribute_name}={a.value!s}" for a in cert.subject)
    issuer = "self-signed" if cert.issuer == cert.subject else f"by {cn_of(cert.issuer)}"
    after = cert.not_valid_after_utc
    if now > after:
        state = "EXPIRED"
    elif now < cert.not_valid_before_utc:
        state = "NOT YET VALID"
    else:
        state = f"{(after - now).days} d left"
    return (f"{subject} | {issuer} | {_algorithm(cert)} | {_kind(cert)} | {_usage(cert)} | "
            f"{cert.not_valid_before_utc:%Y-%m-%d}..{after:%Y-%m-%d} ({state})")  # fmt: skip


def cn_of(name: x509.Name) -> str:
    names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else name.rfc4514_string()
