"""The station's certificates under OCPP (Part 2 block A and M): InstallCertificate,
GetInstalledCertificateIds, DeleteCertificate, SignCertificate -> CertificateSigned for the
charging-station (TLS client) and V2G (SECC) certificates, and the OCSP request data of
GetCertificateStatus.

Files, in one folder: ``roots/<certificateType>/<serial>.pem`` for installed roots, and
``<use>.pem`` (chain, leaf first) with ``<use>.key`` (0600) for ChargingStationCertificate
and V2GCertificate. A CSR's key waits in ``<use>.key.new`` (0600) until its certificate
comes; the new chain is checked with host/pki's ``check`` (chain to an installed root,
validity, the key matching and 0600) in a scratch folder before it replaces the old pair.

Hash data (CertificateHashDataType, as in an OCSP CertID, RFC 6960 §4.1.1): issuerNameHash
over the DER of the issuer's name, issuerKeyHash over the issuer's public key bits (the
BIT STRING's value), serialNumber in hex without leading zeroes (lower case, *verify*);
SHA256. For a root the issuer is itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID

from host.pki import check as pki_check
from host.pki import files
from host.pki.check import issued_by
from host.pki.files import PkiError
from host.pki.issue import csr

ROOT_TYPES = ("V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate",
              "ManufacturerRootCertificate", "OEMRootCertificate")  # fmt: skip
CHAIN_OF = {"ChargingStationCertificate": None,  # not reported by GetInstalledCertificateIds
            "V2GCertificate": "V2GCertificateChain"}  # fmt: skip


def hash_data(cert: x509.Certificate, issuer: x509.Certificate) -> dict:
    key_bits = issuer.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    return {"hashAlgorithm": "SHA256",
            "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
            "issuerKeyHash": hashlib.sha256(_bit_string_value(key_bits)).hexdigest(),
            "serialNumber": format(cert.serial_number, "x")}  # fmt: skip


def _bit_string_value(spki: bytes) -> bytes:
    """The subjectPublicKey bits of a DER SubjectPublicKeyInfo (SEQUENCE { algorithm,
    BIT STRING }): the BIT STRING's content after its unused-bits octet."""

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


def same(a: dict, b: dict) -> bool:
    """Hash data equal (hex case-insensitive, serial without leading zeroes)."""
    return (a["hashAlgorithm"] == b["hashAlgorithm"]
            and a["issuerNameHash"].lower() == b["issuerNameHash"].lower()
            and a["issuerKeyHash"].lower() == b["issuerKeyHash"].lower()
            and a["serialNumber"].lower().lstrip("0") == b["serialNumber"].lower().lstrip("0"))  # fmt: skip


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
        out["statusInfo"] = {"reasonCode": reason, "additionalInfo": info[:1024]}
    return out


