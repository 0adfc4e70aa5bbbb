"""The ISO 15118-2 SECC played by a scripted EV: every FAILED code it answers, each provoked
and asserted, and every timer on a fake clock. (Whole sessions with our EVCC:
test_iso2_pair.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from host.bench.dcplant import DcPlant
from host.exi import codec
from host.exi.schemas import iso2 as i
from host.secc import iso2_constants as k
from host.secc.controller import Decision, Schedule, SimEvseController, StopRequest
from host.secc.core import EndReason, SessionEnded
from host.secc.iso2 import AC_MODES, Iso2Secc, amps, volts, watts, wh
from host.v2g.protocol import SessionContext
from host.v2g.sap import ISO2

SID = bytes.fromhex("0102030405060708")
AC = i.EnergyTransferModeType.AC_three_phase_core
DC = i.EnergyTransferModeType.DC_extended
C = i.responseCodeType


class Script:
    """The EV by hand: ``send(body, now)`` returns the decoded response body or None."""

    def __init__(self, secc: Iso2Secc) -> None:
        self.secc = secc
        self.session_id = bytes(8)
        self.events: list[object] = []

    def send(self, body: Any, now: float = 0.0, session_id: bytes | None = None) -> Any:
        sid = self.session_id if session_id is None else session_id
        message = i.V2G_Message(Header=i.MessageHeaderType(SessionID=sid),
                                Body=i.BodyType(BodyElement=body))
        self.secc.receive(0x8001, codec.encode(message, i.NAMESPACE), now)
        self.drain()
        out = self.secc.data_to_send()
        if not out:
            return None
        assert len(out) == 1
        response = codec.decode(i.NAMESPACE, out[0][1])
        if isinstance(response.Body.BodyElement, i.SessionSetupRes):
            self.session_id = response.Header.SessionID
        return response.Body.BodyElement

    def drain(self) -> None:
        while (event := self.secc.next_event()) is not None:
            self.events.append(event)

    def end(self) -> SessionEnded:
        self.drain()
        (end,) = [e for e in self.events if isinstance(e, SessionEnded)]
        return end


def make(modes: frozenset[Any] = AC_MODES | {DC}, **controller_kw: Any,
         ) -> tuple[Script, SimEvseController]:  # fmt: skip
    controller = SimEvseController(DcPlant(isolation_time=1.0), **controller_kw)
    context = SessionContext(ISO2, 1, False, "fe80::2", 0.0, 0.0)
    secc = Iso2Secc(context, controller, modes=modes, new_session_id=lambda: SID)
    return Script(secc), controller


def ev_status() -> i.DC_EVStatus:
    return i.DC_EVStatus(EVReady=True, EVErrorCode=i.DC_EVErrorCodeType.NO_ERROR, EVRESSSOC=30)


def setup() -> i.SessionSetupReq:
    return i.SessionSetupReq(EVCCID=bytes.fromhex("020000000001"))


def discovery() -> i.ServiceDiscoveryReq:
    return i.ServiceDiscoveryReq(ServiceScope=None, ServiceCategory=None)


def selection(option: Any = i.paymentOptionType.ExternalPayment,
              ids: tuple[int, ...] = (1,)) -> i.PaymentServiceSelectionReq:  # fmt: skip
    return i.PaymentServiceSelectionReq(
        SelectedPaymentOption=option, SelectedServiceList=i.SelectedServiceListType(
            SelectedService=[i.SelectedServiceType(ServiceID=n, ParameterSetID=None)
                             for n in ids]))  # fmt: skip


def auth() -> i.AuthorizationReq:
    return i.AuthorizationReq(Id=None, GenChallenge=None)


def cpd(mode: Any = DC, ac_param: bool | None = None) -> i.ChargeParameterDiscoveryReq:
    param: Any
    if ac_param if ac_param is not None else mode in AC_MODES:
        param = i.AC_EVChargeParameter(DepartureTime=None, EAmount=wh(20_000),
                                       EVMaxVoltage=volts(400), EVMaxCurrent=amps(32),
                                       EVMinCurrent=amps(6))  # fmt: skip
    else:
        param = i.DC_EVChargeParameter(
            DepartureTime=None, DC_EVStatus=ev_status(), EVMaximumCurrentLimit=amps(125),
            EVMaximumPowerLimit=watts(50_000), EVMaximumVoltageLimit=volts(420),
            EVEnergyCapacity=None, EVEnergyRequest=None, FullSOC=None, BulkSOC=None)
    return i.ChargeParameterDiscoveryReq(MaxEntriesSAScheduleTuple=None,
                                         RequestedEnergyTransferMode=mode,
                                         EVChargeParameter=param)  # fmt: skip


def power_delivery(start: bool = True, tuple_id: int = 1,
                   profile: list[tuple[int, float]] | None = None) -> i.PowerDeliveryReq:
    progress = i.chargeProgressType.Start if start else i.chargeProgressType.Stop
    charging_profile = None if profile is None else i.ChargingProfileType(ProfileEntry=[
        i.ProfileEntryType(ChargingProfileEntryStart=t, ChargingProfileEntryMaxPower=watts(p),
                           ChargingProfileEntryMaxNumberOfPhasesInUse=None)
        for t, p in profile])  # fmt: skip
    return i.PowerDeliveryReq(ChargeProgress=progress, SAScheduleTupleID=tuple_id,
                              ChargingProfile=charging_profile,
                              EVPowerDeliveryParameter=None)  # fmt: skip


def pre_charge(target: float) -> i.PreChargeReq:
    return i.PreChargeReq(DC_EVStatus=ev_status(), EVTargetVoltage=volts(target),
                          EVTargetCurrent=amps(1))


def to_charge_parameters(script: Script, now: float = 0.0) -> None:
    for body in (setup(), discovery(), selection(), auth()):
        assert script.send(body, now).ResponseCode.value.startswith("OK")


def to_power_delivery(script: Script, mode: Any) -> None:
    to_charge_parameters(script)
    assert script.send(cpd(mode)).ResponseCode is C.OK


def through_cable_check(script: Script) -> None:
    """CableCheck Ongoing at 0 s, Finished at 2 s (the plant's monitor takes 1 s)."""
    res = script.send(i.CableCheckReq(DC_EVStatus=ev_status()), 0.0)
    assert res.EVSEProcessing is i.EVSEProcessingType.Ongoing
    res = script.send(i.CableCheckReq(DC_EVStatus=ev_status()), 2.0)
    assert res.EVSEProcessing is i.EVSEProcessingType.Finished
    assert res.DC_EVSEStatus.EVSEIsolationStatus is i.isolationLevelType.Valid


def assert_failed(script: Script, response: Any, code: Any,
                  reason: EndReason = EndReason.FAILED) -> None:  # fmt: skip
    assert response.ResponseCode is code
    assert script.secc.finished and script.end().reason is reason
    assert script.secc.get_timer() is None


# --- each FAILED code ---------------------------------------------------------------------


def test_sequence_error_out_of_order():
    script, _ = make()
    script.send(setup())
    assert_failed(script, script.send(auth()), C.FAILED_SequenceError, EndReason.SEQUENCE_ERROR)


def test_sequence_error_charging_status_in_a_dc_session():
    script, _ = make()
    to_power_delivery(script, DC)
    res = script.send(i.ChargingStatusReq())
    assert isinstance(res, i.ChargingStatusRes)
    assert_failed(script, res, C.FAILED_SequenceError, EndReason.SEQUENCE_ERROR)


def test_sequence_error_current_demand_in_an_ac_session():
    script, _ = make()
    to_power_delivery(script, AC)
    assert script.send(power_delivery(profile=[(0, 10_000)])).ResponseCode is C.OK
    res = script.send(i.CurrentDemandReq(
        DC_EVStatus=ev_status(), EVTargetCurrent=amps(10), EVMaximumVoltageLimit=None,
        EVMaximumCurrentLimit=None, EVMaximumPowerLimit=None, BulkChargingComplete=None,
        ChargingComplete=False, RemainingTimeToFullSoC=None, RemainingTimeToBulkSoC=None,
        EVTargetVoltage=volts(400)))  # fmt: skip
    assert_failed(script, res, C.FAILED_SequenceError, EndReason.SEQUENCE_ERROR)


def test_sequence_error_metering_receipt_not_asked_for():
    script, _ = make()
    to_power_delivery(script, AC)
    script.send(power_delivery())
    assert script.send(i.ChargingStatusReq()).ReceiptRequired is False
    res = script.send(i.MeteringReceiptReq(Id=None, SessionID=SID, SAScheduleTupleID=1,
                                           MeterInfo=i.MeterInfoType(MeterID="m", MeterReading=1)))
    assert_failed(script, res, C.FAILED_SequenceError)


def test_unknown_session():
    script, _ = make()
    script.send(setup())
    res = script.send(discovery(), session_id=bytes.fromhex("ffffffffffffffff"))
    assert_failed(script, res, C.FAILED_UnknownSession, EndReason.UNKNOWN_SESSION)


def test_metering_receipt_for_another_session():
    script, _ = make(receipt=True)
    to_power_delivery(script, AC)
    script.send(power_delivery())
    assert script.send(i.ChargingStatusReq()).ReceiptRequired is True
    res = script.send(i.MeteringReceiptReq(Id=None, SessionID=bytes(8), SAScheduleTupleID=1,
                                           MeterInfo=i.MeterInfoType(MeterID="m", MeterReading=1)))
    assert_failed(script, res, C.FAILED_UnknownSession)


def test_service_id_invalid():
    script, _ = make()
    script.send(setup())
    script.send(discovery())
    assert script.send(i.ServiceDetailReq(ServiceID=1)).ResponseCode is C.OK
    assert_failed(script, script.send(i.ServiceDetailReq(ServiceID=77)), C.FAILED_ServiceIDInvalid)


@pytest.mark.parametrize(("request_", "code"), [
    (selection(i.paymentOptionType.Contract), C.FAILED_PaymentSelectionInvalid),
    (selection(ids=(1, 5)), C.FAILED_ServiceSelectionInvalid),
    (selection(ids=(5,)), C.FAILED_NoChargeServiceSelected),
])  # fmt: skip
def test_payment_service_selection_codes(request_, code):
    script, _ = make()
    script.send(setup())
    script.send(discovery())
    assert_failed(script, script.send(request_), code)


def test_authorization_rejected_is_failed():
    script, controller = make(decision=Decision.REJECTED)
    for body in (setup(), discovery(), selection()):
        script.send(body)
    assert_failed(script, script.send(auth()), C.FAILED)
    assert controller.ended == EndReason.FAILED.value


def test_wrong_energy_transfer_mode():
    script, _ = make(modes=AC_MODES)  # an AC-only connector
    to_charge_parameters(script)
    res = script.send(cpd(DC))
    assert isinstance(res.EVSEChargeParameter, i.DC_EVSEChargeParameterType)
    assert_failed(script, res, C.FAILED_WrongEnergyTransferMode)


def test_wrong_charge_parameter_type():
    script, _ = make()
    to_charge_parameters(script)
    assert_failed(script, script.send(cpd(AC, ac_param=False)), C.FAILED_WrongChargeParameter)


def test_wrong_charge_parameter_precharge_target():
    script, _ = make()
    to_power_delivery(script, DC)
    through_cable_check(script)
    assert_failed(script, script.send(pre_charge(900), 2.0), C.FAILED_WrongChargeParameter)


def test_tariff_selection_invalid():
    script, _ = make()
    to_power_delivery(script, AC)
    assert_failed(script, script.send(power_delivery(tuple_id=9)), C.FAILED_TariffSelectionInvalid)


@pytest.mark.parametrize("profile", [
    [(0, 60_000)],  # over the 50 kW PMax
    [(0, 10_000), (3600, 40_000)],  # over the second entry's 30 kW
    [(0, 10_000), (0, 10_000)],  # starts not ascending
    [(90_000, 1_000)],  # past the schedule's end
])  # fmt: skip
def test_charging_profile_invalid(profile):
    script, controller = make()
    controller.schedule_list = [Schedule(1, ((0, 50_000.0), (3600, 30_000.0)))]
    to_power_delivery(script, AC)
    assert_failed(script, script.send(power_delivery(profile=profile)),
                  C.FAILED_ChargingProfileInvalid)
    assert not controller.plant.contactors_closed


def test_charging_profile_within_the_schedule_is_ok():
    script, controller = make()
    controller.schedule_list = [Schedule(1, ((0, 50_000.0), (3600, 30_000.0)))]
    to_power_delivery(script, AC)
    res = script.send(power_delivery(profile=[(0, 50_000), (3600, 30_000)]))
    assert res.ResponseCode is C.OK and controller.plant.contactors_closed


def test_schedules_come_from_the_controller():
    script, controller = make()
    controller.schedule_list = [Schedule(1, ((0, 11_000.0),)), Schedule(2, ((0, 7_000.0),))]
    to_charge_parameters(script)
    res = script.send(cpd(AC))
    tuples = res.SASchedules.SAScheduleTuple
    assert [t.SAScheduleTupleID for t in tuples] == [1, 2]
    entry = tuples[1].PMaxSchedule.PMaxScheduleEntry[0]
    assert entry.PMax.Value * 10**entry.PMax.Multiplier == 7000
    assert isinstance(res.EVSEChargeParameter, i.AC_EVSEChargeParameterType)


def test_power_delivery_not_applied_before_precharge():
    script, controller = make()
    to_power_delivery(script, DC)
    through_cable_check(script)
    script.send(pre_charge(350), 2.0)  # the stage has barely started to ramp
    assert_failed(script, script.send(power_delivery(), 2.0), C.FAILED_PowerDeliveryNotApplied)
    assert not controller.plant.contactors_closed


def test_renegotiate_is_refused():
    script, _ = make()
    to_power_delivery(script, AC)
    script.send(power_delivery())
    req = power_delivery()
    req.ChargeProgress = i.chargeProgressType.Renegotiate
    assert_failed(script, script.send(req), C.FAILED)


def test_pnc_request_in_an_eim_session_is_a_sequence_error():
    script, _ = make()
    script.send(setup())
    script.send(discovery())
    res = script.send(i.PaymentDetailsReq(eMAID="DE8AAA1B2C3D4E", ContractSignatureCertChain=(
        i.CertificateChainType(Id=None, Certificate=b"\x30", SubCertificates=None))))
    assert_failed(script, res, C.FAILED_SequenceError, EndReason.SEQUENCE_ERROR)


# --- timers (fake clock) ------------------------------------------------------------------


def test_communication_setup_timeout():
    script, controller = make()
    assert script.secc.get_timer() == k.COMMUNICATION_SETUP_TIMEOUT
    script.secc.handle_timer(k.COMMUNICATION_SETUP_TIMEOUT - 0.01)
    assert not script.secc.finished
    script.secc.handle_timer(k.COMMUNICATION_SETUP_TIMEOUT)
    assert script.end().reason is EndReason.SETUP_TIMEOUT
    assert controller.ended == EndReason.SETUP_TIMEOUT.value


def test_sequence_timeout():
    script, _ = make()
    script.send(setup(), 1.0)
    assert script.secc.get_timer() == 1.0 + k.SEQUENCE_TIMEOUT
    script.secc.handle_timer(1.0 + k.SEQUENCE_TIMEOUT - 0.01)
    assert not script.secc.finished
    script.secc.handle_timer(1.0 + k.SEQUENCE_TIMEOUT)
    assert script.end().reason is EndReason.SEQUENCE_TIMEOUT


def test_authorization_ongoing_ends_after_its_limit():
    script, _ = make(decision=Decision.ONGOING)
    for body in (setup(), discovery(), selection()):
        script.send(body)
    t = 0.0
    while t <= k.ONGOING_TIMEOUT:
        res = script.send(auth(), t)
        assert res.ResponseCode is C.OK and res.EVSEProcessing is i.EVSEProcessingType.Ongoing
        t += 5.0
    assert_failed(script, script.send(auth(), t), C.FAILED, EndReason.ONGOING_TIMEOUT)


def test_cable_check_ends_after_its_limit():
    script, controller = make()
    controller.plant.isolation_time = 1000.0  # the monitor never answers
    to_power_delivery(script, DC)
    t = 0.0
    while t <= k.CABLE_CHECK_TIMEOUT:
        assert script.send(i.CableCheckReq(DC_EVStatus=ev_status()), t).EVSEProcessing \
            is i.EVSEProcessingType.Ongoing  # fmt: skip
        t += 5.0
    assert_failed(script, script.send(i.CableCheckReq(DC_EVStatus=ev_status()), t), C.FAILED,
                  EndReason.ONGOING_TIMEOUT)


def test_pre_charge_ends_after_its_limit():
    script, _ = make()
    to_power_delivery(script, DC)
    through_cable_check(script)
    t = 2.0
    while t <= 2.0 + k.PRE_CHARGE_TIMEOUT:
        assert script.send(pre_charge(350), t).ResponseCode is C.OK
        t += 1.0
    assert_failed(script, script.send(pre_charge(350), t), C.FAILED, EndReason.ONGOING_TIMEOUT)


def test_session_stop_before_power_and_terminate():
    script, controller = make()
    to_power_delivery(script, AC)
    res = script.send(i.SessionStopReq(ChargingSession=i.chargingSessionType.Terminate))
    assert res.ResponseCode is C.OK and script.end().reason is EndReason.STOPPED
    assert script.secc.paused.by_id == {}
    assert controller.ended == EndReason.STOPPED.value


def test_power_delivery_not_applied_while_the_station_wants_to_stop():
    script, controller = make()
    to_power_delivery(script, AC)
    controller.stop = StopRequest.STOP
    assert_failed(script, script.send(power_delivery()), C.FAILED_PowerDeliveryNotApplied)
    assert not controller.plant.contactors_closed


def test_contactor_error_when_the_contactors_do_not_close():
    script, controller = make()
    controller.close_contactors = lambda now: False  # type: ignore[method-assign]
    to_power_delivery(script, AC)
    assert_failed(script, script.send(power_delivery()), C.FAILED_ContactorError)


def test_certificate_requests_in_an_eim_session_are_answered_as_sequence_errors():
    roots = i.ListOfRootCertificateIDsType(RootCertificateID=[
        i.X509IssuerSerialType(X509IssuerName="CN=V2G Root", X509SerialNumber=1)])
    chain = i.CertificateChainType(Id=None, Certificate=b"\x30", SubCertificates=None)
    for request in (i.CertificateInstallationReq(Id="id1", OEMProvisioningCert=b"\x30",
                                                 ListOfRootCertificateIDs=roots),
                    i.CertificateUpdateReq(Id="id1", ContractSignatureCertChain=chain,
                                           eMAID="DE8AAA1B2C3D4E", ListOfRootCertificateIDs=roots)):
        script, _ = make()
        script.send(setup())
        res = script.send(request)
        assert type(res).__name__ == type(request).__name__.replace("Req", "Res")
        assert_failed(script, res, C.FAILED_SequenceError, EndReason.SEQUENCE_ERROR)
