"""Plug & Charge certificates and signatures for ISO 15118-2, with `cryptography`.

- ``check_chain``: a contract (or any -2) chain leaf -> Sub-CA 2 -> Sub-CA 1 against trusted
  roots and the wall clock; a failure carries the -2 response code it maps to.
- ``sign`` / ``verify``: the header Signature of -2 (Annex J / §7.9.2.4): for each signed
  element a Reference with URI "#Id" and the SHA-256 digest of the element's canonical
  EXI fragment; the ECDSA-SHA256 SignatureValue over the EXI fragment of SignedInfo (the
  xmldsig grammar), sent raw as r || s (32 bytes each), not DER.

Shared by the SECC (host/secc/pnc.py), the test backend (backend.py) and our EVCC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.utils import CryptographyDeprecationWarning

from host.exi import codec
from host.exi.runtime import HEADER, BitWriter, ExiError
from host.exi.schemas import iso2 as i
from host.pki.check import ca_problem, issued_by

C14N_EXI = "http://www.w3.org/TR/canonical-exi/"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
XMLDSIG = "http://www.w3.org/2000/09/xmldsig#"
MAX_SUB_CAS = 2  # -2: leaf, at most two Sub-CAs, then the root ([V2G2-656] in spirit)


class ChainError(Exception):
    """Why a chain is refused; ``code`` is the -2 responseCodeType name it maps to."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(why)
        self.code = code


def load(der: bytes) -> x509.Certificate:
    try:
        with warnings.catch_warnings():  # a non-positive serial: the EV's problem, not ours
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise ChainError("FAILED_CertChainError", f"not a DER certificate: {exc}") from None


def public_key(cert: x509.Certificate) -> Any:
    """The certificate's key, or ChainError (cryptography parses the key only when asked)."""
    try:
        return cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ChainError("FAILED_CertChainError", f"unreadable public key: {exc}") from None


def chain_of(chain: Any) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """Leaf and Sub-CAs of a -2 CertificateChainType."""
    subs = chain.SubCertificates.Certificate if chain.SubCertificates is not None else []
    return load(chain.Certificate), [load(der) for der in subs]


def check_chain(leaf: x509.Certificate, subs: Sequence[x509.Certificate],
                roots: Iterable[x509.Certificate], now: dt.datetime, *,
                revoked: frozenset[int] = frozenset()) -> list[x509.Certificate]:  # fmt: skip
    """The path leaf .. root, or ChainError: FAILED_CertChainError (broken signatures, a
    Sub-CA that may not sign, too long), FAILED_NoCertificateAvailable (no root of ours
    named as the top's issuer), FAILED_CertificateExpired (any link outside its validity),
    FAILED_CertificateRevoked (a serial number in ``revoked``). A certificate that parsed
    but whose fields do not (cryptography parses lazily) is a chain error too."""
    try:
        return _check_chain(leaf, subs, roots, now, revoked)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ChainError("FAILED_CertChainError", f"unreadable certificate: {exc}") from None


def _check_chain(leaf: x509.Certificate, subs: Sequence[x509.Certificate],
                 roots: Iterable[x509.Certificate], now: dt.datetime,
                 revoked: frozenset[int]) -> list[x509.Certificate]:  # fmt: skip
    public_key(leaf)  # the key the leaf's holder signs with must at least parse
    if len(subs) > MAX_SUB_CAS:
        raise ChainError("FAILED_CertChainError", f"{len(subs)} Sub-CAs, -2 allows {MAX_SUB_CAS}")
    path = [leaf]
    for sub in subs:
        if not issued_by(path[-1], sub):
            raise ChainError("FAILED_CertChainError",
                             f"{_cn(path[-1])} is not signed by {_cn(sub)}")  # fmt: skip
        why = ca_problem(sub, below=len(path) - 1)
        if why:
            raise ChainError("FAILED_CertChainError", f"{_cn(sub)} {why}")
        path.append(sub)
    named = [r for r in roots if r.subject == path[-1].issuer]
    if not named:
        raise ChainError("FAILED_NoCertificateAvailable",
                         f"no trusted root named {path[-1].issuer.rfc4514_string()}")
    root = next((r for r in named if issued_by(path[-1], r)), None)
    if root is None:
        raise ChainError("FAILED_CertChainError",
                         f"{_cn(path[-1])} is not signed by the root it names")
    path.append(root)
    for cert in path:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise ChainError("FAILED_CertificateExpired",
                             f"{_cn(cert)} is valid {cert.not_valid_before_utc:%Y-%m-%d %H:%M}"
                             f" .. {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")  # fmt: skip
        if cert.serial_number in revoked:
            raise ChainError("FAILED_CertificateRevoked", f"{_cn(cert)} is revoked")
    return path


