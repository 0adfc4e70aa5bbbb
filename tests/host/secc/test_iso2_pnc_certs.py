"""The pieces of ISO 15118-2 Plug & Charge below the session: chain checks, signatures, the
contract key wrapping, and the credentials read from a `v2gate pki init` folder (a whole
session with them)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from host.bench.dcplant import DcPlant
from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso2 import Iso2Config, Iso2Evcc, SessionStopped
from host.ev.evcc.pnc import SLOW_MSG_TIMEOUT, ev_from_folder
from host.exi.schemas import iso2 as i
from host.pki import hierarchy
from host.pki.files import PkiError
from host.pki.profiles import PROFILES
from host.secc import certs
from host.secc.controller import SimEvseController
from host.secc.pnc import config_from_folder
from tests.host.ev.pnc_setup import PncPair, shared_pki

NOW = dt.datetime.now(dt.UTC)


def test_a_leaf_presented_as_a_sub_ca_is_a_chain_error():
    pki = shared_pki()
    # the SECC leaf "issuing" the contract: not a CA, and it did not sign it
    with pytest.raises(certs.ChainError) as err:
        certs.check_chain(pki.mo.leaf.cert, [pki.v2g.leaf.cert], [pki.mo.root.cert], NOW)
    assert err.value.code == "FAILED_CertChainError"


def test_more_than_two_sub_cas_is_a_chain_error():
    pki = shared_pki()
    subs = [pki.mo.sub2.cert, pki.mo.sub1.cert, pki.mo.root.cert]
    with pytest.raises(certs.ChainError, match="3 Sub-CAs"):
        certs.check_chain(pki.mo.leaf.cert, subs, [pki.mo.root.cert], NOW)


def test_a_good_chain_ends_at_its_root():
    pki = shared_pki()
    path = certs.check_chain(pki.mo.leaf.cert, [pki.mo.sub2.cert, pki.mo.sub1.cert],
                             [pki.v2g.root.cert, pki.mo.root.cert], NOW)  # fmt: skip
    assert path[-1] == pki.mo.root.cert and len(path) == 4


def test_garbage_instead_of_a_certificate_is_a_chain_error():
    with pytest.raises(certs.ChainError) as err:
        certs.load(b"\x30\x03\x02\x01\x00")
    assert err.value.code == "FAILED_CertChainError"


def test_signature_round_trip_and_what_breaks_it():
    pki = shared_pki()
    req = i.AuthorizationReq(Id="id1", GenChallenge=bytes(16))
    signature = certs.sign([("id1", req)], pki.mo.leaf.key)
    assert certs.verify(signature, [("id1", req)], pki.mo.leaf.cert.public_key()) is None
    assert "digest" in str(certs.verify(signature, [("id1", i.AuthorizationReq(
        Id="id1", GenChallenge=bytes(15) + b"\x01"))], pki.mo.leaf.cert.public_key()))
    assert "does not verify" in str(certs.verify(signature, [("id1", req)],
                                                 pki.oem.leaf.cert.public_key()))
    assert "no Reference" in str(certs.verify(signature, [("id9", req)],
                                              pki.mo.leaf.cert.public_key()))
    signature.SignedInfo.Reference[0].DigestMethod.Algorithm = "http://www.w3.org/2000/09/xmldsig#sha1"
    assert "not SHA-256" in str(certs.verify(signature, [("id1", req)],
                                             pki.mo.leaf.cert.public_key()))
    signature.SignedInfo.SignatureMethod.Algorithm = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    assert "not ECDSA-SHA256" in str(certs.verify(signature, [("id1", req)],
                                                  pki.mo.leaf.cert.public_key()))


def test_contract_key_wrapping_round_trip_and_a_wrong_key():
    pki = shared_pki()
    contract = ec.generate_private_key(ec.SECP256R1())
    dh, wrapped = certs.encrypt_key(contract, pki.oem.leaf.cert.public_key(), bytes(16))
    assert len(dh) == 65 and dh[0] == 4 and len(wrapped) == 48 and wrapped[:16] == bytes(16)
    back = certs.decrypt_key(wrapped, dh, pki.oem.leaf.key)
    assert back.private_numbers() == contract.private_numbers()
    with pytest.raises(ValueError):
        certs.decrypt_key(wrapped[:40], dh, pki.oem.leaf.key)
    # another EV's key unwraps something, but not this contract key
    try:
        other = certs.decrypt_key(wrapped, dh, pki.mo.leaf.key)
    except ValueError:  # the random 32 bytes may not even be a scalar of the curve
        return
    assert other.private_numbers() != contract.private_numbers()


def test_slow_requests_wait_5_s():
    evcc = Iso2Evcc(SimEv(DcPlant().battery))
    assert evcc._msg_timeout(i.PaymentDetailsReq(
        eMAID="DEV2GTESTC00001", ContractSignatureCertChain=i.CertificateChainType(
            Id=None, Certificate=b"\x30", SubCertificates=None))) == SLOW_MSG_TIMEOUT == 5.0
    assert evcc._msg_timeout(i.AuthorizationReq(Id=None, GenChallenge=None)) == 2.0


def test_a_session_with_credentials_from_a_pki_init_folder(tmp_path: Path):
    hierarchy.init(tmp_path, PROFILES["iso2"], hierarchy.Names(), NOW)
    plant = DcPlant(isolation_time=1.0)
    ev = ev_from_folder(tmp_path)
    evcc = Iso2Evcc(SimEv(plant.battery, charge_for=2.0),
                    Iso2Config(mode=i.EnergyTransferModeType.DC_extended, pnc=ev))
    pair = PncPair(evcc, SimEvseController(plant), config_from_folder(tmp_path, local_cps=True))
    pair.run()
    assert isinstance(evcc.result, SessionStopped), evcc.result
    assert ("AuthorizationReq", "OK") in pair.answered()
    assert ev.emaid == hierarchy.Names.emaid


def test_a_missing_folder_file_is_named(tmp_path: Path):
    with pytest.raises(PkiError, match="mo_root.pem"):
        config_from_folder(tmp_path)
    with pytest.raises(PkiError, match="contract_chain.pem"):
        ev_from_folder(tmp_path)


def test_an_iso20_folder_is_refused_at_start_not_mid_session(tmp_path: Path):
    """-2 signs SalesTariffs with ECDSA-SHA256 on secp256r1 (r || s, 32 bytes each): an
    `--profile iso20` folder's secp521r1 MO Sub-CA 2 key was taken and then raised
    OverflowError in every PnC session's ChargeParameterDiscovery; it is refused when the
    SECC starts, in one line naming the file."""
    hierarchy.init(tmp_path, PROFILES["iso20"], hierarchy.Names(), NOW)
    with pytest.raises(PkiError, match=r"mo_sub2\.key: .*secp521r1.*secp256r1"):
        config_from_folder(tmp_path)


def test_an_iso20_folder_is_refused_by_the_ev_too(tmp_path: Path):
    """The EV signs AuthorizationReq with its contract key as -2 r || s: a secp521r1 one
    from an `--profile iso20` folder raised OverflowError mid-session (a traceback out of
    `v2gate ev --pnc`); it is refused when the credentials are read."""
    hierarchy.init(tmp_path, PROFILES["iso20"], hierarchy.Names(), NOW)
    with pytest.raises(PkiError, match=r"contract\.key: .*secp521r1.*secp256r1"):
        ev_from_folder(tmp_path)
