"""The car's side of ISO 15118-20 CertificateInstallation (-20 §8.3.4.3.9, §7.9.2.5): with an
OEM provisioning chain and key (``EvInstall20``, ``Iso20Config.install``) and an SECC that
offers the service in AuthorizationSetupRes, ``Iso20Evcc`` asks for contract chains before
it authorizes: CertificateInstallationReq signed with the OEM provisioning key over
OEMProvisioningCertificateChain (``host.secc.sig20``), repeated unaltered while the SECC
says Ongoing, and again, still unaltered ([V2G20-1579]), while RemainingContractCertificateChains
is above zero and there is room (``max_chains``, which the request names throughout). Each answer is checked before anything is kept: the CPS chain against
the V2G roots we trust, the CPS Signature over SignedInstallationData, and the key
(``host.secc.keywrap20``: GCM tag, padding, the contract certificate's public key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import iso20_common_types as t
from host.exi.schemas import xmldsig_types as xt
from host.secc import certs, keywrap20, sig20
from host.secc.pnc import utc_now

from .iso20_requests import HEADER

SIGNED_ID = "id1"  # the Id of our OEMProvisioningCertificateChain


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


@dataclass
class EvInstall20:
    """What the car holds to get contracts: its OEM provisioning chain (leaf, Sub-CA 2,
    Sub-CA 1) and key, the V2G roots it trusts (a CPS chain must end at one), how many
    contract chains it can store, the EMAIDs it prefers. ``installed`` gathers what it got."""

    oem_chain: certs.ContractChain
    oem_key: ec.EllipticCurvePrivateKey
    v2g_roots: list[x509.Certificate]
    max_chains: int = 1
    prioritized: tuple[str, ...] = ()
    clock: Callable[[], dt.datetime] = utc_now
    installed: list[tuple[certs.ContractChain, ec.EllipticCurvePrivateKey]] = field(
        default_factory=list)

    def __post_init__(self) -> None:
        sig20.method_of(self.oem_key)  # ValueError now: -20 signs with secp521r1 or Ed448

    def wants(self) -> bool:
        return len(self.installed) < self.max_chains

    def request(self) -> tuple[m.CertificateInstallationReq, Any]:
        """The request and its header Signature."""
        chain = m.SignedCertificateChainType(
            Id=SIGNED_ID, Certificate=_der(self.oem_chain.leaf),
            SubCertificates=m.SubCertificatesType(
                Certificate=[_der(c) for c in self.oem_chain.subs]))  # fmt: skip
        roots = t.ListOfRootCertificateIDsType(RootCertificateID=[
            xt.X509IssuerSerialType(X509IssuerName=r.issuer.rfc4514_string(),
                                    X509SerialNumber=r.serial_number) for r in self.v2g_roots])
        req = m.CertificateInstallationReq(
            Header=HEADER, OEMProvisioningCertificateChain=chain, ListOfRootCertificateIDs=roots,
            MaximumContractCertificateChains=self.max_chains - len(self.installed),
            PrioritizedEMAIDs=m.EMAIDListType(EMAID=list(self.prioritized))
            if self.prioritized else None)  # fmt: skip
        return req, sig20.sign([(SIGNED_ID, chain)], self.oem_key)

    def take(self, res: m.CertificateInstallationRes, signature: Any) -> str | None:
        """Keep the contract in an OK answer: None, or why it is refused ([V2G20-2504])."""
        cps_chain = res.CPSCertificateChain
        got = res.SignedInstallationData
        try:
            cps = certs.load(cps_chain.Certificate)
            subs = [certs.load(c) for c in (cps_chain.SubCertificates.Certificate
                                            if cps_chain.SubCertificates is not None else [])]
            certs.check_chain(cps, subs, self.v2g_roots, self.clock())
            contract = certs.load(got.ContractCertificateChain.Certificate)
            contract_subs = tuple(certs.load(c) for c in
                                  got.ContractCertificateChain.SubCertificates.Certificate)
        except certs.ChainError as exc:
            return f"{exc.code}: {exc}"
        # the decoded element is of its type; the signed fragment is the element's
        data = m.SignedInstallationData(**{f: getattr(got, f) for f in got.__slots__})
        bad = sig20.verify(signature, [(data.Id, data)], cps.public_key())
        if bad:
            return f"the CPS signature: {bad}"
        if data.ECDHCurve is not m.ecdhCurveType.SECP521 or data.SECP521_EncryptedPrivateKey is None:
            return f"key delivered for {data.ECDHCurve.value}; this EV takes SECP521"
        try:
            key = keywrap20.decrypt_secp521(
                data.SECP521_EncryptedPrivateKey, data.DHPublicKey, self.oem_key,
                keywrap20.aad(keywrap20.pcid_of(self.oem_chain.leaf), contract), contract)
        except keywrap20.KeyWrapError as exc:
            return f"the contract key: {exc}"
        self.installed.append((certs.ContractChain(contract, contract_subs), key))
        return None
