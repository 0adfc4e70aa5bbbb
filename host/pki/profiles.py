"""Key types, signature hashes, extensions and validity per certificate role.

ISO 15118-2 (Annex F): ECDSA on secp256r1 with SHA-256 for every certificate. ISO 15118-20
(TLS 1.3 only) names two: ECDSA on secp521r1 with SHA-512, and Ed448 (no separate hash).

The extensions per role follow the -2 certificate profiles as the `iso15118` package's
`shared/pki/configs/*.cnf` spell them (EcoG-io/iso15118): roots CA:true with keyCertSign
and cRLSign; CPO/MO/OEM Sub-CA 1 pathlen 1, Sub-CA 2 pathlen 0; SECC and OEM provisioning
leaves digitalSignature + keyAgreement; the contract leaf adds nonRepudiation and
keyEncipherment; basicConstraints and keyUsage critical, a subjectKeyIdentifier on all.
Validity (days) as that package's `create_certs.sh` sets them: V2G root 3650, CPO Sub-CA 1
1460, Sub-CA 2 365, SECC leaf 60 (-2 wants the SECC leaf short-lived); MO and OEM roots
3650, their Sub-CAs 1460, contract 730, OEM provisioning 1460.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448

PrivateKey = ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed448.Ed448PublicKey


@dataclass(frozen=True)
class Profile:
    name: str
    text: str

    def new_key(self) -> PrivateKey:
        if self.name == "iso20-ed448":
            return ed448.Ed448PrivateKey.generate()
        return ec.generate_private_key(ec.SECP521R1() if self.name == "iso20" else ec.SECP256R1())


PROFILES = {
    "iso2": Profile("iso2", "ISO 15118-2: ECDSA secp256r1, SHA-256"),
    "iso20": Profile("iso20", "ISO 15118-20: ECDSA secp521r1, SHA-512"),
    "iso20-ed448": Profile("iso20-ed448", "ISO 15118-20: Ed448"),
}


def hash_for(key: PrivateKey) -> hashes.HashAlgorithm | None:
    """The signature hash a CA with this key uses: none for Ed448 (it hashes itself)."""
    if isinstance(key, ed448.Ed448PrivateKey):
        return None
    return hashes.SHA512() if isinstance(key.curve, ec.SECP521R1) else hashes.SHA256()


def profile_of(key: PrivateKey | PublicKey) -> Profile:
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return PROFILES["iso20-ed448"]
    return PROFILES["iso20" if isinstance(key.curve, ec.SECP521R1) else "iso2"]


@dataclass(frozen=True)
class Role:
    name: str
    ca: bool
    path_len: int | None  # for a CA; None: no limit (a root)
    days: int
    usages: frozenset[str] = frozenset()  # keyUsage bits of a leaf
    eku: tuple[x509.ObjectIdentifier, ...] = ()
    dc: str | None = None  # the domainComponent -2 puts in the subject


_CA_KU = frozenset({"key_cert_sign", "crl_sign"})
_EXCHANGE = frozenset({"digital_signature", "key_agreement"})
_CLIENT = (x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH,)
_SERVER = (x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,)

ROLES = {r.name: r for r in (
    Role("root", ca=True, path_len=None, days=3650, usages=_CA_KU),
    Role("sub1", ca=True, path_len=1, days=1460, usages=_CA_KU),
    Role("sub2", ca=True, path_len=0, days=365, usages=_CA_KU),
    Role("secc", ca=False, path_len=None, days=60, usages=_EXCHANGE, dc="CPO"),
    Role("contract", ca=False, path_len=None, days=730, dc="MO",
         usages=_EXCHANGE | {"content_commitment", "key_encipherment"}),
    Role("oem-prov", ca=False, path_len=None, days=1460, usages=_EXCHANGE, dc="OEM"),
    # OCPP security profile 3: the station's TLS client certificate, and the CSMS's server
    Role("station", ca=False, path_len=None, days=365, usages=_EXCHANGE, eku=_CLIENT),
    Role("csms", ca=False, path_len=None, days=365, usages=_EXCHANGE, eku=_SERVER),
)}  # fmt: skip
ISSUE_ROLES = sorted(name for name in ROLES if name != "root")


def key_usage(role: Role) -> x509.KeyUsage:
    bits = {name: name in role.usages for name in (
        "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
        "key_agreement", "key_cert_sign", "crl_sign")}  # fmt: skip
    return x509.KeyUsage(**bits, encipher_only=False, decipher_only=False)
