"""ISO 15118-20 CertificateInstallation on the SECC (-20 §8.3.4.3.9, §7.9.2.5): what
``Iso20Secc`` takes from ``InstallMixin`` when it is given an ``InstallConfig`` (and only over
TLS: it travels with the EV's signature and an encrypted key, and PnC is TLS-only).

AuthorizationSetupRes then says CertificateInstallationService=true, and in the
AUTHORIZATION state (after AuthorizationSetupRes, before the EV's AuthorizationReq), and
after an AuthorizationRes with OK_CertificateExpiresSoon ([V2G20-2218], iso20_pnc), the EV
may send CertificateInstallationReq, again while RemainingContractCertificateChains was
above zero. The SECC checks the OEM provisioning chain against the OEM roots and the wall
clock and the EV's Signature over OEMProvisioningCertificateChain with its leaf's key
(``sig20``), then relays the request to a ``backend.CertificateBackend20``; the backend's
SignedInstallationData and its CPS Signature go out unchanged (the CPS signs, not the
SECC). While the backend has no answer the SECC says EVSEProcessing=Ongoing (the EV
repeats the request), for at most ``InstallConfig.ongoing_timeout``.

Codes (-20 responseCodeType has no FAILED_CertChainError: §7.9.2.5.1 NOTE 3 says a chain
that fails gets a WARNING_ code, and the session goes on, e.g. with EIM):
WARNING_CertificateValidationError (broken chain, unknown root, a curve the CPS cannot
use), WARNING_CertificateExpired, WARNING_CertificateNotYetValid, WARNING_CertificateRevoked
(the chain); FAILED_SignatureError (the EV's Signature); WARNING_NoCertificateAvailable,
WARNING_NoContractMatchingPCIDFound (the backend's); WARNING_NoCertificateAvailable when the
backend has no answer within the Ongoing limit ([V2G20-2225], [V2G20-2207]: then only
AuthorizationReq may follow); FAILED (a backend fault); FAILED_SequenceError (not offered, or
asked again after the last chain or that timeout).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509

from host.exi.schemas import iso20_common_messages as m

from . import certs, sig20
from . import iso20_constants as k
from .backend import CertificateBackend20, Installed20
from .core import Reply
from .iso20_pnc import chain_code
from .iso20_table import State
from .pnc import utc_now

log = logging.getLogger(__name__)
Code = m.responseCodeType
PHASE = "certificate_installation"  # its key among the Ongoing phases


@dataclass
class InstallConfig:
    oem_roots: list[x509.Certificate]  # the OEM roots whose provisioning chains we accept
    backend: CertificateBackend20
    revoked: frozenset[int] = frozenset()  # serial numbers
    clock: Callable[[], dt.datetime] = utc_now  # certificate validity is wall-clock time
    ongoing_timeout: float = k.ONGOING_TIMEOUT


class InstallMixin:
    """CertificateInstallation for ``Iso20Secc`` (which supplies the attributes below)."""

    install: InstallConfig | None
    context: Any
    state: Any
    header_signature: Any
    signature_out: Any
    _phase_started: dict[Any, float]
    _last_chain_given: bool
    expires_soon: bool  # iso20_pnc: authorized with OK_CertificateExpiresSoon

    if TYPE_CHECKING:  # Iso20Secc's
        def respond(self, request: Any, code: Any, now: float, **fields: Any) -> Any: ...

        def header(self, now: float) -> Any: ...

        def _ongoing_expired(self, state: Any, limit: float, now: float) -> bool: ...

    @property
    def install_offered(self) -> bool:
        return self.install is not None and bool(self.context.tls)

    def certificate_installation(self, req: m.CertificateInstallationReq, now: float) -> Reply:
        here = self.state
        late = here is State.SERVICE_DISCOVERY and not self.expires_soon  # [V2G20-2218]
        if not self.install_offered or self._last_chain_given or late:
            why = "not offered" if not self.install_offered else \
                "after the authorization" if late else "no chain remains"
            log.warning("-20 CertificateInstallationReq refused: %s", why)
            return Reply(self.respond(req, Code.FAILED_SequenceError, now), here)
        assert self.install is not None
        chain = req.OEMProvisioningCertificateChain
        try:
            leaf = self._checked_oem(chain)
        except certs.ChainError as exc:
            return self._refuse_install(req, chain_code(
                exc, self.install.clock(), chain,
                unknown_root=Code.WARNING_CertificateValidationError), str(exc), now)
        bad = sig20.verify(self.header_signature, [(chain.Id, chain)], leaf.public_key())
        if bad:
            return self._refuse_install(req, Code.FAILED_SignatureError, bad, now)
        got = self.install.backend.install20(req, self.install.clock())
        if got is None:
            if self._ongoing_expired(PHASE, self.install.ongoing_timeout, now):
                # [V2G20-2225]: [V2G20-2207]'s warning; only AuthorizationReq may follow
                self._phase_started.pop(PHASE, None)
                self._last_chain_given = True
                return self._refuse_install(req, Code.WARNING_NoCertificateAvailable,
                                            "the backend did not answer in time", now)
            res = self.respond(req, Code.OK, now)
            res.EVSEProcessing = m.processingType.Ongoing
            return Reply(res, here)
        self._phase_started.pop(PHASE, None)
        if got.code != "OK" or not isinstance(got.response, Installed20):
            try:
                code = Code(got.code)
            except ValueError:  # a backend that speaks another schema's codes: its fault
                code = Code.FAILED
            return self._refuse_install(req, code, got.why or got.code, now)
        body = got.response
        self._last_chain_given = body.remaining == 0
        self.signature_out = got.signature
        return Reply(m.CertificateInstallationRes(
            Header=self.header(now), ResponseCode=Code.OK,
            EVSEProcessing=m.processingType.Finished, CPSCertificateChain=body.cps_chain,
            SignedInstallationData=body.data,
            RemainingContractCertificateChains=body.remaining), here)  # fmt: skip

    def _checked_oem(self, chain: m.SignedCertificateChainType) -> x509.Certificate:
        assert self.install is not None
        leaf = certs.load(chain.Certificate)
        subs = [certs.load(c) for c in (chain.SubCertificates.Certificate
                                        if chain.SubCertificates is not None else [])]
        certs.check_chain(leaf, subs, self.install.oem_roots, self.install.clock(),
                          revoked=self.install.revoked)  # fmt: skip
        return leaf

    def _refuse_install(self, req: Any, code: Code, why: str, now: float) -> Reply:
        log.warning("-20 CertificateInstallationReq refused (%s): %s", code.value, why)
        return Reply(self.respond(req, code, now), self.state)
