"""The contract key in an ISO 15118-20 CertificateInstallationRes (-20 §7.9.2.5.2 without
TPM 2.0, §7.9.2.5.4), with `cryptography`; the -2 one (ECDH P-256, AES-128-CBC) is
``certs.encrypt_key``.

The provider (the CPS behind our SECC) makes a fresh ECDH key on the curve of the EV's OEM
provisioning key and agrees a secret with that static key (ephemeral-static, §7.9.2.5.4);
the session key comes from it through the KDF; AES-256-GCM encrypts the contract private
key with a random 96-bit IV and a 128-bit tag ([V2G20-2494], [V2G20-2497]); the field is
IV (12) || ciphertext || tag (16) ([V2G20-2499], [V2G20-2502]): 12 + 66 + 16 = 94 bytes for
secp521r1 (the 521-bit value padded to 528 bits with 7 leading zero bits, big-endian,
[V2G20-2497]/[V2G20-2498]); 12 + 56 + 16 = 84 for X448. DHPublicKey is the fresh public key,
uncompressed (0x04 || X || Y, 133 bytes for secp521r1, [V2G20-2489] and its NOTE 7).
The EV takes the key from the same ECDH with its OEM provisioning private key, rejects a
tag that does not verify ([V2G20-2504]), plaintext whose top 7 bits are not zero
([V2G20-2678]), a value not below the curve order or whose public key is not the contract
certificate's ([V2G20-2507]).

AAD ([V2G20-2492]): the PCID used in CertificateInstallationReq in capitals and digits
without separators (18 bytes for a real PCID; our lab OEM certificates have no PCID, so
the CN cleaned the same way stands in), then the contract certificate's SKI as a hex string
in capitals (the requirement counts 16 bytes: an 8-byte SKI, -20 Table B.9/B.10; ours are
20-byte SHA-1 ones, 40 characters, written the same way).

Where the facts come from and where the peers differ (checked 2026-12):
- -20 text ([V2G20-2491]..[V2G20-2510], [V2G20-2487]..[V2G20-2489], §7.9.2.5.4) as quoted
  in public notes: everything above except the KDF, whose requirement we could not read.
- KDF: ConcatKDF (NIST SP 800-56A §5.8.1, the single-step one -2 uses in [V2G2-818]) with
  SHA-512 to 256 bits and -2's OtherInfo (AlgorithmID 0x01, PartyUInfo 0x55, PartyVInfo
  0x56). NOT VERIFIED against the -20 text. OpenChargingCloud/WWCP_ISO15118
  (StateMachines/Iso20/ContractProvisioning.cs) uses ConcatKDF SHA-512 with an *empty*
  OtherInfo and *no AAD* (it says itself its payload is "self-consistent only"); a Node
  sample (V2G20-2497 demo) uses HKDF-SHA256 and writes the SKI as 16 raw bytes in the AAD.
  Both agree with us on IV 12 || ciphertext || tag 16, 94/84 bytes, the 7-bit padding and
  that the EV uses its OEM provisioning key. The `iso15118` package (0.31.2) has only the
  -2 scheme (shared/security.py encrypt_priv_key: P-256, ConcatKDF SHA-256, AES-128-CBC)
  and raises NotImplementedError for -20 CertificateInstallation on both sides; EVerest's
  libiso15118 only carries the fields (its tests fill them with filler bytes).
  The KDF is therefore the first thing to settle against a real CPS: it is ``_KDF_INFO``
  and ``session_key`` here, nowhere else.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, x448
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

IV_LEN = 12
TAG_LEN = 16
P521_LEN = 66  # 521 bits padded to 528
X448_LEN = 56
SECP521_ENCRYPTED_LEN = IV_LEN + P521_LEN + TAG_LEN  # 94, the schema's length
X448_ENCRYPTED_LEN = IV_LEN + X448_LEN + TAG_LEN  # 84
SECP521_DH_LEN = 1 + 2 * P521_LEN  # 133
_KDF_INFO = bytes([0x01, 0x55, 0x56])  # see the module docstring: -2's, not verified for -20


class KeyWrapError(ValueError):
    """The encrypted key cannot be this EV's contract key ([V2G20-2504]: reject the Res)."""


def pcid_of(oem: x509.Certificate) -> str:
    """The PCID the AAD starts with: the OEM provisioning certificate's CN in capitals and
    digits only (-20 Annex C.2: a PCID is 18 such characters)."""
    names = oem.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    cn = str(names[0].value) if names else ""
    return "".join(c for c in cn.upper() if c.isascii() and c.isalnum())


def aad(pcid: str, contract: x509.Certificate) -> bytes:
    """[V2G20-2492]: PCID, then the contract certificate's SKI as capital hex."""
    try:
        ski = contract.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        raise KeyWrapError("the contract certificate has no subjectKeyIdentifier") from None
    return pcid.encode("ascii") + ski.digest.hex().upper().encode("ascii")


def session_key(secret: bytes) -> bytes:
    """The AES-256 key from the ECDH/X448 shared secret (the KDF: see the docstring)."""
    return ConcatKDFHash(hashes.SHA512(), 32, _KDF_INFO).derive(secret)


def _seal(secret: bytes, plain: bytes, iv: bytes, associated: bytes) -> bytes:
    if len(iv) != IV_LEN:
        raise ValueError(f"IV of {len(iv)} bytes, -20 wants {IV_LEN}")
    # cryptography appends the 16-byte tag: IV || ciphertext || tag is the field's layout
    return iv + AESGCM(session_key(secret)).encrypt(iv, plain, associated)