def _cn(cert: x509.Certificate) -> str:
    try:
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else cert.subject.rfc4514_string()
    except ValueError:  # a subject that does not parse names nobody
        return ""


def common_name(cert: x509.Certificate) -> str:
    return _cn(cert)


def fragment(element: Any) -> bytes:
    """The canonical EXI of a -2 element that gets signed: an EXI fragment of the -2
    grammar (what the reference codec and the peers digest)."""
    if isinstance(element, i.EMAIDType):
        return _emaid_fragment(element)
    return codec.encode(element, i.NAMESPACE, fragment=True)


# eMAID is declared twice in -2 with different types (a string in PaymentDetailsReq, EMAIDType
# with an Id in Certificate*Res), so its fragment uses the relaxed Element Fragment grammar
# (EXI 1.0 §8.5.3), which the generated codec does not carry. Its event codes for this one
# shape, as the reference codec writes them (checked against it in the tests): SE(eMAID) 236
# of the fragment's 8 bits; AT(Id) 4 and CH 256 of the element fragment's 9 bits; EE 244 of
# its content's 8 bits; then ED 244.
_SE_EMAID, _AT_ID, _CH, _EE = 236, 4, 256, 244


def _emaid_fragment(element: Any) -> bytes:
    w = BitWriter()
    w.bits(8, HEADER)
    w.bits(8, _SE_EMAID)
    w.bits(9, _AT_ID)
    w.string(element.Id)
    w.bits(9, _CH)
    w.string(element.value)
    w.bits(8, _EE)
    w.bits(8, i.FRAG_END)
    return w.getvalue()


def _digest(element: Any) -> bytes:
    return hashlib.sha256(fragment(element)).digest()


