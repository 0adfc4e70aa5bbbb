"""ISO 15118-2 Plug & Charge on the SECC: the handlers and responses ``Iso2Secc`` takes from
``PncMixin`` when it is given a ``PncConfig`` (and only over TLS: -2 allows Contract only
over a TLS connection).

After PaymentServiceSelection(Contract) the EV may install or update its contract
(CertificateInstallation / CertificateUpdate, relayed to a ``backend.CertificateBackend``),
then sends PaymentDetailsReq with its contract chain: checked against the MO roots and the
wall clock (``certs.check_chain``), the EMAID against the certificate, the MO's canceled
contracts and the allow-list; the answer carries a fresh 16-byte GenChallenge. The EV's
AuthorizationReq must carry that challenge and be signed with the contract key over its EXI
fragment; MeteringReceiptReq too. SalesTariffs are signed by the configured secondary actor.

Codes: FAILED_CertChainError, FAILED_NoCertificateAvailable, FAILED_CertificateExpired,
FAILED_CertificateRevoked, FAILED_ContractCanceled, FAILED_CertificateNotAllowedAtThisEVSE
(PaymentDetails); FAILED_ChallengeInvalid, FAILED_SignatureError (Authorization, Certificate*);
FAILED_MeteringSignatureNotValid (MeteringReceipt).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from host.exi.schemas import iso2 as i
from host.pki import files
from host.pki.issue import Issued

from . import certs
from .backend import CertificateBackend, LocalCps
from .core import Reply

log = logging.getLogger(__name__)
Code = i.responseCodeType
CERTIFICATE_SERVICE_ID = 2  # -2 Table 105: the Certificate service
INSTALLATION, UPDATE = 1, 2  # its ParameterSetIDs
PNC_MAX_PAYLOAD = 64 * 1024  # chains and encrypted keys travel now


def normal_emaid(emaid: str) -> str:
    """EMAIDs are written with or without dashes, in any case (ISO 15118-2 Annex H)."""
    return emaid.replace("-", "").replace("*", "").upper()


@dataclass(frozen=True)
class AllowList:
    """The vehicles admitted (e.g. to V2G): EMAIDs and SHA-256 fingerprints of contract
    certificates. Empty: everyone with a valid chain."""

    emaids: frozenset[str] = frozenset()
    fingerprints: frozenset[bytes] = frozenset()

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> AllowList:
        """One entry a line: an EMAID, or ``sha256:HEX`` of a contract certificate; blank
        lines and ``#`` comments skipped."""
        emaids, prints = set(), set()
        for line in lines:
            entry = line.split("#", 1)[0].strip()
            if entry.lower().startswith("sha256:"):
                prints.add(bytes.fromhex(entry[7:]))
            elif entry:
                emaids.add(normal_emaid(entry))
        return cls(frozenset(emaids), frozenset(prints))

    def admits(self, emaid: str, cert: x509.Certificate) -> bool:
        if not self.emaids and not self.fingerprints:
            return True
        fingerprint = hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()
        return normal_emaid(emaid) in self.emaids or fingerprint in self.fingerprints


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def config_from_folder(folder: Path, *, allow: AllowList = AllowList(),
                       local_cps: bool = False) -> PncConfig:  # fmt: skip
    """A PncConfig from a `v2gate pki init` folder: the MO root to check contracts against,
    the MO Sub-CA 2 key to sign SalesTariffs; with ``local_cps`` an in-process CPS that
    issues contracts under that Sub-CA (a lab only). PkiError names a missing file."""
    mo_root = files.read_certs(folder / "mo_root.pem")[0]
    sub2_key = files.read_key(folder / "mo_sub2.key")
    if not isinstance(sub2_key, ec.EllipticCurvePrivateKey):
        raise files.PkiError(f"{folder / 'mo_sub2.key'}: not an ECDSA key")
    if not isinstance(sub2_key.curve, ec.SECP256R1):  # -2 signs with ECDSA-SHA256 on it
        raise files.PkiError(f"{folder / 'mo_sub2.key'}: a {sub2_key.curve.name} key, ISO "
                             "15118-2 signs SalesTariffs on secp256r1 (an iso2 folder)")
    backend = None
    if local_cps:
        v2g_key = files.read_key(folder / "v2g_root.key")
        backend = LocalCps(
            v2g_root=Issued(files.read_certs(folder / "v2g_root.pem")[0], v2g_key),
            mo_sub2=Issued(files.read_certs(folder / "mo_sub2.pem")[0], sub2_key),
            mo_sub1=files.read_certs(folder / "mo_sub1.pem")[0])  # fmt: skip
    return PncConfig(mo_roots=[mo_root], allow=allow, backend=backend, tariff_key=sub2_key)