class CertificateStore:
    def __init__(self, folder: Path, subject: x509.Name,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:  # fmt: skip
        self.folder = folder
        self.subject = subject  # of our CSRs (the station's identity)
        self.clock = clock
        (folder / "roots").mkdir(parents=True, exist_ok=True)

    # --- roots ----------------------------------------------------------------------------

    def roots(self, kind: str) -> list[tuple[Path, x509.Certificate]]:
        folder = self.folder / "roots" / kind
        if not folder.is_dir():
            return []
        return [(p, files.read_certs(p)[0]) for p in sorted(folder.glob("*.pem"))]

    def install(self, req: dict) -> dict:
        """InstallCertificateRequest: a root of the given type."""
        try:
            certs = x509.load_pem_x509_certificates(req["certificate"].encode())
        except ValueError:
            return _status("Rejected", "InvalidCertificate", "not a PEM certificate")  # *verify* code
        if len(certs) != 1:
            return _status("Rejected", "InvalidCertificate", f"{len(certs)} certificates, want one root")
        cert = certs[0]
        if not issued_by(cert, cert):
            return _status("Rejected", "InvalidCertificate", "not a self-signed root")
        now = self.clock()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return _status("Rejected", "InvalidCertificate", "outside its validity")
        folder = self.folder / "roots" / req["certificateType"]
        folder.mkdir(parents=True, exist_ok=True)
        try:
            files.write_certs(folder / f"{cert.serial_number:x}.pem", cert)
        except (OSError, PkiError) as e:
            return _status("Failed", "WriteError", str(e))  # *verify* code
        return _status("Accepted")

    # --- ids and deletion -------------------------------------------------------------------

    def chain(self, use: str) -> list[x509.Certificate]:
        path = self.folder / f"{use}.pem"
        return files.read_certs(path) if path.exists() else []

    def installed(self) -> list[dict]:
        """Every CertificateHashDataChainType we hold, roots and the V2G chain."""
        out = []
        for kind in ROOT_TYPES:
            for _p, cert in self.roots(kind):
                out.append({"certificateType": kind, "certificateHashData": hash_data(cert, cert)})
        chain = self.chain("V2GCertificate")
        if chain:
            item: dict = {"certificateType": "V2GCertificateChain",
                          "certificateHashData": hash_data(chain[0], chain[1] if len(chain) > 1 else chain[0])}  # fmt: skip
            subs = [hash_data(c, chain[n + 1] if n + 1 < len(chain) else c)
                    for n, c in enumerate(chain) if n > 0 and not issued_by(c, c)]  # fmt: skip
            if subs:
                item["childCertificateHashData"] = subs[:4]
            out.append(item)
        return out

    def get_ids(self, req: dict) -> dict:
        wanted = req.get("certificateType")
        found = [c for c in self.installed() if wanted is None or c["certificateType"] in wanted]
        if not found:
            return _status("NotFound")
        return {"status": "Accepted", "certificateHashDataChain": found}

    def delete(self, req: dict) -> dict:
        """DeleteCertificateRequest: an installed root. The station's own certificates are
        not deleted this way (M04: *verify* the FR): Failed."""
        target = req["certificateHashData"]
        for use in CHAIN_OF:
            chain = self.chain(use)
            if chain and same(hash_data(chain[0], chain[1] if len(chain) > 1 else chain[0]), target):
                return _status("Failed", "NotAllowed", f"the {use} is replaced, not deleted")
        for kind in ROOT_TYPES:
            for path, cert in self.roots(kind):
                if same(hash_data(cert, cert), target):
                    path.unlink()
                    return _status("Accepted")
        return _status("NotFound")

    # --- SignCertificate -> CertificateSigned -------------------------------------------------

    def sign_request(self, use: str, request_id: int | None = None) -> dict:
        """A new key (P-256, 0600, kept beside the old pair until its certificate comes) and
        SignCertificateRequest with its CSR."""
        key = ec.generate_private_key(ec.SECP256R1())
        files.write_key(self.folder / f"{use}.key.new", key)
        pem = csr(self.subject, key).public_bytes(serialization.Encoding.PEM).decode()
        out: dict = {"csr": pem, "certificateType": use}
        if request_id is not None:
            out["requestId"] = request_id
        return out

    def certificate_signed(self, req: dict) -> dict:
        """CertificateSignedRequest: the chain for the waiting key, checked (chain to an
        installed root, validity, key) before it replaces the old pair."""
        use = req.get("certificateType", "ChargingStationCertificate")
        pending = self.folder / f"{use}.key.new"
        if not pending.exists():
            return _status("Rejected", "NoRequest", f"no SignCertificate for {use} waiting")
        try:
            chain = x509.load_pem_x509_certificates(req["certificateChain"].encode())
        except ValueError:
            return _status("Rejected", "InvalidCertificate", "not a PEM chain")
        with tempfile.TemporaryDirectory(dir=self.folder) as scratch:
            tmp = Path(scratch)
            files.write_certs(tmp / f"{use}.pem", *chain)
            os.link(pending, tmp / f"{use}.key")
            for n, (_p, root) in enumerate(r for kind in ROOT_TYPES for r in self.roots(kind)):
                files.write_certs(tmp / f"root{n}.pem", root)
            report = pki_check.check([tmp], now=self.clock())
        if report.problems:
            why = "; ".join(p.replace(str(tmp) + "/", "") for p in report.problems)
            return _status("Rejected", "InvalidCertificate", why)
        files.write_certs(self.folder / f"{use}.pem", *chain)
        os.replace(pending, self.folder / f"{use}.key")  # the pair is complete only now
        return _status("Accepted")


def attach(st: object, store: CertificateStore) -> None:
    """Register the certificate routes with a StationConnection (``add_routes``). The
    station's own CALLs: ``sign_request`` -> SignCertificate, ``ocsp_request_data`` ->
    GetCertificateStatus (``call_with_result``: the CSMS's answer to the caller)."""
    from .machine import Route

    def route(handler: Callable[[dict], dict]) -> Route:
        return Route(lambda obj: obj, lambda req, _now: handler(req))

    st.add_routes({"InstallCertificate": route(store.install),  # type: ignore[attr-defined]
                   "GetInstalledCertificateIds": route(store.get_ids),
                   "DeleteCertificate": route(store.delete),
                   "CertificateSigned": route(store.certificate_signed)})  # fmt: skip
