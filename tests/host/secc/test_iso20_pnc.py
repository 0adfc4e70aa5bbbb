"""ISO 15118-20 Plug & Charge Authorization on our SECC (host/secc/iso20_pnc.py), the EV
played by hand: the offer, every code AuthorizationReq(PnC) can get, Ongoing while the
station decides, and the configuration from a `v2gate pki init --profile iso20` folder."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import random
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding

from host.ev.evcc.pnc20 import EvPnc20, ev20_from_folder
from host.exi import codec, sample
from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import xmldsig_types as x
from host.pki import files, hierarchy
from host.pki.profiles import PROFILES
from host.secc import certs, sig20
from host.secc.controller import Decision, SimEvseController
from host.secc.core import EndReason, SessionEnded
from host.secc.iso20_dc import Iso20DcSecc
from host.secc.iso20_pnc import config20_from_folder
from host.secc.pnc import AllowList, PncConfig
from host.v2g.protocol import SessionContext
from host.v2g.sap import ISO20_DC
from host.v2g.tls import TlsInfo
from host.v2g.v2gtp import PayloadType
from tests.host.secc.iso20_helpers import SID, H, Script, bpt_plant

Code = m.responseCodeType
NOW = dt.datetime.now(dt.UTC)
CHALLENGE = bytes(range(16))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    made = {}
    for name in ("iso20", "iso20-ed448", "iso2"):
        folder = tmp_path_factory.mktemp(name)
        hierarchy.init(folder, PROFILES[name], hierarchy.Names(), NOW)
        made[name] = folder
    return made


class Recording(SimEvseController):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[str] = []

    def authorize(self, ev_id: str, now: float) -> Decision:
        self.asked.append(ev_id)
        return super().authorize(ev_id, now)


def tls13(vehicle: bytes | None = None, version: str = "TLSv1.3") -> TlsInfo:
    return TlsInfo(version, "TLS_AES_256_GCM_SHA384", peer_certificate=vehicle)


def secc(config: PncConfig | None, tls: TlsInfo | None = None,
         **controller_kw: Any) -> tuple[Script, Recording]:  # fmt: skip
    controller = Recording(bpt_plant(), **controller_kw)
    context = SessionContext(ISO20_DC, 1, True, "fe80::2", 0.0, 0.0,
                             tls_info=tls or tls13())  # fmt: skip
    machine = Iso20DcSecc(context, controller, pnc=config, new_session_id=lambda: SID)
    return Script(machine), controller


def config(folder: Path, **kw: Any) -> PncConfig:
    base = config20_from_folder(folder)
    return dataclasses.replace(base, random=lambda n: CHALLENGE[:n], **kw)


def setup(script: Script) -> m.AuthorizationSetupRes:
    script.send(m.SessionSetupReq(Header=H, EVCCID="WMIV2GATE0000001"), 0.0)
    return script.send(m.AuthorizationSetupReq(Header=H), 0.1)


def authorize(script: Script, ev: EvPnc20, challenge: bytes = CHALLENGE, now: float = 0.2,
              signature: Any = "own") -> m.AuthorizationRes:  # fmt: skip
    mode, own = ev.authorization(challenge)
    req = m.AuthorizationReq(Header=H, SelectedAuthorizationService=m.authorizationType.PnC,
                             PnC_AReqAuthorizationMode=mode)  # fmt: skip
    return script.send(req, now, signature=own if signature == "own" else signature)


def ended(script: Script) -> SessionEnded:
    (end,) = [e for e in script.events if isinstance(e, SessionEnded)]
    return end


@pytest.mark.parametrize("profile", ["iso20", "iso20-ed448"])
def test_a_valid_contract_is_authorized_by_its_emaid(pki, profile):
    script, controller = secc(config(pki[profile], providers=("DEV2G",)))
    res = setup(script)
    assert res.AuthorizationServices == [m.authorizationType.EIM, m.authorizationType.PnC]
    assert res.PnC_ASResAuthorizationMode.GenChallenge == CHALLENGE
    assert res.PnC_ASResAuthorizationMode.SupportedProviders.ProviderID == ["DEV2G"]
    assert res.EIM_ASResAuthorizationMode is None
    res = authorize(script, ev20_from_folder(pki[profile]))
    assert (res.ResponseCode, res.EVSEProcessing) == (Code.OK, m.processingType.Finished)
    assert controller.asked == [hierarchy.Names().emaid]
    res = script.send(m.ServiceDiscoveryReq(Header=H), 0.3)
    assert res.ResponseCode is Code.OK


def test_each_authorization_setup_sends_a_fresh_challenge(pki):
    script, _ = secc(config20_from_folder(pki["iso20"]))  # os.urandom
    first = setup(script).PnC_ASResAuthorizationMode.GenChallenge
    other, _ = secc(config20_from_folder(pki["iso20"]))
    second = setup(other).PnC_ASResAuthorizationMode.GenChallenge
    assert len(first) == len(second) == 16 and first != second


@pytest.mark.parametrize("tls", [None, tls13(version="TLSv1.2")])
def test_pnc_is_offered_over_tls13_only(pki, tls):
    controller = Recording(bpt_plant())
    context = SessionContext(ISO20_DC, 1, tls is not None, "fe80::2", 0.0, 0.0, tls_info=tls)
    script = Script(Iso20DcSecc(context, controller, pnc=config(pki["iso20"]),
                                new_session_id=lambda: SID))  # fmt: skip
    res = setup(script)
    assert res.AuthorizationServices == [m.authorizationType.EIM]
    assert res.PnC_ASResAuthorizationMode is None
    res = authorize(script, ev20_from_folder(pki["iso20"]))
    assert res.ResponseCode is Code.WARNING_AuthorizationSelectionInvalid


def refused(pki: dict[str, Path], code: Code, cfg: PncConfig | None = None,
            tls: TlsInfo | None = None, **kw: Any) -> SessionEnded:  # fmt: skip
    script, controller = secc(cfg or config(pki["iso20"]), tls)
    setup(script)
    res = authorize(script, kw.pop("ev", None) or ev20_from_folder(pki["iso20"]), **kw)
    assert res.ResponseCode is code
    assert controller.asked == []  # the station is not asked about a refused contract
    return ended(script)


def test_a_wrong_challenge_is_refused(pki):
    refused(pki, Code.WARNING_ChallengeInvalid, challenge=bytes(16))


def test_a_broken_chain_is_a_validation_error(pki):
    ev = ev20_from_folder(pki["iso20"])
    swapped = certs.ContractChain(ev.contract.leaf, ev.contract.subs[::-1])
    refused(pki, Code.WARNING_CertificateValidationError, ev=EvPnc20(swapped, ev.key))


def test_a_contract_under_another_mo_root_is_an_unknown_emsp(pki):
    cfg = config(pki["iso20"], mo_roots=files.read_certs(pki["iso20"] / "v2g_root.pem"))
    refused(pki, Code.WARNING_eMSPUnknown, cfg)


@pytest.mark.parametrize(("shift", "code"), [
    (dt.timedelta(days=5000), Code.WARNING_CertificateExpired),
    (-dt.timedelta(days=2), Code.WARNING_CertificateNotYetValid)])
def test_a_contract_outside_its_validity_is_refused(pki, shift, code):
    refused(pki, code, config(pki["iso20"], clock=lambda: NOW + shift))


def test_a_revoked_contract_is_refused(pki):
    serial = files.read_certs(pki["iso20"] / "contract.pem")[0].serial_number
    refused(pki, Code.WARNING_CertificateRevoked, config(pki["iso20"],
                                                         revoked=frozenset({serial})))


@pytest.mark.parametrize("signature", [None, "other key", "other element"])
def test_a_missing_or_false_signature_is_a_signature_error(pki, signature):
    ev = ev20_from_folder(pki["iso20"])
    if signature == "other key":
        other = EvPnc20(ev.contract, ec.generate_private_key(ec.SECP521R1()))
        signature = other.authorization(CHALLENGE)[1]
    elif signature == "other element":
        signature = ev.authorization(bytes(16))[1]
    end = refused(pki, Code.FAILED_SignatureError, ev=ev, signature=signature)
    assert end.reason is EndReason.FAILED


def test_a_minus_2_style_signature_is_refused(pki):
    """What the iso15118 package's EVCC (0.31.2) sends for -20 PnC: -2's algorithms
    (ECDSA-SHA256, SHA-256 digest, 32-byte r || s) with a P-256 contract. -20 names neither;
    the station trusts that contract's root here, so only the signature refuses it."""
    cfg = config(pki["iso20"], mo_roots=files.read_certs(pki["iso2"] / "mo_root.pem"))
    leaf, *subs = files.read_certs(pki["iso2"] / "contract_chain.pem")
    key = files.read_key(pki["iso2"] / "contract.key")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    ev = EvPnc20(certs.ContractChain(leaf, tuple(subs)), ec.generate_private_key(ec.SECP521R1()))
    mode = ev.authorization(CHALLENGE)[0]
    info = x.SignedInfo(CanonicalizationMethod=x.CanonicalizationMethod(Algorithm=certs.C14N_EXI),
                        SignatureMethod=x.SignatureMethod(Algorithm=certs.ECDSA_SHA256),
                        Reference=[x.Reference(URI="#id1", DigestMethod=x.DigestMethod(
                            Algorithm=certs.SHA256), DigestValue=hashlib.sha256(
                                sig20.fragment(mode)).digest())])  # fmt: skip
    r, s = decode_dss_signature(key.sign(certs.signed_info_bytes(info), ec.ECDSA(SHA256())))
    signature = x.Signature(SignedInfo=info, SignatureValue=x.SignatureValue(
        value=r.to_bytes(32, "big") + s.to_bytes(32, "big")))
    end = refused(pki, Code.FAILED_SignatureError, cfg, ev=ev, signature=signature)
    assert end.reason is EndReason.FAILED