@dataclass
class PncConfig:
    mo_roots: list[x509.Certificate]
    allow: AllowList = AllowList()
    revoked: frozenset[int] = frozenset()  # serial numbers (a CRL/OCSP result, when we have one)
    canceled: frozenset[str] = frozenset()  # EMAIDs whose contract the MO canceled
    backend: CertificateBackend | None = None
    tariff_key: ec.EllipticCurvePrivateKey | None = None  # signs SalesTariffs (MO Sub-CA 2)
    clock: Callable[[], dt.datetime] = utc_now  # certificate validity is wall-clock time
    random: Callable[[int], bytes] = os.urandom
    # -20 (host/secc/iso20_pnc.py): SHA-256 of the vehicle (OEM provisioning) certificates
    # mutual TLS may present (empty: any), and the eMSPs named in SupportedProviders
    vehicles: frozenset[bytes] = frozenset()
    providers: tuple[str, ...] = ()


class PncMixin:
    """Plug & Charge for ``Iso2Secc`` (which supplies the attributes below)."""

    pnc: PncConfig | None
    context: Any
    states: Any
    state: Any
    header_signature: Any
    signature_out: Any
    controller: Any
    challenge: bytes | None
    contract: x509.Certificate | None
    emaid: str
    signed_in: bool

    if TYPE_CHECKING:  # Iso2Secc's; stubs here would shadow them (the mixin comes first)
        def respond(self, request: Any, code: Any, now: float, **fields: Any) -> Any: ...

        def _authorize(self, req: Any, ev_id: str, state: Any, next_state: Any,
                       now: float) -> Reply: ...  # fmt: skip

    @property
    def pnc_offered(self) -> bool:
        return self.pnc is not None and bool(self.context.tls)

    def _cert_service_offered(self) -> bool:
        return self.pnc_offered and self.pnc is not None and self.pnc.backend is not None

    # --- ServiceDiscovery / ServiceDetail additions ------------------------------------------

    def payment_options(self) -> list[Any]:
        options = [i.paymentOptionType.ExternalPayment]
        return [i.paymentOptionType.Contract, *options] if self.pnc_offered else options

    def service_list(self) -> i.ServiceListType | None:
        if not self._cert_service_offered():
            return None
        return i.ServiceListType(Service=[i.ServiceType(
            ServiceID=CERTIFICATE_SERVICE_ID, ServiceName="Certificate",
            ServiceCategory=i.serviceCategoryType.ContractCertificate, FreeService=True)])

    def certificate_service_parameters(self) -> i.ServiceParameterListType:
        return i.ServiceParameterListType(ParameterSet=[
            i.ParameterSetType(ParameterSetID=n, Parameter=[
                i.ParameterType(Name="Service", stringValue=value)])
            for n, value in ((INSTALLATION, "Installation"), (UPDATE, "Update"))])

    def offered_service_ids(self) -> set[int]:
        return {1, CERTIFICATE_SERVICE_ID} if self._cert_service_offered() else {1}

    # --- handlers ---------------------------------------------------------------------------

    def _checked_contract(self, chain: Any) -> Any:
        """The contract leaf of `chain`, checked against the MO roots, the clock and the
        revocations (certs.ChainError with the response code otherwise)."""
        assert self.pnc is not None
        leaf, subs = certs.chain_of(chain)
        certs.check_chain(leaf, subs, self.pnc.mo_roots, self.pnc.clock(),
                          revoked=self.pnc.revoked)  # fmt: skip
        return leaf

    def _refuse_pnc(self, req: Any, code: str, why: str, now: float) -> Reply:
        log.warning("PnC %s refused (%s): %s", type(req).__name__, code, why)
        return Reply(self.respond(req, Code(code), now), self.state)

    def payment_details(self, req: i.PaymentDetailsReq, now: float) -> Reply:
        S = self.states
        assert self.pnc is not None  # the table reaches here only after Contract
        try:
            leaf = self._checked_contract(req.ContractSignatureCertChain)
        except certs.ChainError as exc:
            return self._refuse_pnc(req, exc.code, str(exc), now)
        emaid = certs.common_name(leaf)
        if normal_emaid(req.eMAID) != normal_emaid(emaid):
            return self._refuse_pnc(req, "FAILED_CertChainError",
                                    f"eMAID {req.eMAID} is not the contract's {emaid}", now)
        if normal_emaid(emaid) in {normal_emaid(e) for e in self.pnc.canceled}:
            return self._refuse_pnc(req, "FAILED_ContractCanceled", f"{emaid} canceled", now)
        if not self.pnc.allow.admits(emaid, leaf):
            log.warning("PnC: contract %s has a valid chain but is not on the allow-list: "
                        "refused (FAILED_CertificateNotAllowedAtThisEVSE)", emaid)
            return Reply(self.respond(req, Code.FAILED_CertificateNotAllowedAtThisEVSE, now),
                         self.state)  # fmt: skip
        self.contract, self.emaid = leaf, emaid
        self.challenge = self.pnc.random(16)
        self.signed_in = False
        return Reply(self.respond(req, Code.OK, now), S.AUTHORIZATION)

    def pnc_authorization(self, req: i.AuthorizationReq, now: float) -> Reply:
        S = self.states
        assert self.contract is not None
        # the first AuthorizationReq proves the key; repeats while Ongoing may come unsigned
        if not self.signed_in or self.header_signature is not None:
            if req.GenChallenge != self.challenge:
                return self._refuse_pnc(req, "FAILED_ChallengeInvalid",
                                        "GenChallenge is not the one we sent", now)
            why = ("AuthorizationReq has no Id to sign" if req.Id is None else certs.verify(
                self.header_signature, [(req.Id, req)], self.contract.public_key()))
            if why:
                return self._refuse_pnc(req, "FAILED_SignatureError", why, now)
            self.signed_in = True
        return self._authorize(req, self.emaid, S.AUTHORIZATION, S.CHARGE_PARAMETER_DISCOVERY,
                               now)  # fmt: skip

    def certificate_installation(self, req: i.CertificateInstallationReq, now: float) -> Reply:
        try:
            oem_key = certs.public_key(certs.load(req.OEMProvisioningCert))
        except certs.ChainError as exc:
            return self._refuse_pnc(req, exc.code, str(exc), now)
        why = certs.verify(self.header_signature, [(req.Id, req)], oem_key)
        if why:
            return self._refuse_pnc(req, "FAILED_SignatureError", why, now)
        return self._relay(req, now)

    def certificate_update(self, req: i.CertificateUpdateReq, now: float) -> Reply:
        assert self.pnc is not None
        try:
            leaf = self._checked_contract(req.ContractSignatureCertChain)
        except certs.ChainError as exc:
            return self._refuse_pnc(req, exc.code, str(exc), now)
        why = certs.verify(self.header_signature, [(req.Id, req)], leaf.public_key())
        if why:
            return self._refuse_pnc(req, "FAILED_SignatureError", why, now)
        return self._relay(req, now)

    def _relay(self, req: Any, now: float) -> Reply:
        assert self.pnc is not None
        if self.pnc.backend is None:
            return self._refuse_pnc(req, "FAILED_NoCertificateAvailable", "no backend", now)
        if isinstance(req, i.CertificateInstallationReq):
            got = self.pnc.backend.install(req, self.pnc.clock())
        else:
            got = self.pnc.backend.update(req, self.pnc.clock())
        if got.code != "OK":
            return self._refuse_pnc(req, got.code, got.why, now)
        self.signature_out = got.signature
        return Reply(got.response, self.state)

    def pnc_metering_receipt(self, req: i.MeteringReceiptReq) -> Any:
        """None if the receipt is signed with the contract key, else the code."""
        assert self.contract is not None
        why = ("MeteringReceiptReq has no Id to sign" if req.Id is None else certs.verify(
            self.header_signature, [(req.Id, req)], self.contract.public_key()))
        if why:
            log.warning("PnC MeteringReceiptReq refused: %s", why)
            return Code.FAILED_MeteringSignatureNotValid
        return None

    # --- SalesTariff --------------------------------------------------------------------------

    def sales_tariffs(self, tuples: list[i.SAScheduleTupleType]) -> None:
        """In a PnC session with a tariff signer: one SalesTariff per tuple (a single price
        level over the schedule), signed together in the response header."""
        if self.contract is None or self.pnc is None or self.pnc.tariff_key is None:
            return
        signed = []
        for n, t in enumerate(tuples, start=1):
            t.SalesTariff = i.SalesTariffType(
                Id=f"tariff{n}", SalesTariffID=t.SAScheduleTupleID, NumEPriceLevels=1,
                SalesTariffEntry=[i.SalesTariffEntry(
                    TimeInterval=i.RelativeTimeInterval(start=0, duration=None),
                    EPriceLevel=1)])  # fmt: skip
            signed.append((f"tariff{n}", t.SalesTariff))
        if signed:
            self.signature_out = certs.sign(signed, self.pnc.tariff_key)


