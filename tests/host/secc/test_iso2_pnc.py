"""ISO 15118-2 Plug & Charge on our SECC, played by a scripted EV with the test PKI: every
PnC FAILED code provoked and asserted (PaymentDetails, Authorization, CertificateInstallation
and CertificateUpdate), the allow-list, and what an OK answer carries. Whole sessions with
our EVCC: tests/host/ev/test_evcc_iso2_pnc.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from host.bench.dcplant import DcPlant
from host.exi import codec
from host.exi.schemas import iso2 as i
from host.secc import certs
from host.secc.backend import IDS
from host.secc.controller import Decision, SimEvseController
from host.secc.core import EndReason, SessionEnded
from host.secc.iso2 import Iso2Secc
from host.secc.pnc import AllowList, PncConfig
from host.v2g.protocol import SessionContext
from host.v2g.sap import ISO2
from tests.host.ev.pnc_setup import NEW_EMAID, ev_pnc, local_cps, secc_pnc, shared_pki
from tests.host.secc.test_iso2 import SID, assert_failed, cpd, discovery, selection, setup

C = i.responseCodeType
CONTRACT = i.paymentOptionType.Contract


class SignedScript:
    """The EV by hand, with a header Signature when given."""

    def __init__(self, secc: Iso2Secc) -> None:
        self.secc = secc
        self.session_id = bytes(8)
        self.events: list[object] = []
        self.header: Any = None

    def send(self, body: Any, signature: Any = None, now: float = 0.0) -> Any:
        message = i.V2G_Message(Header=i.MessageHeaderType(SessionID=self.session_id,
                                                           Signature=signature),
                                Body=i.BodyType(BodyElement=body))  # fmt: skip
        self.secc.receive(0x8001, codec.encode(message, i.NAMESPACE), now)
        while (event := self.secc.next_event()) is not None:
            self.events.append(event)
        (out,) = self.secc.data_to_send()
        response = codec.decode(i.NAMESPACE, out[1])
        self.header = response.Header
        if isinstance(response.Body.BodyElement, i.SessionSetupRes):
            self.session_id = response.Header.SessionID
        return response.Body.BodyElement

    def end(self) -> Any:
        (end,) = [e for e in self.events if isinstance(e, SessionEnded)]
        return end


def make(pnc: PncConfig | None = None, *, tls: bool = True,
         decision: Decision = Decision.ACCEPTED) -> tuple[SignedScript, SimEvseController]:  # fmt: skip
    controller = SimEvseController(DcPlant(isolation_time=1.0), decision=decision)
    context = SessionContext(ISO2, 1, tls, "fe80::2", 0.0, 0.0)
    secc = Iso2Secc(context, controller, pnc=pnc or secc_pnc(), new_session_id=lambda: SID)
    return SignedScript(secc), controller


def to_payment_details(script: SignedScript, ids: tuple[int, ...] = (1,)) -> None:
    for body in (setup(), discovery(), selection(CONTRACT, ids)):
        assert script.send(body).ResponseCode.value.startswith("OK")


def details(**kw: Any) -> i.PaymentDetailsReq:
    return ev_pnc(**kw).payment_details()


def authorized(script: SignedScript) -> bytes:
    """Through PaymentDetails; the challenge."""
    to_payment_details(script)
    res = script.send(details())
    assert res.ResponseCode is C.OK
    return res.GenChallenge


def signed_auth(challenge: bytes, key: Any = None) -> tuple[i.AuthorizationReq, Any]:
    req = i.AuthorizationReq(Id="id1", GenChallenge=challenge)
    return req, certs.sign([("id1", req)], key or shared_pki().mo.leaf.key)


# --- what is offered --------------------------------------------------------------------------


def test_over_tls_contract_and_the_certificate_service_are_offered():
    script, _ = make()
    script.send(setup())
    res = script.send(discovery())
    assert res.PaymentOptionList.PaymentOption == [CONTRACT, i.paymentOptionType.ExternalPayment]
    assert [s.ServiceID for s in res.ServiceList.Service] == [2]
    detail = script.send(i.ServiceDetailReq(ServiceID=2))
    assert detail.ResponseCode is C.OK
    assert [p.ParameterSetID for p in detail.ServiceParameterList.ParameterSet] == [1, 2]


def test_without_tls_contract_is_not_offered_and_refused():
    script, _ = make(tls=False)
    script.send(setup())
    res = script.send(discovery())
    assert res.PaymentOptionList.PaymentOption == [i.paymentOptionType.ExternalPayment]
    assert res.ServiceList is None
    assert_failed(script, script.send(selection(CONTRACT)), C.FAILED_PaymentSelectionInvalid)


def test_payment_details_ok_carries_a_fresh_16_byte_challenge():
    challenges = set()
    for _ in range(2):
        script, _ = make()
        challenge = authorized(script)
        assert len(challenge) == 16
        challenges.add(challenge)
    assert len(challenges) == 2  # random per session, not a constant


# --- PaymentDetails: the contract chain ------------------------------------------------------


def swapped_subs() -> i.PaymentDetailsReq:
    req = details()
    subs = req.ContractSignatureCertChain.SubCertificates.Certificate
    subs.reverse()  # Sub-CA 1 before Sub-CA 2: the leaf is not signed by the first
    return req


def foreign_leaf() -> i.PaymentDetailsReq:
    """The SECC's leaf presented with the MO Sub-CAs: signatures do not chain."""
    req = details()
    req.ContractSignatureCertChain.Certificate = shared_pki().v2g.leaf.cert.public_bytes(
        Encoding.DER)
    return req