def test_canceled_and_unlisted_contracts_and_vehicles_are_refused(pki):
    emaid = hierarchy.Names().emaid
    general = Code.WARNING_GeneralPnCAuthorizationError
    refused(pki, general, config(pki["iso20"], canceled=frozenset({emaid})))
    refused(pki, general, config(pki["iso20"], allow=AllowList(emaids=frozenset({"DEX"}))))
    oem = files.read_certs(pki["iso20"] / "oem_prov.pem")[0].public_bytes(Encoding.DER)
    admitted = frozenset({hashlib.sha256(oem).digest()})
    refused(pki, general, config(pki["iso20"], vehicles=admitted), tls13(vehicle=None))
    refused(pki, general, config(pki["iso20"], vehicles=admitted), tls13(vehicle=oem + b"x"))
    # the admitted vehicle, and a listed contract, pass
    script, _ = secc(config(pki["iso20"], vehicles=admitted,
                            allow=AllowList(emaids=frozenset({emaid}))), tls13(vehicle=oem))
    setup(script)
    assert authorize(script, ev20_from_folder(pki["iso20"])).ResponseCode is Code.OK


def test_the_station_refusing_the_emaid_is_a_general_pnc_error(pki):
    script, controller = secc(config(pki["iso20"]), decision=Decision.REJECTED)
    setup(script)
    res = authorize(script, ev20_from_folder(pki["iso20"]))
    assert res.ResponseCode is Code.WARNING_GeneralPnCAuthorizationError
    assert controller.asked == [hierarchy.Names().emaid]
    assert ended(script).reason is EndReason.FAILED