def pnc_response(request: Any, code: Any, challenge: bytes | None, stamp: int) -> Any:
    """PaymentDetailsRes / Certificate*Res carrying ``code`` (the OK Certificate*Res come
    from the backend): the mandatory fields empty where there is nothing to say."""
    kind = type(request)
    if kind is i.PaymentDetailsReq:
        return i.PaymentDetailsRes(ResponseCode=code, GenChallenge=challenge or bytes(16),
                                   EVSETimeStamp=stamp)  # fmt: skip
    chain = i.CertificateChainType(Id=None, Certificate=b"", SubCertificates=None)
    key = i.ContractSignatureEncryptedPrivateKeyType(Id="k", value=b"")
    dh = i.DiffieHellmanPublickeyType(Id="d", value=b"")
    emaid = i.EMAIDType(Id="e", value="0" * 14)  # the schema wants 14..15 characters
    fields = dict(ResponseCode=code, SAProvisioningCertificateChain=chain,
                  ContractSignatureCertChain=chain, ContractSignatureEncryptedPrivateKey=key,
                  DHpublickey=dh, eMAID=emaid)  # fmt: skip
    if kind is i.CertificateInstallationReq:
        return i.CertificateInstallationRes(**fields)
    return i.CertificateUpdateRes(**fields, RetryCounter=None)
