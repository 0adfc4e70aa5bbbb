"""The station's certificates under OCPP (Part 2 A02/A03 and M03-M06), sans-I/O apart from
its own folder. Get15118EVCertificate (M01/M02) for the SECC is evcertificate.py.

- ``sign(use, now)`` makes a P-256 key and a CSR (CN the serial number, O the
  SecurityCtrlr.OrganizationName, DC=CPO for the SECC's V2G certificate) and sends
  SignCertificate; TriggerMessage Sign*Certificate calls it. The key waits as
  ``<use>.pending.key`` (0600 from its first byte) beside the old pair.
- CertificateSigned is Accepted only for a chain in which each certificate is signed by the
  next and which host/pki ``check`` passes in a scratch folder (a path to an installed
  root, every certificate valid now, the leaf carrying the waiting key, the key 0600); then
  chain and key replace ``<use>.pem`` / ``<use>.key`` and ``on_installed`` hears of it (a
  new charging-station certificate is for the next connection).
- InstallCertificate stores one self-signed CA under ``roots/<certificateType>/``;
  DeleteCertificate and GetInstalledCertificateIds find certificates by hash data. The
  last CSMS root is not deleted (local choice: the station would lock itself out), nor our
  own certificates (they are replaced by CertificateSigned).
- ``certificate_status`` sends GetCertificateStatus (M06) with the OCSP request data of a
  certificate that names a responder.

Hash data (CertificateHashDataType, as in an OCSP CertID, RFC 6960 §4.1.1): issuerNameHash
over the DER of the issuer's name, issuerKeyHash over the issuer's subjectPublicKey bits,
serialNumber in hex without leading zeroes (lower case, *verify*), in the algorithm the
CSMS names; for a root the issuer is itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID

from host.pki import check as pki_check
from host.pki import files
from host.pki.check import issued_by
from host.pki.files import PkiError
from host.pki.issue import csr, name
from host.pki.profiles import PROFILES

from .machine import Route, StationConnection
from .messages import (
    CertificateSignedRequest,
    DeleteCertificateRequest,
    GetInstalledCertificateIdsRequest,
    InstallCertificateRequest,
)

ROOT_TYPES = ("V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate",
              "ManufacturerRootCertificate", "OEMRootCertificate")  # OEM: 2.1  # fmt: skip
SIGNED_USES = ("ChargingStationCertificate", "V2GCertificate")
CHILDREN_MAX = 4  # CertificateHashDataChainType.childCertificateHashData maxItems
_HASHES = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}


@dataclass(frozen=True)
class CertificateInstalled:
    """A CertificateSigned chain is in place: ``chain`` and ``key`` are its files."""

    use: str
    chain: Path
    key: Path


def hash_data(cert: x509.Certificate, issuer: x509.Certificate, algorithm: str = "SHA256") -> dict:
    h = _HASHES[algorithm]
    spki = issuer.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    return {"hashAlgorithm": algorithm,
            "issuerNameHash": h(cert.issuer.public_bytes()).hexdigest(),
            "issuerKeyHash": h(_bit_string_value(spki)).hexdigest(),
            "serialNumber": format(cert.serial_number, "x")}  # fmt: skip


def _bit_string_value(spki: bytes) -> bytes:
    """The subjectPublicKey bits of a DER SubjectPublicKeyInfo (SEQUENCE { algorithm,
    BIT STRING }): the BIT STRING's content after its unused-bits octet. Any key type."""

    def header(data: bytes, at: int) -> tuple[int, int]:  # (content start, content length)
        n = data[at + 1]
        if n < 0x80:
            return at + 2, n
        size = n & 0x7F
        return at + 2 + size, int.from_bytes(data[at + 2:at + 2 + size], "big")

    start, _ = header(spki, 0)  # into the outer SEQUENCE
    alg_start, alg_len = header(spki, start)
    bits_start, bits_len = header(spki, alg_start + alg_len)
    return spki[bits_start + 1:bits_start + bits_len]


def same(cert: x509.Certificate, issuer: x509.Certificate, wanted: dict) -> bool:
    """``cert`` is the one ``wanted`` names (hex case and the serial's leading zeroes aside)."""
    ours = hash_data(cert, issuer, wanted["hashAlgorithm"])
    return all(ours[k].lower().lstrip("0") == wanted[k].lower().lstrip("0")
               for k in ("issuerNameHash", "issuerKeyHash", "serialNumber"))  # fmt: skip


