"""A throw-away PKI for the TLS tests: a root, a CSMS server certificate for 127.0.0.1 and
a station client certificate (CN = station identity, as security profile 3 expects)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = path.with_suffix(".key")
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    key_path.chmod(0o600)


def make_pki(folder: Path, station_id: str = "CS1", *, expired: tuple[str, ...] = (),
             revoked: tuple[str, ...] = ()) -> dict[str, Path]:  # fmt: skip
    """``expired``: leaves ("csms", "station") whose validity ended yesterday; ``revoked``:
    leaves listed in the root's CRL (written as crl.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    life = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=30))
    past = (now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
    serials: dict[str, int] = {}
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (x509.CertificateBuilder().subject_name(_name("v2gate test root"))
            .issuer_name(_name("v2gate test root")).public_key(root_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(life[0])
            .not_valid_after(life[1])
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                           critical=True)
            .sign(root_key, hashes.SHA256()))  # fmt: skip
    _write(folder / "root", root, root_key)

    def leaf(name: str, cn: str, usage: x509.ObjectIdentifier, san: x509.GeneralName | None) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        valid = past if name in expired else life
        serials[name] = x509.random_serial_number()
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(root.subject)
                   .public_key(key.public_key()).serial_number(serials[name])
                   .not_valid_before(valid[0]).not_valid_after(valid[1])
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))  # fmt: skip
        if san is not None:
            builder = builder.add_extension(x509.SubjectAlternativeName([san]), critical=False)
        _write(folder / name, builder.sign(root_key, hashes.SHA256()), key)

    leaf("csms", "127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH,
         x509.IPAddress(ipaddress.ip_address("127.0.0.1")))  # fmt: skip
    leaf("station", station_id, ExtendedKeyUsageOID.CLIENT_AUTH, None)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(root.subject)
           .last_update(life[0]).next_update(life[1]))  # fmt: skip
    for name in revoked:
        crl = crl.add_revoked_certificate(x509.RevokedCertificateBuilder()
                                          .serial_number(serials[name]).revocation_date(life[0])
                                          .build())  # fmt: skip
    (folder / "crl.pem").write_bytes(crl.sign(root_key, hashes.SHA256())
                                     .public_bytes(serialization.Encoding.PEM))  # fmt: skip
    return {n: folder / f"{n}.pem" for n in ("root", "csms", "station", "crl")} | {
        f"{n}_key": folder / f"{n}.key" for n in ("root", "csms", "station")
    }
