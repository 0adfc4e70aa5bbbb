"""Where CertificateInstallation and CertificateUpdate go: a certificate provisioning
service (CPS) behind the SECC. The SECC checks what it can (the EV's signature, the old
contract chain) and relays; the backend issues the contract chain and the encrypted key and
signs the response (the CPS signs, not the SECC: -2 §7.9.2.4.3).

``CertificateBackend`` is the interface (OCPP's Get15118EVCertificate fills it later);
``CertificateBackend20`` the -20 CertificateInstallation one (the same OCPP message with
the -20 schema version could fill it). ``LocalCps`` is an in-process one of both for tests
and ``v2gate simulate``: it issues contract certificates under an MO Sub-CA 2 it holds and
signs with a CPS chain it makes under the V2G root (V2G root -> CPS Sub-CA 1 -> CPS Sub-CA 2
-> CPS leaf, with keys of the root's profile: secp256r1 for -2, secp521r1 or Ed448 for -20).

-20 (§8.3.4.3.9, §7.9.2.5): the CPS signs SignedInstallationData (the contract chain, the
ECDH curve, DHPublicKey and the encrypted key, ``keywrap20``) with the -20 header Signature
(``sig20``); the answer says how many more chains the EV may fetch by repeating the request
(RemainingContractCertificateChains). A backend that needs time answers None: the SECC
says EVSEProcessing=Ongoing and asks again when the EV repeats its request.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.serialization import Encoding

from host.exi.schemas import iso2 as i
from host.exi.schemas import iso20_common_messages as m
from host.pki.issue import Issued, issue, name
from host.pki.profiles import ROLES, profile_of

from . import certs, keywrap20, sig20

# the Ids the signed elements of the response carry (any unique xs:ID values do; these are
# the ones the peers use)
IDS = {"chain": "id1", "key": "id2", "dh": "id3", "emaid": "id4", "install20": "id1"}


@dataclass(frozen=True)
class Provisioned:
    """The backend's answer: ``code`` "OK" with the response body and its header Signature,
    or a FAILED_* name (``why`` for the log)."""

    code: str
    response: Any = None
    signature: Any = None
    why: str = ""


class CertificateBackend(Protocol):
    def install(self, req: i.CertificateInstallationReq, now: dt.datetime) -> Provisioned:
        """A contract for the EV whose OEM provisioning certificate is in ``req``."""
        ...

    def update(self, req: i.CertificateUpdateReq, now: dt.datetime) -> Provisioned:
        """A new contract for the one whose chain is in ``req`` (already checked)."""
        ...


@dataclass(frozen=True)
class Installed20:
    """The body of an OK -20 CertificateInstallationRes (the SECC adds the header)."""

    cps_chain: m.CertificateChainType
    data: m.SignedInstallationData
    remaining: int  # RemainingContractCertificateChains


class CertificateBackend20(Protocol):
    def install20(self, req: m.CertificateInstallationReq,
                  now: dt.datetime) -> Provisioned | None:  # fmt: skip
        """A contract for the EV whose OEM provisioning chain (already checked, with its
        signature) is in ``req``: Provisioned("OK", Installed20, Signature over the
        SignedInstallationData) or a -20 WARNING_*/FAILED code; None: not ready yet."""
        ...


def signed_response(kind: type, cps_chain: Any, contract: certs.ContractChain,
                    encrypted: bytes, dh: bytes, emaid: str, cps_key: Any,
                    **extra: Any) -> tuple[Any, Any]:  # fmt: skip
    """A CertificateInstallationRes / UpdateRes (``kind``) with its four signed elements and
    the CPS's Signature over them."""
    chain = contract.as_iso2(IDS["chain"])
    key = i.ContractSignatureEncryptedPrivateKeyType(Id=IDS["key"], value=encrypted)
    dh_key = i.DiffieHellmanPublickeyType(Id=IDS["dh"], value=dh)
    emaid_el = i.EMAIDType(Id=IDS["emaid"], value=emaid)
    res = kind(ResponseCode=i.responseCodeType.OK, SAProvisioningCertificateChain=cps_chain,
               ContractSignatureCertChain=chain, ContractSignatureEncryptedPrivateKey=key,
               DHpublickey=dh_key, eMAID=emaid_el, **extra)  # fmt: skip
    signature = certs.sign([(IDS["chain"], chain), (IDS["key"], key), (IDS["dh"], dh_key),
                            (IDS["emaid"], emaid_el)], cps_key)  # fmt: skip
    return res, signature