def ocsp_request_data(cert: x509.Certificate, issuer: x509.Certificate) -> dict | None:
    """GetCertificateStatusRequest.ocspRequestData for a certificate, None when it names
    no OCSP responder (its Authority Information Access)."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except x509.ExtensionNotFound:
        return None
    urls = [d.access_location.value for d in aia.value
            if d.access_method == AuthorityInformationAccessOID.OCSP]  # fmt: skip
    if not urls:
        return None
    return hash_data(cert, issuer) | {"responderURL": str(urls[0])[:2000]}


def _status(status: str, reason: str | None = None, info: str = "") -> dict:
    out: dict = {"status": status}
    if reason is not None:
        out["statusInfo"] = {"reasonCode": reason}
        if info:
            out["statusInfo"]["additionalInfo"] = info[:512]
    return out


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


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
        (folder / "roots").mkdir(parents=True, exist_ok=True)
        conn.add_routes({
            "CertificateSigned": Route(CertificateSignedRequest.from_json, self.certificate_signed),
            "InstallCertificate": Route(InstallCertificateRequest.from_json, self.install),
            "DeleteCertificate": Route(DeleteCertificateRequest.from_json, self.delete),
            "GetInstalledCertificateIds": Route(GetInstalledCertificateIdsRequest.from_json,
                                                self.get_ids),
        })  # fmt: skip

    # --- what the station asks for -----------------------------------------------------

    def sign(self, use: str, now: float, request_id: int | None = None) -> None:
        """SignCertificate for the charging-station (A02/A03) or the SECC's V2G certificate;
        ``request_id`` only on 2.1."""
        if use not in SIGNED_USES:
            raise ValueError(use)
        org = self.conn.model.value("SecurityCtrlr", "OrganizationName") or "v2gate"
        key = PROFILES["iso2"].new_key()  # secp256r1: what ISO 15118-2 and OCPP TLS both take
        if use == "V2GCertificate":
            subject = name(self.v2g_name, org, self.country, "CPO")
        else:
            subject = name(self.common_name, org, self.country)
        files.write_key(self.folder / f"{use}.pending.key", key)
        payload: dict = {"csr": csr(subject, key).public_bytes(serialization.Encoding.PEM).decode(),
                         "certificateType": use}  # fmt: skip
        if request_id is not None:
            payload["requestId"] = request_id
        self.conn.call("SignCertificate", payload, now)

    def certificate_status(self, cert: x509.Certificate, issuer: x509.Certificate, now: float,
                           done: Callable[[dict | None, str], None] = lambda r, why: None) -> bool:  # fmt: skip
        """GetCertificateStatus (M06): the CSMS asks the certificate's OCSP responder for
        us; ``done`` gets its answer. False (nothing sent) when it names no responder."""
        data = ocsp_request_data(cert, issuer)
        if data is None:
            return False
        self.conn.call_with_result("GetCertificateStatus", {"ocspRequestData": data}, now, done)
        return True

    def roots(self, kind: str) -> list[tuple[Path, x509.Certificate]]:
        folder = self.folder / "roots" / kind
        if not folder.is_dir():
            return []
        return [(p, files.read_certs(p)[0]) for p in sorted(folder.glob("*.pem"))]

    def chain(self, use: str) -> list[x509.Certificate]:
        """Our chain for a SIGNED_USES, leaf first; empty when there is none yet."""
        path = self.folder / f"{use}.pem"
        return files.read_certs(path) if path.exists() else []

    def _issuer_of(self, chain: list[x509.Certificate], n: int) -> x509.Certificate:
        """The issuer of chain[n]: the next one, else the installed root that signed it,
        else itself."""
        if n + 1 < len(chain):
            return chain[n + 1]
        roots = (c for kind in ROOT_TYPES for _p, c in self.roots(kind))
        return next((r for r in roots if issued_by(chain[n], r)), chain[n])

    # --- CSMS requests -----------------------------------------------------------------

    def install(self, req: InstallCertificateRequest, now: float) -> dict:
        try:
            certs = x509.load_pem_x509_certificates(req.certificate.encode())
        except ValueError:
            return _status("Rejected", "InvalidCertificate", "not a PEM certificate")
        if len(certs) != 1:
            return _status("Rejected", "InvalidCertificate", f"{len(certs)} certificates, want one root")
        cert = certs[0]
        if not issued_by(cert, cert):
            return _status("Rejected", "InvalidCertificate", "not a self-signed root")
        if not _is_ca(cert):
            return _status("Rejected", "InvalidCertificate", "not a CA (basicConstraints)")
        when = dt.datetime.fromtimestamp(now, dt.UTC)
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            return _status("Rejected", "InvalidCertificate", "outside its validity")
        folder = self.folder / "roots" / req.use
        der = cert.public_bytes(serialization.Encoding.DER)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            files.write_certs(folder / f"{hashlib.sha256(der).hexdigest()[:32]}.pem", cert)
        except (OSError, PkiError) as e:
            return _status("Failed", "WriteError", str(e))  # *verify* code
        return _status("Accepted")

    def get_ids(self, req: GetInstalledCertificateIdsRequest, now: float) -> dict:
        uses = list(req.uses) or [*ROOT_TYPES, "V2GCertificateChain"]
        if self.conn.version == "2.0.1":  # no OEM roots in 2.0.1's enum
            uses = [u for u in uses if u != "OEMRootCertificate"]
        found = []
        for use in uses:
            if use == "V2GCertificateChain":
                chain = self.chain("V2GCertificate")
                if not chain:
                    continue
                entry: dict = {"certificateType": use,
                               "certificateHashData": hash_data(chain[0], self._issuer_of(chain, 0))}  # fmt: skip
                subs = [hash_data(c, self._issuer_of(chain, n)) for n, c in enumerate(chain)
                        if n > 0 and not issued_by(c, c)]  # fmt: skip
                if subs:
                    entry["childCertificateHashData"] = subs[:CHILDREN_MAX]
                found.append(entry)
            elif use in ROOT_TYPES:
                found += [{"certificateType": use, "certificateHashData": hash_data(c, c)}
                          for _p, c in self.roots(use)]  # fmt: skip
        if not found:
            return _status("NotFound")
        return {"status": "Accepted", "certificateHashDataChain": found}

    def delete(self, req: DeleteCertificateRequest, now: float) -> dict:
        wanted = req.hash_data
        for use in SIGNED_USES:
            chain = self.chain(use)
            if chain and same(chain[0], self._issuer_of(chain, 0), wanted):
                return _status("Failed", "NotAllowed", f"the {use} is replaced, not deleted")
        for kind in ROOT_TYPES:
            roots = self.roots(kind)
            for path, cert in roots:
                if not same(cert, cert, wanted):
                    continue
                if kind == "CSMSRootCertificate" and len(roots) == 1:
                    return _status("Failed", "LastCSMSRoot", "the station would lock itself out")
                path.unlink()
                return _status("Accepted")
        return _status("NotFound")

    def certificate_signed(self, req: CertificateSignedRequest, now: float) -> dict:
        use = req.use
        pending = self.folder / f"{use}.pending.key"
        if not pending.exists():
            return _status("Rejected", "NoCSR", f"no SignCertificate for {use} waiting")
        try:
            chain = x509.load_pem_x509_certificates(req.chain.encode())
        except ValueError:
            return _status("Rejected", "InvalidCertificate", "not a PEM certificate chain")
        for cert, issuer in zip(chain, chain[1:], strict=False):
            if not issued_by(cert, issuer):
                return _status("Rejected", "InvalidCertificate", f"{cert.subject.rfc4514_string()} is "
                                                                 "not signed by the next certificate")  # fmt: skip
        with tempfile.TemporaryDirectory(dir=self.folder) as scratch:
            tmp = Path(scratch)
            files.write_certs(tmp / f"{use}.pem", *chain)
            os.link(pending, tmp / f"{use}.key")
            for n, (_p, root) in enumerate(r for kind in ROOT_TYPES for r in self.roots(kind)):
                files.write_certs(tmp / f"root{n}.pem", root)
            report = pki_check.check([tmp], now=dt.datetime.fromtimestamp(now, dt.UTC))
            # only what concerns the new pair: an installed root's own problem is not its
            problems = [p.replace(str(tmp) + "/", "") for p in report.problems if f"/{use}." in p]
        if problems:
            return _status("Rejected", "InvalidCertificate", "; ".join(problems))
        chain_path, key_path = self.folder / f"{use}.pem", self.folder / f"{use}.key"
        files.write_certs(chain_path, *chain)
        os.replace(pending, key_path)  # the pair is complete only now; still 0600
        self.on_installed(CertificateInstalled(use, chain_path, key_path))
        return _status("Accepted")