def sign(elements: Sequence[tuple[str, Any]], key: ec.EllipticCurvePrivateKey) -> Any:
    """The header Signature over ``elements`` ((Id, element) pairs)."""
    refs: list[Any] = [i.Reference(URI=f"#{ident}", Transforms=i.Transforms(
        Transform=[i.Transform(Algorithm=C14N_EXI)]),
        DigestMethod=i.DigestMethod(Algorithm=SHA256), DigestValue=_digest(element))
        for ident, element in elements]  # fmt: skip
    info = i.SignedInfo(CanonicalizationMethod=i.CanonicalizationMethod(Algorithm=C14N_EXI),
                        SignatureMethod=i.SignatureMethod(Algorithm=ECDSA_SHA256),
                        Reference=refs)  # fmt: skip
    der = key.sign(codec.encode(info, XMLDSIG), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return i.Signature(SignedInfo=info,
                       SignatureValue=i.SignatureValue(value=r.to_bytes(32, "big")
                                                       + s.to_bytes(32, "big")))  # fmt: skip


def signed_info_bytes(info: Any) -> bytes:
    """The bytes a SignatureValue signs: SignedInfo as an EXI fragment of the xmldsig grammar
    (-2 and -20 alike). A decoded SignedInfo is of its type; encode it as the element."""
    return codec.encode(i.SignedInfo(Id=info.Id,
                                     CanonicalizationMethod=info.CanonicalizationMethod,
                                     SignatureMethod=info.SignatureMethod,
                                     Reference=info.Reference), XMLDSIG)  # fmt: skip


def verify(signature: Any, elements: Sequence[tuple[str, Any]], public: Any) -> str | None:
    """None if ``signature`` signs every one of ``elements`` with ``public``'s key; else
    why not (for the log; the caller answers FAILED_SignatureError or its like)."""
    if signature is None:
        return "no Signature in the header"
    if not isinstance(public, ec.EllipticCurvePublicKey):
        return f"the signer's key is {type(public).__name__}, not ECDSA"
    if signature.SignedInfo.SignatureMethod.Algorithm != ECDSA_SHA256:
        return f"SignatureMethod {signature.SignedInfo.SignatureMethod.Algorithm}, not ECDSA-SHA256"
    refs = {r.URI: r for r in signature.SignedInfo.Reference}
    try:
        for ident, element in elements:
            ref = refs.get(f"#{ident}")
            if ref is None:
                return f"no Reference to #{ident}"
            if ref.DigestMethod.Algorithm != SHA256:
                return f"#{ident} digested with {ref.DigestMethod.Algorithm}, not SHA-256"
            if ref.DigestValue != _digest(element):
                return f"the digest of #{ident} does not match"
        signed = signed_info_bytes(signature.SignedInfo)
    except (ExiError, ValueError, TypeError) as exc:
        return f"cannot encode what was signed: {exc}"
    raw = signature.SignatureValue.value
    if len(raw) != 64:
        return f"SignatureValue of {len(raw)} bytes, not 64 (r || s)"
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return "the SignatureValue does not verify with the signer's key"
    return None


@dataclass(frozen=True)
class ContractChain:
    """A contract certificate chain as the EV holds it."""

    leaf: x509.Certificate
    subs: tuple[x509.Certificate, ...]  # Sub-CA 2, Sub-CA 1

    def as_iso2(self, ident: str | None = None) -> Any:
        return i.CertificateChainType(
            Id=ident, Certificate=self.leaf.public_bytes(Encoding.DER),
            SubCertificates=i.SubCertificatesType(
                Certificate=[c.public_bytes(Encoding.DER) for c in self.subs]))


# --- the contract key in CertificateInstallation/UpdateRes (-2 §7.9.2.4.3, Annex J) --------
# ECDH (secp256r1) between a fresh key of the provider and the EV's key (the OEM
# provisioning key; for an update, the old contract key), ConcatKDF with SHA-256 to a 128-bit
# key (OtherInfo: AlgorithmID 0x01, PartyUInfo 0x55, PartyVInfo 0x56), AES-128-CBC of the
# 32-byte private value; sent as IV (16 bytes) || ciphertext, with the fresh public key as
# the uncompressed point in DHpublickey.
_OTHER_INFO = bytes([0x01, 0x55, 0x56])


def _aes_key(own: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey) -> bytes:
    secret = own.exchange(ec.ECDH(), peer)
    return ConcatKDFHash(hashes.SHA256(), 16, _OTHER_INFO).derive(secret)


def encrypt_key(key: ec.EllipticCurvePrivateKey, ev_public: ec.EllipticCurvePublicKey,
                iv: bytes) -> tuple[bytes, bytes]:  # fmt: skip
    """(DHpublickey, IV || AES-128-CBC(private value)) for the EV holding ``ev_public``."""
    fresh = ec.generate_private_key(ec.SECP256R1())
    enc = Cipher(algorithms.AES(_aes_key(fresh, ev_public)), modes.CBC(iv)).encryptor()
    value = key.private_numbers().private_value.to_bytes(32, "big")
    dh = fresh.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return dh, iv + enc.update(value) + enc.finalize()


def decrypt_key(encrypted: bytes, dh_public: bytes,
                ev_key: ec.EllipticCurvePrivateKey) -> ec.EllipticCurvePrivateKey:  # fmt: skip
    """The EV side of ``encrypt_key``; ValueError if it cannot be a key."""
    if len(encrypted) != 48:
        raise ValueError(f"encrypted key of {len(encrypted)} bytes, not 16 + 32")
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), dh_public)
    dec = Cipher(algorithms.AES(_aes_key(ev_key, peer)), modes.CBC(encrypted[:16])).decryptor()
    value = int.from_bytes(dec.update(encrypted[16:]) + dec.finalize(), "big")
    return ec.derive_private_key(value, ec.SECP256R1())
