"""The ISO 15118-20 header Signature (-20 §7.9.2.4, xmldsig over EXI), sign and verify.

The shape is -2's (``certs.sign``): for each signed element a Reference "#Id" whose
DigestValue is the digest of the element's EXI fragment, a SignedInfo over those, and the
SignatureValue over SignedInfo's EXI fragment. What -20 changes:

- the signed elements are fragments of the -20 CommonMessages grammar
  (PnC_AReqAuthorizationMode, OEMProvisioningCertificateChain, SignedInstallationData,
  SignedMeteringData); SignedInfo stays a fragment of the xmldsig grammar, as in -2;
- two algorithms, named in the message (Tinkerforge's firmware cites [V2G20-2474]):
  ECDSA on secp521r1 with SHA-512 ("...xmldsig-more#ecdsa-sha512"), the SignatureValue raw
  r || s, 66 bytes each (132, not DER); and Ed448 ("...2021/04/xmldsig-more#eddsa-ed448",
  RFC 9231), pure EdDSA with an empty context over the SignedInfo bytes, 114 bytes;
- the Reference digests are SHA-512 ("...xmlenc#sha512") with either algorithm (Ed448 hashes
  internally with SHAKE256 for its own signature; the References still carry SHA-512).

Where implementations differ: the ``iso15118`` package (0.31.2) signs -20 as -2 (ECDSA-SHA256,
SHA-256 digests, 32-byte r and s: its ``create_signature`` has a "TODO need a signature for
ISO 15118-20"), so its EVCC cannot sign with a secp521r1 contract key at all. Tinkerforge's
esp32-firmware (libcbv2g) digests the element with ``encode_iso20_exiFragment`` and signs
SignedInfo with ``encode_iso20_xmldsigFragment``, as here; the WWCP Kotlin/C# code encodes
SignedInfo as a CommonMessages fragment instead, which gives other bytes; EVerest's
libiso15118 leaves -20 PnC Authorization a "todo". ``verify`` goes by
the URIs the signature names and refuses any other with a reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from host.exi import codec
from host.exi.runtime import ExiError
from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import xmldsig_types as x

from .certs import C14N_EXI, signed_info_bytes

ECDSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
EDDSA_ED448 = "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed448"
SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
P521_HALF = 66  # bytes of r and of s: ceil(521 / 8)
ED448_LEN = 114  # RFC 8032 §5.2.6
DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    SHA512: lambda data: hashlib.sha512(data).digest(),
}
METHODS = (ECDSA_SHA512, EDDSA_ED448)


def fragment(element: Any) -> bytes:
    """The canonical EXI of a signed -20 element: a fragment of the CommonMessages grammar."""
    return codec.encode(element, m.NAMESPACE, fragment=True)


def method_of(key: Any) -> str:
    """The SignatureMethod a private or public key signs with; ValueError if -20 names none."""
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return EDDSA_ED448
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(
            key.curve, ec.SECP521R1):  # fmt: skip
        return ECDSA_SHA512
    curve = getattr(getattr(key, "curve", None), "name", type(key).__name__)
    raise ValueError(f"a {curve} key: -20 signs with ECDSA secp521r1 or Ed448")


def sign(elements: Sequence[tuple[str, Any]],
         key: ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey) -> x.Signature:  # fmt: skip
    """The header Signature over ``elements`` ((Id, element) pairs) with ``key``."""
    method = method_of(key)
    refs: list[x.ReferenceType] = [x.Reference(
        URI=f"#{ident}", Transforms=x.Transforms(Transform=[x.Transform(Algorithm=C14N_EXI)]),
        DigestMethod=x.DigestMethod(Algorithm=SHA512), DigestValue=DIGESTS[SHA512](
            fragment(element))) for ident, element in elements]  # fmt: skip
    info = x.SignedInfo(CanonicalizationMethod=x.CanonicalizationMethod(Algorithm=C14N_EXI),
                        SignatureMethod=x.SignatureMethod(Algorithm=method),
                        Reference=refs)  # fmt: skip
    data = signed_info_bytes(info)
    if isinstance(key, ed448.Ed448PrivateKey):
        raw = key.sign(data)
    else:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA512())))
        raw = r.to_bytes(P521_HALF, "big") + s.to_bytes(P521_HALF, "big")
    return x.Signature(SignedInfo=info, SignatureValue=x.SignatureValue(value=raw))


def verify(signature: Any, elements: Sequence[tuple[str, Any]], public: Any) -> str | None:
    """None if ``signature`` signs every one of ``elements`` with ``public``'s key, by the
    algorithms it names; else why not (the caller answers FAILED_SignatureError)."""
    if signature is None:
        return "no Signature in the header"
    info = signature.SignedInfo
    method = info.SignatureMethod.Algorithm
    if method not in METHODS:
        return f"SignatureMethod {method}: -20 names ECDSA-SHA512 and Ed448"
    try:
        key_method = method_of(public)
    except ValueError as exc:
        return f"the signer's key: {exc}"
    if key_method != method:
        return f"SignatureMethod {method} but the signer's key is for {key_method}"
    if info.CanonicalizationMethod.Algorithm != C14N_EXI:
        return f"CanonicalizationMethod {info.CanonicalizationMethod.Algorithm}, not EXI"
    refs = {r.URI: r for r in info.Reference}
    try:
        for ident, element in elements:
            ref = refs.get(f"#{ident}")
            if ref is None:
                return f"no Reference to #{ident}"
            digest = DIGESTS.get(ref.DigestMethod.Algorithm)
            if digest is None:
                return f"#{ident} digested with {ref.DigestMethod.Algorithm}, not SHA-512"
            if ref.DigestValue != digest(fragment(element)):
                return f"the digest of #{ident} does not match"
        data = signed_info_bytes(info)
    except (ExiError, ValueError, TypeError) as exc:
        return f"cannot encode what was signed: {exc}"
    raw = signature.SignatureValue.value
    try:
        if method == EDDSA_ED448:
            if len(raw) != ED448_LEN:
                return f"SignatureValue of {len(raw)} bytes, not {ED448_LEN} (Ed448)"
            public.verify(raw, data)
        else:
            if len(raw) != 2 * P521_HALF:
                return f"SignatureValue of {len(raw)} bytes, not {2 * P521_HALF} (r || s)"
            der = encode_dss_signature(int.from_bytes(raw[:P521_HALF], "big"),
                                       int.from_bytes(raw[P521_HALF:], "big"))  # fmt: skip
            public.verify(der, data, ec.ECDSA(hashes.SHA512()))
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return "the SignatureValue does not verify with the signer's key"
    return None