def _open(secret: bytes, encrypted: bytes, associated: bytes) -> bytes:
    try:
        return AESGCM(session_key(secret)).decrypt(encrypted[:IV_LEN], encrypted[IV_LEN:],
                                                   associated)  # fmt: skip
    except InvalidTag:
        raise KeyWrapError("the GCM tag does not verify (wrong key, AAD or data)") from None


# --- secp521r1 ([V2G20-2497]..[V2G20-2499], [V2G20-2505]..[V2G20-2507]) --------------------


def encrypt_secp521(key: ec.EllipticCurvePrivateKey, ev_public: ec.EllipticCurvePublicKey,
                    iv: bytes, associated: bytes) -> tuple[bytes, bytes]:  # fmt: skip
    """(DHPublicKey, SECP521_EncryptedPrivateKey) for the EV holding ``ev_public``."""
    if not isinstance(ev_public.curve, ec.SECP521R1) or not isinstance(key.curve, ec.SECP521R1):
        raise ValueError("SECP521 key delivery needs secp521r1 keys on both ends")
    fresh = ec.generate_private_key(ec.SECP521R1())
    value = key.private_numbers().private_value.to_bytes(P521_LEN, "big")  # 7 zero bits first
    encrypted = _seal(fresh.exchange(ec.ECDH(), ev_public), value, iv, associated)
    dh = fresh.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return dh, encrypted


def decrypt_secp521(encrypted: bytes, dh_public: bytes, ev_key: ec.EllipticCurvePrivateKey,
                    associated: bytes, contract: x509.Certificate,
                    ) -> ec.EllipticCurvePrivateKey:  # fmt: skip
    """The EV side: the contract private key, or KeyWrapError saying why not."""
    if len(encrypted) != SECP521_ENCRYPTED_LEN:
        raise KeyWrapError(f"SECP521_EncryptedPrivateKey of {len(encrypted)} bytes, "
                           f"not {SECP521_ENCRYPTED_LEN}")  # fmt: skip
    if len(dh_public) != SECP521_DH_LEN or dh_public[0] != 0x04:
        raise KeyWrapError(f"DHPublicKey of {len(dh_public)} bytes is no uncompressed "
                           "secp521r1 point")  # fmt: skip
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP521R1(), dh_public)
    except ValueError:
        raise KeyWrapError("DHPublicKey is not a point on secp521r1") from None
    plain = _open(ev_key.exchange(ec.ECDH(), peer), encrypted, associated)
    if plain[0] & 0xFE:
        raise KeyWrapError("the decrypted key's top 7 bits are not zero ([V2G20-2678])")
    try:  # OpenSSL refuses 0 and values not below the group order
        key = ec.derive_private_key(int.from_bytes(plain, "big"), ec.SECP521R1())
    except ValueError:
        raise KeyWrapError("the decrypted key is not below the secp521r1 order "
                           "([V2G20-2507])") from None
    if not _same_public(key.public_key(), contract.public_key()):
        raise KeyWrapError("the decrypted key is not the contract certificate's ([V2G20-2507])")
    return key


# --- X448 ([V2G20-2500]..[V2G20-2502], [V2G20-2508]..[V2G20-2510], [V2G20-2710/2711]) -------
# The primitive only: which X448 key an EV with an Ed448 OEM provisioning certificate holds
# ([V2G20-2491] "derived from the EdDSA parameters") is not settled here, so no session
# uses it yet (LocalCps answers WARNING_CertificateValidationError for an Ed448 OEM key).


def encrypt_x448(value: bytes, ev_public: x448.X448PublicKey, iv: bytes,
                 associated: bytes) -> tuple[bytes, bytes]:  # fmt: skip
    """(DHPublicKey, X448_EncryptedPrivateKey 84 bytes) for a 56-byte key. DHPublicKey is
    57 bytes: 0x04 then the 56-byte X448 key, as [V2G20-2489] NOTE 6/7 give the length
    and the leading byte (EVerest's libiso15118 tests use 57 bytes too); RFC 8410's raw key
    is 56 bytes, and ``decrypt_x448`` takes that too."""
    if len(value) != X448_LEN:
        raise ValueError(f"an X448 private value is {X448_LEN} bytes, not {len(value)}")
    fresh = x448.X448PrivateKey.generate()
    encrypted = _seal(fresh.exchange(ev_public), value, iv, associated)
    return b"\x04" + fresh.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw), encrypted


def decrypt_x448(encrypted: bytes, dh_public: bytes, ev_key: x448.X448PrivateKey,
                 associated: bytes) -> bytes:  # fmt: skip
    if len(encrypted) != X448_ENCRYPTED_LEN:
        raise KeyWrapError(f"X448_EncryptedPrivateKey of {len(encrypted)} bytes, "
                           f"not {X448_ENCRYPTED_LEN}")  # fmt: skip
    if len(dh_public) == X448_LEN + 1 and dh_public[0] == 0x04:
        dh_public = dh_public[1:]
    try:
        peer = x448.X448PublicKey.from_public_bytes(dh_public)
        secret = ev_key.exchange(peer)
    except ValueError:
        raise KeyWrapError("DHPublicKey is no X448 public key") from None
    return _open(secret, encrypted, associated)


def _same_public(a: ec.EllipticCurvePublicKey, b: object) -> bool:
    return isinstance(b, ec.EllipticCurvePublicKey) and a.public_numbers() == b.public_numbers()