FUTURE = dt.datetime.now(dt.UTC) + dt.timedelta(days=365 * 60)
PKI = shared_pki()


@pytest.mark.parametrize(("config", "request_", "code"), [
    ({}, swapped_subs, C.FAILED_CertChainError),
    ({}, foreign_leaf, C.FAILED_CertChainError),
    ({"mo_roots": [PKI.v2g.root.cert]}, details, C.FAILED_NoCertificateAvailable),
    ({"clock": lambda: FUTURE}, details, C.FAILED_CertificateExpired),
    ({"revoked": frozenset({PKI.mo.sub2.cert.serial_number})}, details,
     C.FAILED_CertificateRevoked),
    ({"canceled": frozenset({"DEV2GTESTC00001"})}, details, C.FAILED_ContractCanceled),
    ({"allow": AllowList(emaids=frozenset({"DEV2GOTHER00001"}))}, details,
     C.FAILED_CertificateNotAllowedAtThisEVSE),
])  # fmt: skip
def test_payment_details_refusals(config: dict[str, Any], request_: Any, code: Any):
    pnc = secc_pnc()
    for name, value in config.items():
        setattr(pnc, name, value)
    script, _ = make(pnc)
    to_payment_details(script)
    assert_failed(script, script.send(request_()), code)


def test_an_emaid_that_is_not_the_certificates_is_a_chain_error():
    script, _ = make()
    to_payment_details(script)
    req = details()
    req.eMAID = "DEV2GTESTC00099"
    assert_failed(script, script.send(req), C.FAILED_CertChainError)


def test_not_on_the_allow_list_is_logged(caplog: pytest.LogCaptureFixture):
    script, _ = make(secc_pnc(allow=AllowList.from_lines(["DE-V2G-OTHER-00001 # a van"])))
    to_payment_details(script)
    with caplog.at_level(logging.WARNING, "host.secc.pnc"):
        script.send(details())
    assert "DEV2GTESTC00001" in caplog.text and "not on the allow-list" in caplog.text


@pytest.mark.parametrize("lines", [
    [],  # empty: no narrowing
    ["# comment only", ""],
    ["de-v2g-testc00001"],  # EMAID, any case and dashes
    ["sha256:" + hashlib.sha256(PKI.mo.leaf.cert.public_bytes(Encoding.DER)).hexdigest()],
])  # fmt: skip
def test_on_the_allow_list_or_an_empty_one_is_admitted(lines: list[str]):
    script, _ = make(secc_pnc(allow=AllowList.from_lines(lines)))
    authorized(script)


# --- Authorization -------------------------------------------------------------------------


def test_signed_authorization_is_accepted_and_asks_the_station_with_the_emaid():
    script, controller = make()
    asked: list[str] = []
    controller.authorize = lambda ev_id, now: asked.append(ev_id) or Decision.ACCEPTED  # type: ignore[method-assign]
    req, signature = signed_auth(authorized(script))
    assert script.send(req, signature).ResponseCode is C.OK
    assert asked == ["DEV2GTESTC00001"]
    assert script.send(cpd()).ResponseCode is C.OK


def test_authorization_with_another_challenge_is_challenge_invalid():
    script, _ = make()
    challenge = authorized(script)
    req, signature = signed_auth(bytes(b ^ 1 for b in challenge))
    assert_failed(script, script.send(req, signature), C.FAILED_ChallengeInvalid)