@dataclass
class LocalCps:
    """In-process CPS and MO. ``v2g_root`` signs the CPS chain; ``mo_sub2`` (with its key)
    issues contracts, ``mo_sub1`` completes their chain. ``contracts`` maps an OEM
    provisioning certificate's CN to the EMAID to issue for it (no entry:
    FAILED_NoCertificateAvailable); ``canceled`` EMAIDs get FAILED_ContractCanceled."""

    v2g_root: Issued
    mo_sub2: Issued
    mo_sub1: x509.Certificate
    contracts: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    canceled: frozenset[str] = frozenset()
    random: Callable[[int], bytes] = os.urandom
    issued: list[x509.Certificate] = field(default_factory=list)  # for tests
    delay: int = 0  # -20: answer "not ready" this many times per EV before the contract
    keys: list[Any] = field(default_factory=list)  # the contract keys issued, for tests

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        if self.v2g_root.key is None:
            raise ValueError("LocalCps signs its CPS chain with the V2G root's key")
        profile = profile_of(self.v2g_root.key)
        sub1 = issue(name("CPS Sub-CA 1", "v2gate CPS", "DE", "V2G"), ROLES["sub1"],
                     profile.new_key(), issuer=self.v2g_root, now=now)  # fmt: skip
        sub2 = issue(name("CPS Sub-CA 2", "v2gate CPS", "DE", "V2G"), ROLES["sub2"],
                     profile.new_key(), issuer=sub1, now=now)  # fmt: skip
        leaf_role = replace(ROLES["secc"], days=365)
        self.cps_leaf = issue(name("CPS Leaf", "v2gate CPS", "DE", "CPS"), leaf_role,
                              profile.new_key(), issuer=sub2, now=now)  # fmt: skip
        self.cps_chain = certs.ContractChain(self.cps_leaf.cert, (sub2.cert, sub1.cert))
        self._waited: dict[str, int] = {}
        self._delivered: dict[str, list[str]] = {}

    def _emaids(self, holder: str) -> tuple[str, ...]:
        got = self.contracts.get(holder, ())
        return (got,) if isinstance(got, str) else tuple(got)

    def install(self, req: i.CertificateInstallationReq, now: dt.datetime) -> Provisioned:
        try:
            oem = certs.load(req.OEMProvisioningCert)
            oem_key = certs.public_key(oem)
        except certs.ChainError as exc:
            return Provisioned(exc.code, why=str(exc))
        wanted = {r.X509SerialNumber for r in req.ListOfRootCertificateIDs.RootCertificateID}
        if wanted and self.v2g_root.cert.serial_number not in wanted:
            return Provisioned("FAILED_NoCertificateAvailable",
                               why="the EV trusts none of our V2G roots")  # fmt: skip
        emaids = self._emaids(certs.common_name(oem))
        if not emaids:
            return Provisioned("FAILED_NoCertificateAvailable",
                               why=f"no contract for {certs.common_name(oem)}")  # fmt: skip
        return self._provide(i.CertificateInstallationRes, emaids[0], oem_key, now)

    def update(self, req: i.CertificateUpdateReq, now: dt.datetime) -> Provisioned:
        try:
            leaf, _subs = certs.chain_of(req.ContractSignatureCertChain)
            leaf_key = certs.public_key(leaf)
        except certs.ChainError as exc:
            return Provisioned(exc.code, why=str(exc))
        emaid = certs.common_name(leaf)
        if emaid in self.canceled:
            return Provisioned("FAILED_ContractCanceled", why=f"{emaid}: contract canceled")
        return self._provide(i.CertificateUpdateRes, emaid, leaf_key, now,
                             RetryCounter=None)  # fmt: skip

    def _provide(self, kind: type, emaid: str, ev_public: Any, now: dt.datetime,
                 **extra: Any) -> Provisioned:  # fmt: skip
        if not isinstance(ev_public, ec.EllipticCurvePublicKey):
            return Provisioned("FAILED_CertChainError", why="the EV's key is not ECDSA")
        if not isinstance(ev_public.curve, ec.SECP256R1):  # the key wrapping's ECDH needs it
            return Provisioned("FAILED_CertChainError",
                               why=f"the EV's key is on {ev_public.curve.name}, not secp256r1")
        key = ec.generate_private_key(ec.SECP256R1())
        made = issue(name(emaid, "v2gate MO", "DE", "MO"), ROLES["contract"], key,
                     issuer=self.mo_sub2, now=now)  # fmt: skip
        self.issued.append(made.cert)
        contract = certs.ContractChain(made.cert, (self.mo_sub2.cert, self.mo_sub1))
        dh, encrypted = certs.encrypt_key(key, ev_public, self.random(16))
        assert self.cps_leaf.key is not None
        res, signature = signed_response(kind, self.cps_chain.as_iso2(), contract, encrypted,
                                         dh, emaid, self.cps_leaf.key, **extra)  # fmt: skip
        return Provisioned("OK", res, signature)


    # --- -20 ---------------------------------------------------------------------------------

    def install20(self, req: m.CertificateInstallationReq,
                  now: dt.datetime) -> Provisioned | None:  # fmt: skip
        """A contract chain per request, the EV's PrioritizedEMAIDs first, until the EMAIDs
        ``contracts`` lists for its PCID are delivered (then from the first again)."""
        try:
            oem = certs.load(req.OEMProvisioningCertificateChain.Certificate)
            oem_key = certs.public_key(oem)
        except certs.ChainError as exc:
            return Provisioned("WARNING_CertificateValidationError", why=str(exc))
        if isinstance(oem_key, ed448.Ed448PublicKey):
            # [V2G20-2491]: the X448 key comes from the Ed448 one; that step is not here
            return Provisioned("WARNING_CertificateValidationError",
                               why="X448 delivery for an Ed448 OEM key is not implemented")
        if not (isinstance(oem_key, ec.EllipticCurvePublicKey)
                and isinstance(oem_key.curve, ec.SECP521R1)):  # fmt: skip
            # NOTE 4 of §7.9.2.5.1: a curve the CPS cannot use is a validation warning
            return Provisioned("WARNING_CertificateValidationError",
                               why="the OEM key is not secp521r1 (nor Ed448)")
        roots = {r.X509SerialNumber for r in req.ListOfRootCertificateIDs.RootCertificateID}
        if roots and self.v2g_root.cert.serial_number not in roots:
            return Provisioned("WARNING_NoCertificateAvailable",
                               why="the EV trusts none of our V2G roots")  # fmt: skip
        if req.MaximumContractCertificateChains < 1:
            return Provisioned("WARNING_NoCertificateAvailable", why="the EV can store none")
        pcid = keywrap20.pcid_of(oem)
        offered = self._emaids(pcid)
        if not offered:
            return Provisioned("WARNING_NoContractMatchingPCIDFound", why=f"no contract for {pcid}")
        if self._waited.get(pcid, 0) < self.delay:
            self._waited[pcid] = self._waited.get(pcid, 0) + 1
            return None
        self._waited.pop(pcid, None)
        delivered = self._delivered.setdefault(pcid, [])
        left = [e for e in offered if e not in delivered] or list(offered)
        if len(left) == len(offered):
            delivered.clear()
        from .pnc import normal_emaid  # pnc imports this module

        wanted = [normal_emaid(e) for e in (req.PrioritizedEMAIDs.EMAID
                                            if req.PrioritizedEMAIDs else [])]  # fmt: skip
        left.sort(key=lambda e: wanted.index(normal_emaid(e)) if normal_emaid(e) in wanted
                  else len(wanted))  # fmt: skip
        emaid = left[0]
        delivered.append(emaid)
        try:
            return self._provide20(emaid, pcid, oem_key, now,
                                   min(len(left) - 1, req.MaximumContractCertificateChains - 1))
        except ValueError as exc:  # a CPS key -20 cannot sign with (an iso2 root given)
            return Provisioned("FAILED", why=f"the CPS cannot sign for -20: {exc}")

    def _provide20(self, emaid: str, pcid: str, oem_key: ec.EllipticCurvePublicKey,
                   now: dt.datetime, remaining: int) -> Provisioned:  # fmt: skip
        key = ec.generate_private_key(ec.SECP521R1())  # the OEM key's curve ([V2G20-2487])
        made = issue(name(emaid, "v2gate MO", "DE", "MO"), ROLES["contract"], key,
                     issuer=self.mo_sub2, now=now)  # fmt: skip
        self.issued.append(made.cert)
        self.keys.append(key)
        dh, encrypted = keywrap20.encrypt_secp521(key, oem_key, self.random(keywrap20.IV_LEN),
                                                  keywrap20.aad(pcid, made.cert))  # fmt: skip
        data = m.SignedInstallationData(
            Id=IDS["install20"], ContractCertificateChain=m.ContractCertificateChainType(
                Certificate=der(made.cert), SubCertificates=m.SubCertificatesType(
                    Certificate=[der(self.mo_sub2.cert), der(self.mo_sub1)])),
            ECDHCurve=m.ecdhCurveType.SECP521, DHPublicKey=dh,
            SECP521_EncryptedPrivateKey=encrypted)  # fmt: skip
        assert self.cps_leaf.key is not None
        signature = sig20.sign([(data.Id, data)], self.cps_leaf.key)
        cps = m.CertificateChainType(Certificate=der(self.cps_leaf.cert),
                                     SubCertificates=m.SubCertificatesType(
                                         Certificate=[der(c) for c in self.cps_chain.subs]))
        return Provisioned("OK", Installed20(cps, data, remaining), signature)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)
