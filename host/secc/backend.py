"""Where CertificateInstallation and CertificateUpdate go: a certificate provisioning
service (CPS) behind the SECC. The SECC checks what it can (the EV's signature, the old
contract chain) and relays; the backend issues the contract chain and the encrypted key and
signs the response (the CPS signs, not the SECC: -2 §7.9.2.4.3).

``CertificateBackend`` is the interface (OCPP's Get15118EVCertificate fills it later);
``LocalCps`` is an in-process one for tests and ``v2gate simulate``: it issues contract
certificates under an MO Sub-CA 2 it holds and signs with a CPS chain it makes under the V2G
root (V2G root -> CPS Sub-CA 1 -> CPS Sub-CA 2 -> CPS leaf).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from host.exi.schemas import iso2 as i
from host.pki.issue import Issued, issue, name
from host.pki.profiles import ROLES

from . import certs

# the Ids the signed elements of the response carry (any unique xs:ID values do; these are
# the ones the peers use)
IDS = {"chain": "id1", "key": "id2", "dh": "id3", "emaid": "id4"}


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
    contracts: dict[str, str] = field(default_factory=dict)
    canceled: frozenset[str] = frozenset()
    random: Callable[[int], bytes] = os.urandom
    issued: list[x509.Certificate] = field(default_factory=list)  # for tests

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        sub1 = issue(name("CPS Sub-CA 1", "v2gate CPS", "DE", "V2G"), ROLES["sub1"],
                     ec.generate_private_key(ec.SECP256R1()), issuer=self.v2g_root, now=now)
        sub2 = issue(name("CPS Sub-CA 2", "v2gate CPS", "DE", "V2G"), ROLES["sub2"],
                     ec.generate_private_key(ec.SECP256R1()), issuer=sub1, now=now)
        leaf_role = replace(ROLES["secc"], days=365)
        self.cps_leaf = issue(name("CPS Leaf", "v2gate CPS", "DE", "CPS"), leaf_role,
                              ec.generate_private_key(ec.SECP256R1()), issuer=sub2, now=now)
        self.cps_chain = certs.ContractChain(self.cps_leaf.cert, (sub2.cert, sub1.cert))

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
        emaid = self.contracts.get(certs.common_name(oem))
        if emaid is None:
            return Provisioned("FAILED_NoCertificateAvailable",
                               why=f"no contract for {certs.common_name(oem)}")  # fmt: skip
        return self._provide(i.CertificateInstallationRes, emaid, oem_key, now)

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


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)
