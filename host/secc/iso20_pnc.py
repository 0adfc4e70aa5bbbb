"""ISO 15118-20 Plug & Charge Authorization on the SECC: what ``Iso20Secc`` takes from
``Pnc20Mixin`` when it is given a ``PncConfig`` (host/secc/pnc.py), and only over TLS 1.3
(-20 runs on nothing else; PnC needs it all the more).

AuthorizationSetupRes then offers EIM and PnC with PnC_ASResAuthorizationMode: a fresh
16-byte GenChallenge each time, and the configured eMSPs as SupportedProviders. An
AuthorizationReq(PnC) is checked in this order, each with its -20 response code:

- its PnC_AReqAuthorizationMode is there, else WARNING_AuthorizationSelectionInvalid;
- GenChallenge is the one we sent, else WARNING_ChallengeInvalid;
- the contract chain against the MO roots and the wall clock (``certs.check_chain``):
  WARNING_CertificateValidationError (broken), WARNING_eMSPUnknown (no MO root of ours),
  WARNING_CertificateExpired, WARNING_CertificateNotYetValid, WARNING_CertificateRevoked;
- the header Signature over PnC_AReqAuthorizationMode with the contract leaf's key
  (``sig20.verify``), else WARNING_CertificateValidationError (a signature that does not
  verify makes the contract invalid, [V2G20-2564], with the chain's codes);
- the EMAID (the contract's CN) not canceled by its MO, on the allow-list if there is one,
  and the vehicle's certificate from mutual TLS (its SHA-256) on ``PncConfig.vehicles`` if
  that is set: else WARNING_GeneralPnCAuthorizationError;
- then the station decides on the EMAID as for EIM (``controller.authorize``): EVSEProcessing
  Ongoing meanwhile, WARNING_GeneralPnCAuthorizationError if it refuses; if it accepts, OK,
  or OK_CertificateExpiresSoon for a contract that expires within 14 days, after which a
  CertificateInstallationReq may come before ServiceDiscoveryReq ([V2G20-2218]).

A repeat of an AuthorizationReq while Ongoing ([V2G20-1582]: unaltered but for the
TimeStamp) with the contract already verified is not verified again. After a WARNING
(EVSEProcessing=Finished) the session stays in AUTHORIZATION: the next allowed request is an
AuthorizationReq with another contract chain, one with EIM, or a CertificateInstallationReq
when offered ([V2G20-1978], [V2G20-2228]; the EV's side is [V2G20-1583]). The same chain
again is not (their NOTEs: so the SECC can end it with an EV stuck on one bad chain): it gets
FAILED_SequenceError, which ends the session, as does the Ongoing limit (FAILED).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from host.exi.schemas import iso20_common_messages as m
from host.pki import files

from . import certs, sig20
from .core import Reply
from .pnc import PNC_MAX_PAYLOAD, AllowList, PncConfig, normal_emaid

log = logging.getLogger(__name__)
Code = m.responseCodeType
CHALLENGE_LEN = 16
EXPIRES_SOON = dt.timedelta(days=14)  # [V2G20-2218]: OK_CertificateExpiresSoon within it

# certs.check_chain speaks -2's codes; what each is in -20 (see chain_code)
CHAIN_CODES = {
    "FAILED_CertChainError": Code.WARNING_CertificateValidationError,
    "FAILED_CertificateExpired": Code.WARNING_CertificateExpired,
    "FAILED_CertificateRevoked": Code.WARNING_CertificateRevoked,
}


def fingerprint(der: bytes) -> bytes:
    return hashlib.sha256(der).digest()


def config20_from_folder(folder: Path, *, allow: AllowList | None = None,
                         vehicles: frozenset[bytes] = frozenset(),
                         providers: tuple[str, ...] = ()) -> PncConfig:  # fmt: skip
    """The -20 PnC configuration from a `v2gate pki init --profile iso20` (or iso20-ed448)
    folder: its MO root checks contracts. ``vehicles``: SHA-256 fingerprints of the OEM
    provisioning certificates admitted (empty: any). PkiError names a missing file or a
    folder of the -2 profile."""
    mo_root = files.read_certs(folder / "mo_root.pem")[0]
    try:
        sig20.method_of(certs.public_key(mo_root))
    except (ValueError, certs.ChainError) as exc:
        raise files.PkiError(f"{folder / 'mo_root.pem'}: {exc} (an iso20 folder)") from None
    return PncConfig(mo_roots=[mo_root], allow=allow or AllowList(), vehicles=vehicles,
                     providers=providers)


class Pnc20Mixin:
    """Plug & Charge Authorization for ``Iso20Secc`` (which supplies the attributes below)."""

    pnc: PncConfig | None
    context: Any
    header_signature: Any
    controller: Any
    state: Any
    MAX_PAYLOAD: int
    _end_after: str | None

    if TYPE_CHECKING:  # Iso20Secc's
        def respond(self, request: Any, code: Any, now: float, **fields: Any) -> Any: ...

        def station_decides(self, req: Any, ev_id: str, refused: Any, now: float, *,
                            ends: bool = True, ok: Any = Code.OK) -> Reply: ...  # fmt: skip

    def init_pnc(self, pnc: PncConfig | None) -> None:
        self.pnc = pnc
        self.challenge: bytes | None = None  # of the last AuthorizationSetupRes
        self.contract: x509.Certificate | None = None  # once the chain and signature passed
        self.emaid = ""
        # the contract expires within EXPIRES_SOON: after OK_CertificateExpiresSoon the EV
        # may install a new one before ServiceDiscovery ([V2G20-2218])
        self.expires_soon = False
        # the contract leaves (DER; b"" for no chain) answered with a WARNING in this session
        self.refused_chains: set[bytes] = set()
        if self.pnc_offered:
            self.MAX_PAYLOAD = PNC_MAX_PAYLOAD  # a contract chain in AuthorizationReq

    @property
    def pnc_offered(self) -> bool:
        info = self.context.tls_info
        return self.pnc is not None and info is not None and info.tls13

    def authorization_modes(self) -> dict[str, Any]:
        """AuthorizationSetupRes's services and the mode the choice takes (PnC's carries
        the challenge)."""
        if not self.pnc_offered or self.challenge is None:
            return dict(AuthorizationServices=[m.authorizationType.EIM],
                        CertificateInstallationService=False,
                        EIM_ASResAuthorizationMode=m.EIM_ASResAuthorizationModeType())
        assert self.pnc is not None
        providers = (m.SupportedProvidersListType(ProviderID=list(self.pnc.providers))
                     if self.pnc.providers else None)  # fmt: skip
        return dict(AuthorizationServices=[m.authorizationType.EIM, m.authorizationType.PnC],
                    CertificateInstallationService=False,
                    PnC_ASResAuthorizationMode=m.PnC_ASResAuthorizationModeType(
                        GenChallenge=self.challenge, SupportedProviders=providers))

    def new_challenge(self) -> None:
        if self.pnc_offered:
            assert self.pnc is not None
            self.challenge = self.pnc.random(CHALLENGE_LEN)

    # --- AuthorizationReq(PnC) -------------------------------------------------------------

    def _warn(self, req: Any, code: Code, why: str, now: float) -> Reply:
        log.warning("-20 PnC AuthorizationReq refused (%s): %s", code.value, why)
        self.refused_chains.add(_leaf_of(req))
        return Reply(self.respond(req, code, now), self.state)

    def pnc_authorization(self, req: m.AuthorizationReq, now: float) -> Reply:
        assert self.pnc is not None
        if _leaf_of(req) in self.refused_chains:
            log.warning("-20 PnC AuthorizationReq with a contract chain refused before")
            return Reply(self.respond(req, Code.FAILED_SequenceError, now), self.state)
        mode = req.PnC_AReqAuthorizationMode
        if mode is None:
            return self._warn(req, Code.WARNING_AuthorizationSelectionInvalid,
                              "PnC selected without PnC_AReqAuthorizationMode", now)
        if mode.GenChallenge != self.challenge:
            return self._warn(req, Code.WARNING_ChallengeInvalid,
                              "GenChallenge is not the one we sent", now)
        verified = self.contract is not None and self.contract.public_bytes(
            Encoding.DER) == mode.ContractCertificateChain.Certificate  # fmt: skip
        if not verified:
            refused = self._verify_contract(req, mode, now)
            if refused is not None:
                return refused
        assert self.contract is not None
        soon = self.contract.not_valid_after_utc - self.pnc.clock() <= EXPIRES_SOON
        reply = self.station_decides(req, self.emaid, Code.WARNING_GeneralPnCAuthorizationError,
                                     now, ends=False,
                                     ok=Code.OK_CertificateExpiresSoon if soon else Code.OK)
        self.expires_soon = reply.response.ResponseCode is Code.OK_CertificateExpiresSoon
        if reply.response.ResponseCode is Code.WARNING_GeneralPnCAuthorizationError:
            self.refused_chains.add(_leaf_of(req))
            self.contract, self.emaid = None, ""  # the EV may go on with EIM or another
        return reply

    def _verify_contract(self, req: Any, mode: m.PnC_AReqAuthorizationModeType,
                         now: float) -> Reply | None:  # fmt: skip
        assert self.pnc is not None
        clock = self.pnc.clock()
        try:
            leaf, subs = certs.chain_of(mode.ContractCertificateChain)
            certs.check_chain(leaf, subs, self.pnc.mo_roots, clock, revoked=self.pnc.revoked)
        except certs.ChainError as exc:
            return self._warn(req, chain_code(exc, clock, mode.ContractCertificateChain),
                              str(exc), now)  # fmt: skip
        why = sig20.verify(self.header_signature, [(mode.Id, mode)], leaf.public_key())
        if why:
            return self._warn(req, Code.WARNING_CertificateValidationError, why, now)
        emaid = certs.common_name(leaf)
        why = self._policy(emaid, leaf)
        if why:
            return self._warn(req, Code.WARNING_GeneralPnCAuthorizationError, why, now)
        self.contract, self.emaid = leaf, emaid
        return None

    def _policy(self, emaid: str, leaf: x509.Certificate) -> str | None:
        """Why the station does not take this (valid, proven) contract, or None."""
        assert self.pnc is not None
        if normal_emaid(emaid) in {normal_emaid(e) for e in self.pnc.canceled}:
            return f"contract {emaid} canceled by its eMSP"
        if not self.pnc.allow.admits(emaid, leaf):
            return f"contract {emaid} is not on the allow-list"
        if self.pnc.vehicles:
            vehicle = self.context.tls_info.peer_certificate
            if vehicle is None:
                return "a vehicle allow-list is set and mutual TLS gave no vehicle certificate"
            if fingerprint(vehicle) not in self.pnc.vehicles:
                return f"vehicle certificate sha256:{fingerprint(vehicle).hex()} not admitted"
        return None


def _leaf_of(req: m.AuthorizationReq) -> bytes:
    mode = req.PnC_AReqAuthorizationMode
    return b"" if mode is None else mode.ContractCertificateChain.Certificate


def chain_code(exc: certs.ChainError, now: dt.datetime, chain: Any, *,
               unknown_root: Code = Code.WARNING_eMSPUnknown) -> Code:  # fmt: skip
    """The -20 WARNING for a chain ``certs.check_chain`` refused with a -2 code: -2 has one
    code for a certificate outside its validity, -20 tells not yet valid apart; a chain to
    none of our roots is ``unknown_root`` (a contract's: its eMSP is unknown to us)."""
    if exc.code == "FAILED_CertificateExpired":
        subs = chain.SubCertificates.Certificate if chain.SubCertificates is not None else []
        try:
            if any(certs.load(der).not_valid_before_utc > now
                   for der in [chain.Certificate, *subs]):  # fmt: skip
                return Code.WARNING_CertificateNotYetValid
        except (certs.ChainError, ValueError):
            pass
    if exc.code == "FAILED_NoCertificateAvailable":
        return unknown_root
    return CHAIN_CODES.get(exc.code, Code.WARNING_CertificateValidationError)


__all__ = ["CHALLENGE_LEN", "Pnc20Mixin", "chain_code", "config20_from_folder", "fingerprint"]
