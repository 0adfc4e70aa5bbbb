"""Certificate management (OCPP 2.0.1 Part 2 A02/A03 and M01-M06), sans-I/O apart from
its own folder.

- ``sign(use, now)`` makes a key pair and a CSR (``cryptography``, via host/pki) and sends
  SignCertificate; the key waits as ``<use>.pending.key`` (0600 from its first byte). The
  CSMS's CertificateSigned is Accepted only for a chain whose leaf carries that key, whose
  certificates each sign the one before and whose leaf is valid now; then chain and key take
  the place of the previous ones (``<use>.pem`` / ``<use>.key``) and ``CertificateInstalled``
  tells the station (a new charging-station certificate is used from the next connection).
- InstallCertificate stores a CA certificate under its use; DeleteCertificate and
  GetInstalledCertificateIds find them by CertificateHashData (hash of the issuer's DER
  name, hash of the issuer's public key, serial in hex). The last CSMS root cannot be
  deleted (local choice: the station would lock itself out).
- ``ev_certificate`` (Get15118EVCertificate, for the SECC's CertificateInstallation/Update)
  and ``certificate_status`` (GetCertificateStatus, OCSP) are CALLs whose answers come back
  as ``CallAnswered`` events for the SECC side.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448

from host.pki.files import write_atomic, write_certs, write_key
from host.pki.issue import csr, name
from host.pki.profiles import PROFILES

from .machine import Route, StationConnection
from .messages import (
    CertificateSignedRequest,
    DeleteCertificateRequest,
    GetInstalledCertificateIdsRequest,
    InstallCertificateRequest,
)

ROOT_USES = ("V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate",
             "ManufacturerRootCertificate", "OEMRootCertificate")  # OEM: 2.1  # fmt: skip
SIGNED_USES = ("ChargingStationCertificate", "V2GCertificate")
_HASHES = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}


@dataclass(frozen=True)
class CertificateInstalled:
    """A CertificateSigned chain is in place: ``chain`` and ``key`` are its files."""

    use: str
    chain: Path
    key: Path


def _key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's content, which issuerKeyHash hashes (RFC 6960)."""
    key = cert.public_key()
    if isinstance(key, ed448.Ed448PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key.public_bytes(serialization.Encoding.X962,  # type: ignore[call-arg]
                            serialization.PublicFormat.UncompressedPoint)  # fmt: skip


def hash_data(cert: x509.Certificate, issuer: x509.Certificate, algorithm: str = "SHA256") -> dict:
    """CertificateHashDataType of ``cert`` (a root is its own issuer)."""
    h = _HASHES[algorithm]
    return {"hashAlgorithm": algorithm,
            "issuerNameHash": h(cert.issuer.public_bytes()).hexdigest(),
            "issuerKeyHash": h(_key_bits(issuer)).hexdigest(),
            "serialNumber": f"{cert.serial_number:x}"}  # fmt: skip


def _same(a: dict, b: dict) -> bool:
    return all(a[k].lower().lstrip("0") == b[k].lower().lstrip("0")
               for k in ("issuerNameHash", "issuerKeyHash", "serialNumber"))  # fmt: skip


class CertificateManager:
    def __init__(self, conn: StationConnection, folder: Path, *, common_name: str,
                 v2g_name: str | None = None, country: str = "DE",
                 on_installed: Callable[[CertificateInstalled], None] = lambda e: None) -> None:  # fmt: skip
        self.conn = conn
        self.folder = folder
        self.common_name = common_name  # the station's serial number (A02)
        self.v2g_name = v2g_name or common_name  # the SECC id
        self.country = country
        self.on_installed = on_installed
        folder.mkdir(parents=True, exist_ok=True)
        conn.add_routes({
            "CertificateSigned": Route(CertificateSignedRequest.from_json,
                                       self._on_certificate_signed),
            "InstallCertificate": Route(InstallCertificateRequest.from_json, self._on_install),
            "DeleteCertificate": Route(DeleteCertificateRequest.from_json, self._on_delete),
            "GetInstalledCertificateIds": Route(GetInstalledCertificateIdsRequest.from_json,
                                                self._on_get_ids),
        })  # fmt: skip

    # --- what the station asks for -----------------------------------------------------

    def sign(self, use: str, now: float) -> None:
        """A02/A03 (charging-station certificate), and the SECC's V2G certificate."""
        if use not in SIGNED_USES:
            raise ValueError(use)
        org = self.conn.model.value("SecurityCtrlr", "OrganizationName") or "v2gate"
        key = PROFILES["iso2"].new_key()  # secp256r1: what ISO 15118-2 and OCPP TLS both take
        if use == "V2GCertificate":
            subject = name(self.v2g_name, org, self.country, "CPO")
        else:
            subject = name(self.common_name, org, self.country)
        write_key(self.folder / f"{use}.pending.key", key)
        request = csr(subject, key).public_bytes(serialization.Encoding.PEM).decode()
        self.conn.call("SignCertificate", {"csr": request, "certificateType": use}, now)

    def ev_certificate(self, schema_version: str, action: str, exi_request: str, now: float) -> None:
        """Get15118EVCertificate (M01/M02): the EV's request, base64 EXI, passed through."""
        self.conn.call("Get15118EVCertificate", {"iso15118SchemaVersion": schema_version,
                                                 "action": action, "exiRequest": exi_request},
                       now)  # fmt: skip

    def certificate_status(self, cert: x509.Certificate, issuer: x509.Certificate,
                           responder_url: str, now: float) -> None:  # fmt: skip
        """GetCertificateStatus (M06): the CSMS asks the OCSP responder for us."""
        data = hash_data(cert, issuer) | {"responderURL": responder_url}
        self.conn.call("GetCertificateStatus", {"ocspRequestData": data}, now)

    def installed(self, use: str) -> list[x509.Certificate]:
        folder = self.folder / use
        if not folder.is_dir():
            return []
        return [x509.load_pem_x509_certificate(p.read_bytes()) for p in sorted(folder.glob("*.pem"))]

    def _issuer_of(self, cert: x509.Certificate) -> x509.Certificate:
        """The installed V2G root that issued ``cert``; itself when none did."""
        return next((r for r in self.installed("V2GRootCertificate") if r.subject == cert.issuer),
                    cert)  # fmt: skip

    # --- CSMS requests -----------------------------------------------------------------

    def _on_certificate_signed(self, req: CertificateSignedRequest, now: float) -> dict:
        use = req.use

        def rejected(reason: str, info: str) -> dict:
            return {"status": "Rejected", "statusInfo": {"reasonCode": reason,
                                                         "additionalInfo": info[:512]}}  # fmt: skip

        pending = self.folder / f"{use}.pending.key"
        try:
            chain = x509.load_pem_x509_certificates(req.chain.encode())
        except ValueError:
            return rejected("InvalidCertificate", "not a PEM certificate chain")
        if not pending.exists():
            return rejected("NoCSR", f"no {use} was asked for")
        key = serialization.load_pem_private_key(pending.read_bytes(), password=None)
        if _key_bits(chain[0]) != _key_bits_of(key):
            return rejected("InvalidCertificate", "the leaf does not carry the key of our CSR")
        when = dt.datetime.fromtimestamp(now, dt.UTC)
        if not chain[0].not_valid_before_utc <= when < chain[0].not_valid_after_utc:
            return rejected("InvalidCertificate", "the leaf is not valid now")
        for cert, issuer in zip(chain, chain[1:], strict=False):
            try:
                cert.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature):
                return rejected("InvalidCertificate", f"{cert.subject.rfc4514_string()} is not "
                                                      f"signed by the next certificate")  # fmt: skip
        chain_path, key_path = self.folder / f"{use}.pem", self.folder / f"{use}.key"
        write_certs(chain_path, *chain)
        os.replace(pending, key_path)  # still 0600: the mode travels with the file
        self.on_installed(CertificateInstalled(use, chain_path, key_path))
        return {"status": "Accepted"}

    def _on_install(self, req: InstallCertificateRequest, now: float) -> dict:
        try:
            cert = x509.load_pem_x509_certificate(req.certificate.encode())
        except ValueError:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCertificate"}}
        try:
            ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            ca = False
        when = dt.datetime.fromtimestamp(now, dt.UTC)
        if not ca or not cert.not_valid_before_utc <= when < cert.not_valid_after_utc:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCertificate",
                                                         "additionalInfo": "not a valid CA"}}  # fmt: skip
        folder = self.folder / req.use
        folder.mkdir(exist_ok=True)
        der = cert.public_bytes(serialization.Encoding.DER)
        write_atomic(folder / f"{hashlib.sha256(der).hexdigest()[:32]}.pem",
                     cert.public_bytes(serialization.Encoding.PEM), 0o644)  # fmt: skip
        return {"status": "Accepted"}

    def _on_delete(self, req: DeleteCertificateRequest, now: float) -> dict:
        wanted = req.hash_data
        for use in ROOT_USES:
            for path in sorted((self.folder / use).glob("*.pem")) if (self.folder / use).is_dir() else []:
                cert = x509.load_pem_x509_certificate(path.read_bytes())
                if not _same(hash_data(cert, cert, wanted["hashAlgorithm"]), wanted):
                    continue
                if use == "CSMSRootCertificate" and len(self.installed(use)) == 1:
                    return {"status": "Failed", "statusInfo": {"reasonCode": "LastCSMSRoot"}}
                path.unlink()
                return {"status": "Accepted"}
        return {"status": "NotFound"}

    def _on_get_ids(self, req: GetInstalledCertificateIdsRequest, now: float) -> dict:
        uses = list(req.uses) or [*ROOT_USES, "V2GCertificateChain"]
        if self.conn.version == "2.0.1":
            uses = [u for u in uses if u != "OEMRootCertificate"]
        found = []
        for use in uses:
            if use == "V2GCertificateChain":
                path = self.folder / "V2GCertificate.pem"
                if path.exists():
                    chain = x509.load_pem_x509_certificates(path.read_bytes())
                    issuers = chain[1:] + [self._issuer_of(chain[-1])]
                    entry = {"certificateType": use, "certificateHashData": hash_data(chain[0], issuers[0])}
                    if len(chain) > 1:
                        entry["childCertificateHashData"] = [hash_data(c, i) for c, i
                                                             in zip(chain[1:], issuers[1:], strict=True)]  # fmt: skip
                    found.append(entry)
                continue
            for cert in self.installed(use):
                found.append({"certificateType": use, "certificateHashData": hash_data(cert, cert)})
        if not found:
            return {"status": "NotFound"}
        return {"status": "Accepted", "certificateHashDataChain": found}


def _key_bits_of(key: object) -> bytes:
    public = key.public_key()  # type: ignore[attr-defined]
    if isinstance(public, ed448.Ed448PublicKey):
        return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