@pytest.mark.parametrize("how", ["unsigned", "wrong key", "tampered", "no Id", "short value"])
def test_authorization_signature_errors(how: str):
    script, _ = make()
    challenge = authorized(script)
    req, signature = signed_auth(challenge, PKI.oem.leaf.key if how == "wrong key" else None)
    if how == "unsigned":
        signature = None
    elif how == "tampered":  # signed over one challenge, sent with another Id
        req = i.AuthorizationReq(Id="id2", GenChallenge=challenge)
        signature = certs.sign([("id2", i.AuthorizationReq(Id="id2", GenChallenge=bytes(16)))],
                               PKI.mo.leaf.key)  # fmt: skip
    elif how == "no Id":
        req = i.AuthorizationReq(Id=None, GenChallenge=challenge)
    elif how == "short value":
        signature.SignatureValue.value = signature.SignatureValue.value[:63]
    assert_failed(script, script.send(req, signature), C.FAILED_SignatureError)


def test_refused_by_the_station_is_failed():
    script, _ = make(decision=Decision.REJECTED)
    req, signature = signed_auth(authorized(script))
    assert_failed(script, script.send(req, signature), C.FAILED)


# --- CertificateInstallation / CertificateUpdate ------------------------------------------


def install_req(key: Any = None) -> tuple[i.CertificateInstallationReq, Any]:
    ev = ev_pnc(contract=False)
    req = ev.certificate_request()
    return req, certs.sign([(req.Id, req)], key or PKI.oem.leaf.key)


def update_req(key: Any = None) -> tuple[i.CertificateUpdateReq, Any]:
    ev = ev_pnc(update=True)
    req = ev.certificate_request()
    return req, certs.sign([(req.Id, req)], key or PKI.mo.leaf.key)


def test_certificate_installation_relays_the_backends_signed_answer():
    cps = local_cps(PKI)
    script, _ = make(secc_pnc(backend=cps))
    to_payment_details(script, (1, 2))
    res = script.send(*install_req())
    assert res.ResponseCode is C.OK and res.eMAID.value == NEW_EMAID
    # signed by the CPS leaf it sends, over the four elements, as the EV checks it
    cps_leaf = certs.load(res.SAProvisioningCertificateChain.Certificate)
    elements = [(IDS["chain"], res.ContractSignatureCertChain),
                (IDS["key"], res.ContractSignatureEncryptedPrivateKey),
                (IDS["dh"], res.DHpublickey), (IDS["emaid"], res.eMAID)]  # fmt: skip
    assert certs.verify(script.header.Signature, elements, cps_leaf.public_key()) is None
    key = certs.decrypt_key(res.ContractSignatureEncryptedPrivateKey.value,
                            res.DHpublickey.value, PKI.oem.leaf.key)  # fmt: skip
    assert key.public_key().public_numbers() == cps.issued[0].public_key().public_numbers()
    # then PaymentDetails with the new contract goes on
    assert script.secc.state.name == "PAYMENT_DETAILS"


@pytest.mark.parametrize(("backend", "signer", "code"), [
    ("cps", "contract", C.FAILED_SignatureError),  # signed with a key not the OEM's
    ("none", "oem", C.FAILED_NoCertificateAvailable),  # no backend
    ("unknown", "oem", C.FAILED_NoCertificateAvailable),  # the CPS has no contract for it
])  # fmt: skip
def test_certificate_installation_refusals(backend: str, signer: str, code: Any):
    pnc = secc_pnc(backend={"cps": local_cps(PKI), "none": None,
                            "unknown": local_cps(PKI, canceled=frozenset())}[backend])
    if backend == "unknown":
        pnc.backend.contracts.clear()  # type: ignore[union-attr]
    script, _ = make(pnc)
    to_payment_details(script)
    req, signature = install_req(PKI.mo.leaf.key if signer == "contract" else None)
    assert_failed(script, script.send(req, signature), code)


def test_certificate_update_issues_a_new_contract_for_the_same_emaid():
    script, _ = make()
    to_payment_details(script, (1, 2))
    res = script.send(*update_req())
    assert res.ResponseCode is C.OK and res.eMAID.value == "DEV2GTESTC00001"