def test_pnc_selected_without_its_mode_is_an_invalid_selection(pki):
    script, _ = secc(config(pki["iso20"]))
    setup(script)
    req = m.AuthorizationReq(Header=H, SelectedAuthorizationService=m.authorizationType.PnC,
                             EIM_AReqAuthorizationMode=m.EIM_AReqAuthorizationModeType())
    assert script.send(req, 0.2).ResponseCode is Code.WARNING_AuthorizationSelectionInvalid


def test_ongoing_while_the_station_decides_then_ok_or_failed_past_the_limit(pki):
    ev = ev20_from_folder(pki["iso20"])
    script, controller = secc(config(pki["iso20"]), authorize_after=5.0)
    setup(script)
    mode, signature = ev.authorization(CHALLENGE)
    req = m.AuthorizationReq(Header=H, SelectedAuthorizationService=m.authorizationType.PnC,
                             PnC_AReqAuthorizationMode=mode)  # fmt: skip
    res = script.send(req, 1.0, signature=signature)
    assert (res.ResponseCode, res.EVSEProcessing) == (Code.OK, m.processingType.Ongoing)
    res = script.send(req, 3.0, signature=signature)  # unaltered [V2G20-1582]
    assert res.EVSEProcessing is m.processingType.Ongoing
    res = script.send(req, 7.0, signature=signature)
    assert (res.ResponseCode, res.EVSEProcessing) == (Code.OK, m.processingType.Finished)
    assert controller.asked == [hierarchy.Names().emaid] * 3
    # a station that never decides: FAILED past the Ongoing limit
    script, controller = secc(config(pki["iso20"]), decision=Decision.ONGOING)
    setup(script)
    assert script.send(req, 1.0, signature=signature).EVSEProcessing is m.processingType.Ongoing
    limit = Iso20DcSecc.ONGOING_TIMEOUT
    res = script.send(req, 2.0 + limit, signature=signature)
    assert res.ResponseCode is Code.FAILED


