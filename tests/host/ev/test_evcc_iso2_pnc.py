"""Our ISO 15118-2 EVCC with a contract from the test PKI against our SECC, on a fake clock
through V2gConnection over a TLS-flagged connection: AC and DC Plug & Charge to
SessionStopRes (signed receipts, signed SalesTariffs checked by the EV), contract
installation and update on the way, and the checks each side makes of the other. The real
TCP/TLS path: test_evcc_iso2_pnc_tls.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from host.ev.evcc.common import Failure
from host.ev.evcc.iso2 import SessionFailed, SessionStopped
from host.ev.evcc.pnc import EvPnc
from host.exi.schemas import iso2 as i
from host.secc import certs
from host.secc.core import EndReason
from tests.host.ev.pnc_setup import NEW_EMAID, ev_pnc, pnc_session, secc_pnc, shared_pki

AC = i.EnergyTransferModeType.AC_three_phase_core
DC = i.EnergyTransferModeType.DC_extended
PNC_START = [("SessionSetupReq", "OK_NewSessionEstablished"), ("ServiceDiscoveryReq", "OK"),
             ("PaymentServiceSelectionReq", "OK"), ("PaymentDetailsReq", "OK"),
             ("AuthorizationReq", "OK"), ("ChargeParameterDiscoveryReq", "OK")]  # fmt: skip


@pytest.mark.parametrize("mode", [AC, DC])
def test_pnc_session_to_session_stop_with_signed_receipts(mode: Any):
    pair = pnc_session(mode, controller_kw={"receipt": True})
    assert isinstance(pair.evcc.result, SessionStopped), pair.evcc.result
    answered = pair.answered()
    assert answered[:6] == PNC_START
    receipts = [code for name, code in answered if name == "MeteringReceiptReq"]
    assert receipts and set(receipts) == {"OK"}
    assert answered[-1] == ("SessionStopReq", "OK")
    assert pair.ended().reason is EndReason.STOPPED
    assert pair.evcc.tuple.SalesTariff is not None  # the signed tariff the EV checked


def test_installation_then_charging_with_the_new_contract():
    ev = ev_pnc(contract=False)
    pair = pnc_session(AC, ev=ev)
    assert isinstance(pair.evcc.result, SessionStopped), pair.evcc.result
    names = [name for name, _ in pair.answered()]
    assert names[3:6] == ["CertificateInstallationReq", "PaymentDetailsReq", "AuthorizationReq"]
    assert ev.contract is not None and ev.emaid == NEW_EMAID
    assert isinstance(ev.contract_key, ec.EllipticCurvePrivateKey)


def test_update_replaces_the_contract_and_key():
    ev = ev_pnc(update=True)
    old = ev.contract
    pair = pnc_session(DC, ev=ev)
    assert isinstance(pair.evcc.result, SessionStopped), pair.evcc.result
    assert "CertificateUpdateReq" in [name for name, _ in pair.answered()]
    assert ev.contract is not old and ev.emaid == "DEV2GTESTC00001"
    assert ev.contract is not None
    assert ev.contract.leaf.serial_number != shared_pki().mo.leaf.cert.serial_number


class UnsignedReceipts(EvPnc):
    def signature_for(self, request: Any) -> Any:
        return None if isinstance(request, i.MeteringReceiptReq) else super().signature_for(request)


def test_an_unsigned_receipt_is_metering_signature_not_valid():
    pki = shared_pki()
    base = ev_pnc()
    ev = UnsignedReceipts(base.contract, base.contract_key, v2g_roots=[pki.v2g.root.cert])
    pair = pnc_session(AC, ev=ev, controller_kw={"receipt": True})
    assert ("MeteringReceiptReq", "FAILED_MeteringSignatureNotValid") in pair.answered()
    assert pair.ended().reason is EndReason.FAILED


def test_the_ev_refuses_a_sales_tariff_signed_by_someone_else():
    # the SECC signs with the OEM key: the contract's MO Sub-CA 2 does not verify it
    pair = pnc_session(DC, secc=secc_pnc(tariff_key=shared_pki().oem.leaf.key))
    result = pair.evcc.result
    assert isinstance(result, SessionFailed) and result.reason is Failure.SIGNATURE
    assert "SalesTariff" in result.detail


def test_the_ev_refuses_an_installation_it_cannot_verify():
    # on the EV's clock the provisioning chain has expired
    ev = ev_pnc(contract=False, clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=99 * 365))
    pair = pnc_session(AC, ev=ev)
    result = pair.evcc.result
    assert isinstance(result, SessionFailed) and result.reason is Failure.SIGNATURE
    assert "CertificateInstallationRes: FAILED_CertificateExpired" in result.detail
    assert ev.contract is None


def test_the_ev_needs_contract_offered():
    # over a connection without TLS the SECC offers no Contract: the EV stops there
    from host.bench.dcplant import DcPlant
    from host.ev.evcc.ev import SimEv
    from host.ev.evcc.iso2 import Iso2Config, Iso2Evcc
    from host.secc.controller import SimEvseController
    from tests.host.secc.test_iso2_pair import Iso2Pair
    plant = DcPlant(isolation_time=1.0)
    evcc = Iso2Evcc(SimEv(plant.battery), Iso2Config(mode=AC, pnc=ev_pnc()))
    pair = Iso2Pair(evcc, SimEvseController(plant))
    pair.run()
    result = evcc.result
    assert isinstance(result, SessionFailed) and "no Contract offered" in result.detail


# --- what is signed is what the reference codec digests -------------------------------------
# Bytes the reference codec (EXICodec.jar of iso15118 0.31.2) wrote for these elements as
# fragments; the interop tests prove the rest (their EV's AuthorizationReq, MeteringReceiptReq
# and CertificateInstallationReq verify with us; our CPS's four elements verify with them).


@pytest.mark.parametrize(("element", "jar_hex"), [
    (i.EMAIDType(Id="id4", value="DEV2GTESTC00042"),
     "80ec0202b4b21a40045111558c91d51154d510cc0c0c0d0cbd3d00"),
    (i.EMAIDType(Id="e", value="DE8AAA1234567X"),
     "80ec0201b2c00411114e1050504c4c8ccd0d4d8dd63d3d00"),
    (i.SalesTariffType(Id="tariff1", SalesTariffID=1, NumEPriceLevels=1, SalesTariffEntry=[
        i.SalesTariffEntry(TimeInterval=i.RelativeTimeInterval(start=0, duration=None),
                           EPriceLevel=1)]),
     "80ae025d185c9a59998c40020100008012fa00"),
    (i.AuthorizationReq(Id="id1", GenChallenge=b"\x11" * 16),
     "8004015a590c408088888888888888888888888888888889e8"),
    (i.MeteringReceiptReq(Id="id1", SessionID=b"\x01" * 8, SAScheduleTupleID=1,
                          MeterInfo=i.MeterInfoType(MeterID="M", MeterReading=5)),
     "8079015a590c40801010101010101010000034d0029bd0"),
])  # fmt: skip
def test_signed_fragments_are_the_reference_codecs_bytes(element: Any, jar_hex: str):
    assert certs.fragment(element).hex() == jar_hex