@pytest.mark.parametrize(("setting", "signer", "code"), [
    ("clock", None, C.FAILED_CertificateExpired),
    ("revoked", None, C.FAILED_CertificateRevoked),
    ("canceled", None, C.FAILED_ContractCanceled),
    (None, "oem", C.FAILED_SignatureError),
])  # fmt: skip
def test_certificate_update_refusals(setting: str | None, signer: str | None, code: Any):
    pnc = secc_pnc(backend=local_cps(PKI, canceled=frozenset({"DEV2GTESTC00001"})
                                     if setting == "canceled" else frozenset()))
    if setting == "clock":
        pnc.clock = lambda: FUTURE
    elif setting == "revoked":
        pnc.revoked = frozenset({PKI.mo.leaf.cert.serial_number})
    script, _ = make(pnc)
    to_payment_details(script)
    req, signature = update_req(PKI.oem.leaf.key if signer == "oem" else None)
    assert_failed(script, script.send(req, signature), code)


def test_a_certificate_request_after_payment_details_is_a_sequence_error():
    script, _ = make()
    authorized(script)
    res = script.send(*install_req())
    assert_failed(script, res, C.FAILED_SequenceError, EndReason.SEQUENCE_ERROR)


# --- SalesTariff ---------------------------------------------------------------------------


def test_pnc_sales_tariffs_are_signed_with_the_tariff_key():
    script, _ = make()
    script.send(*signed_auth(authorized(script)))
    res = script.send(cpd())
    tariffs = [t.SalesTariff for t in res.SASchedules.SAScheduleTuple]
    assert tariffs and all(t is not None for t in tariffs)
    why = certs.verify(script.header.Signature, [(t.Id, t) for t in tariffs],
                       PKI.mo.sub2.cert.public_key())  # fmt: skip
    assert why is None


# --- hostile certificates --------------------------------------------------------------------


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(3)
        at = rng.randrange(len(out))
        if kind == 0:
            out[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del out[at:at + rng.randint(1, 8)]
        else:
            out[at:at] = rng.randbytes(rng.randint(1, 4))
    return bytes(out)


def test_mangled_certificates_get_an_answer_never_an_exception():
    """Seeded: 300 mangled contract leaves / Sub-CAs in PaymentDetailsReq and OEM
    certificates in CertificateInstallationReq; each answered with a FAILED code (or OK when
    the change did not matter) and the session ended cleanly."""
    rng = random.Random(15118)
    leaf = PKI.mo.leaf.cert.public_bytes(Encoding.DER)
    sub2 = PKI.mo.sub2.cert.public_bytes(Encoding.DER)
    codes: set[str] = set()
    for n in range(300):
        script, _ = make()
        to_payment_details(script, (1, 2))
        if n % 3 == 2:
            req, _sig = install_req()
            req.OEMProvisioningCert = _mutate(req.OEMProvisioningCert, rng)
            res = script.send(req, certs.sign([(req.Id, req)], PKI.oem.leaf.key))
        else:
            req = details()
            chain = req.ContractSignatureCertChain
            if n % 3 == 0:
                chain.Certificate = _mutate(leaf, rng)
            else:
                chain.SubCertificates.Certificate[0] = _mutate(sub2, rng)
            res = script.send(req)
        codes.add(res.ResponseCode.value)
        if res.ResponseCode.value.startswith("FAILED"):
            assert script.secc.finished and script.end().reason is EndReason.FAILED
    assert codes & {"FAILED_CertChainError", "FAILED_SignatureError"}, codes


def test_an_oem_key_off_secp256r1_is_refused_not_raised():
    """The OEM provisioning certificate comes from the EV unchecked (the CPS checks it), so
    an EV can sign CertificateInstallationReq with a self-made key on another curve
    (secp224r1: its r and s fit the 64-byte SignatureValue). The key wrapping (ECDH with a
    fresh secp256r1 key) cannot use it: that is FAILED_CertChainError and the session ends,
    not a ValueError out of the SECC's handler."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.host.ev.pnc_setup import OEM_CN

    key = ec.generate_private_key(ec.SECP224R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, OEM_CN)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=9)).sign(key, hashes.SHA256()))  # fmt: skip
    script, _ = make(secc_pnc(backend=local_cps(PKI)))
    to_payment_details(script, (1, 2))
    req, _sig = install_req()
    req.OEMProvisioningCert = cert.public_bytes(Encoding.DER)
    res = script.send(req, certs.sign([(req.Id, req)], key))
    assert_failed(script, res, C.FAILED_CertChainError)
    assert script.secc.finished and script.end().reason is EndReason.FAILED