def test_the_config_comes_from_an_iso20_folder_only(pki):
    cfg = config20_from_folder(pki["iso20-ed448"], vehicles=frozenset({b"x" * 32}))
    assert cfg.mo_roots == files.read_certs(pki["iso20-ed448"] / "mo_root.pem")
    assert cfg.vehicles == frozenset({b"x" * 32})
    with pytest.raises(files.PkiError, match="secp256r1 key.*an iso20 folder"):
        config20_from_folder(pki["iso2"])
    with pytest.raises(files.PkiError, match="secp256r1 key.*an iso20 folder"):
        ev20_from_folder(pki["iso2"])
    with pytest.raises(files.PkiError, match="mo_root.pem"):
        config20_from_folder(pki["iso2"] / "missing")


def test_random_and_mangled_pnc_requests_get_an_answer_never_a_crash(pki):
    """Random schema-valid AuthorizationReqs (the codec's own sampler: random chains, random
    Signatures) and bit-flipped copies of a good signed one, each into a fresh PnC SECC after
    AuthorizationSetup: an AuthorizationRes or a session ended for undecodable input."""
    rng = random.Random(2015)
    good_mode, good_sig = ev20_from_folder(pki["iso20"]).authorization(CHALLENGE)
    good = m.AuthorizationReq(Header=m.MessageHeaderType(SessionID=SID, TimeStamp=1,
                                                         Signature=good_sig),
                              SelectedAuthorizationService=m.authorizationType.PnC,
                              PnC_AReqAuthorizationMode=good_mode)  # fmt: skip
    good_bytes = codec.encode(good, m.NAMESPACE)
    cfg = config(pki["iso20"])
    codes = set()
    for n in range(300):
        script, _ = secc(cfg)
        setup(script)
        if n % 2:
            req = sample.random_message(m, "AuthorizationReq", rng)
            req.SelectedAuthorizationService = m.authorizationType.PnC
            req.Header.SessionID = SID
            payload = codec.encode(req, m.NAMESPACE)
        else:
            mangled = bytearray(good_bytes)
            for _ in range(rng.randrange(1, 4)):
                mangled[rng.randrange(len(mangled))] ^= 1 << rng.randrange(8)
            payload = bytes(mangled)
        script.secc.receive(PayloadType.ISO20_MAIN, payload, 0.2)
        out = script.secc.data_to_send()
        if out:
            res = codec.decode(m.NAMESPACE, out[0][1])
            assert isinstance(res, m.AuthorizationRes), res
            codes.add(res.ResponseCode)
        else:
            assert script.secc.finished
    # the flips reach past the decoder into the checks
    assert {Code.FAILED_SignatureError, Code.WARNING_CertificateValidationError} <= codes
