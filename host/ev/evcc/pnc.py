"""The car's side of ISO 15118-2 Plug & Charge: what it holds (contract chain and key, the
OEM provisioning certificate and key, the V2G roots it trusts) and what it does with them
(sign AuthorizationReq, MeteringReceiptReq and Certificate*Req; check the SECC's signed
SalesTariff and the provisioning service's CertificateInstallation/UpdateRes; unwrap the new
contract key). ``Iso2Evcc`` calls these when ``Iso2Config.pnc`` is set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from host.exi.schemas import iso2 as i
from host.pki import files
from host.secc import certs
from host.secc.pnc import CERTIFICATE_SERVICE_ID, utc_now

SIGNED_ID = "id1"  # the Id our signed requests carry
# V2G_EVCC_Msg_Timeout for PaymentDetailsReq, CertificateInstallationReq and
# CertificateUpdateReq (-2 Table 109; the other requests have 2 s)
SLOW_REQUESTS = (i.PaymentDetailsReq, i.CertificateInstallationReq, i.CertificateUpdateReq)
SLOW_MSG_TIMEOUT = 5.0


@dataclass
class EvPnc:
    """``contract`` None (or ``install``) makes the EV ask for one with
    CertificateInstallationReq first; ``update`` asks for a new one with
    CertificateUpdateReq."""

    contract: certs.ContractChain | None
    contract_key: ec.EllipticCurvePrivateKey | None
    oem_cert: x509.Certificate | None = None
    oem_key: ec.EllipticCurvePrivateKey | None = None
    v2g_roots: list[x509.Certificate] = field(default_factory=list)
    install: bool = False
    update: bool = False
    check_tariff: bool = True  # verify a signed SalesTariff with the contract's Sub-CA 2
    clock: Callable[[], dt.datetime] = utc_now

    @property
    def emaid(self) -> str:
        assert self.contract is not None
        return certs.common_name(self.contract.leaf)

    def wants_certificate(self) -> bool:
        return self.install or self.update or self.contract is None

    # --- requests -----------------------------------------------------------------------------

    def services(self, offered: Any) -> list[int]:
        """The value-added services to select besides charging: the certificate service
        when we need it and the SECC offers it."""
        ids = {s.ServiceID for s in getattr(offered, "Service", [])}
        return [CERTIFICATE_SERVICE_ID] if (self.wants_certificate()
                                            and CERTIFICATE_SERVICE_ID in ids) else []

    def certificate_request(self) -> Any:
        roots = i.ListOfRootCertificateIDsType(RootCertificateID=[
            i.X509IssuerSerialType(X509IssuerName=r.issuer.rfc4514_string(),
                                   X509SerialNumber=r.serial_number) for r in self.v2g_roots])
        if self.update and self.contract is not None:
            return i.CertificateUpdateReq(Id=SIGNED_ID,
                                          ContractSignatureCertChain=self.contract.as_iso2(),
                                          eMAID=self.emaid, ListOfRootCertificateIDs=roots)
        assert self.oem_cert is not None, "CertificateInstallation needs the OEM certificate"
        return i.CertificateInstallationReq(
            Id=SIGNED_ID, OEMProvisioningCert=self.oem_cert.public_bytes(Encoding.DER),
            ListOfRootCertificateIDs=roots)  # fmt: skip

    def payment_details(self) -> i.PaymentDetailsReq:
        assert self.contract is not None
        return i.PaymentDetailsReq(eMAID=self.emaid,
                                   ContractSignatureCertChain=self.contract.as_iso2())

    def signature_for(self, request: Any) -> Any:
        """The header Signature a -2 request needs, or None."""
        if isinstance(request, i.CertificateInstallationReq):
            assert self.oem_key is not None
            return certs.sign([(request.Id, request)], self.oem_key)
        if isinstance(request, i.AuthorizationReq | i.MeteringReceiptReq | i.CertificateUpdateReq):
            assert self.contract_key is not None
            if request.Id is None:
                return None
            return certs.sign([(request.Id, request)], self.contract_key)
        return None

    # --- responses ----------------------------------------------------------------------------

    def take_certificate(self, res: Any, signature: Any) -> str | None:
        """Check a CertificateInstallation/UpdateRes (the provisioning chain against our V2G
        roots, its signature over the four elements) and take the new contract and key;
        None, or why not."""
        try:
            cps, cps_subs = certs.chain_of(res.SAProvisioningCertificateChain)
            certs.check_chain(cps, cps_subs, self.v2g_roots, self.clock())
            leaf, subs = certs.chain_of(res.ContractSignatureCertChain)
            leaf_key = certs.public_key(leaf)
        except certs.ChainError as exc:
            return f"{exc.code}: {exc}"
        why = certs.verify(signature, [
            (res.ContractSignatureCertChain.Id, res.ContractSignatureCertChain),
            (res.ContractSignatureEncryptedPrivateKey.Id, res.ContractSignatureEncryptedPrivateKey),
            (res.DHpublickey.Id, res.DHpublickey), (res.eMAID.Id, res.eMAID)], cps.public_key())
        if why:
            return why
        own = self.contract_key if isinstance(res, i.CertificateUpdateRes) else self.oem_key
        assert own is not None
        try:
            key = certs.decrypt_key(res.ContractSignatureEncryptedPrivateKey.value,
                                    res.DHpublickey.value, own)  # fmt: skip
        except ValueError as exc:
            return f"the contract key does not decrypt: {exc}"
        if key.public_key().public_numbers() != leaf_key.public_numbers():
            return "the decrypted key is not the contract certificate's"
        self.contract, self.contract_key = certs.ContractChain(leaf, tuple(subs)), key
        self.install = self.update = False
        return None

    def check_tariffs(self, tuples: list[Any], signature: Any) -> str | None:
        """Signed SalesTariffs must verify with the MO Sub-CA 2 of our contract chain."""
        tariffs = [t.SalesTariff for t in tuples if t.SalesTariff is not None]
        if not tariffs or not self.check_tariff or self.contract is None or not self.contract.subs:
            return None
        if any(t.Id is None for t in tariffs):
            return "a SalesTariff without an Id cannot be signed"
        return certs.verify(signature, [(t.Id, t) for t in tariffs],
                            self.contract.subs[0].public_key())



def ev_from_folder(folder: Path, **kw: Any) -> EvPnc:
    """The EV's credentials from a `v2gate pki init` folder: contract_chain.pem and
    contract.key, oem_prov.pem and oem_prov.key, v2g_root.pem. PkiError names a missing
    file."""
    leaf, *subs = files.read_certs(folder / "contract_chain.pem")
    keys = [files.read_key(folder / name) for name in ("contract.key", "oem_prov.key")]
    for name, key in zip(("contract.key", "oem_prov.key"), keys, strict=True):
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise files.PkiError(f"{folder / name}: not an ECDSA key")
        if not isinstance(key.curve, ec.SECP256R1):  # -2 signs r || s of 32 bytes each
            raise files.PkiError(f"{folder / name}: a {key.curve.name} key, ISO 15118-2 "
                                 "signs on secp256r1 (an iso2 folder)")
    contract_key, oem_key = keys
    assert isinstance(contract_key, ec.EllipticCurvePrivateKey)
    assert isinstance(oem_key, ec.EllipticCurvePrivateKey)
    return EvPnc(certs.ContractChain(leaf, tuple(subs)), contract_key,
                 oem_cert=files.read_certs(folder / "oem_prov.pem")[0], oem_key=oem_key,
                 v2g_roots=files.read_certs(folder / "v2g_root.pem"), **kw)  # fmt: skip
