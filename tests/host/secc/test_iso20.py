"""The -20 DC SECC against a scripted EV on a fake clock: every FAILED_* code (and the
WARNING codes that end the session) it can send, and every timer."""

from __future__ import annotations

from typing import Any

import pytest

from host.bench.dcplant import DcPlant, StageLimits
from host.exi import codec
from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import iso20_common_types as t
from host.exi.schemas import iso20_dc as dc
from host.secc import iso20_constants as k
from host.secc.controller import Decision, Schedule, SimEvseController, StopRequest
from host.secc.core import EndReason, SessionEnded
from host.secc.iso20_dc import Iso20DcSecc
from host.secc.iso20_values import rational
from host.v2g.v2gtp import PayloadType
from tests.host.secc.iso20_helpers import SID, H, Script, bpt_plant, context, make_secc

EIM = m.authorizationType.EIM
R = rational


def setup() -> m.SessionSetupReq:
    return m.SessionSetupReq(Header=H, EVCCID="WMIV2GATE0000001")


def auth(kind: Any = EIM) -> m.AuthorizationReq:
    if kind is EIM:
        return m.AuthorizationReq(Header=H, SelectedAuthorizationService=EIM,
                                  EIM_AReqAuthorizationMode=m.EIM_AReqAuthorizationModeType())
    chain = m.ContractCertificateChainType(Certificate=b"\x01", SubCertificates=(
        m.SubCertificatesType(Certificate=[b"\x02"])))
    return m.AuthorizationReq(Header=H, SelectedAuthorizationService=kind,
                              PnC_AReqAuthorizationMode=m.PnC_AReqAuthorizationModeType(
                                  Id="a", GenChallenge=bytes(16),
                                  ContractCertificateChain=chain))  # fmt: skip


def select(service: int = k.SERVICE_DC_BPT, parameter_set: int = 1) -> m.ServiceSelectionReq:
    return m.ServiceSelectionReq(Header=H, SelectedEnergyTransferService=m.SelectedServiceType(
        ServiceID=service, ParameterSetID=parameter_set))


def cpd(bpt: bool = True, max_voltage: float = 450.0) -> dc.DC_ChargeParameterDiscoveryReq:
    charge: dict[str, Any] = dict(
        EVMaximumChargePower=R(50_000), EVMinimumChargePower=R(0),
        EVMaximumChargeCurrent=R(125), EVMinimumChargeCurrent=R(0),
        EVMaximumVoltage=R(max_voltage), EVMinimumVoltage=R(300))
    mode: Any = dc.DC_CPDReqEnergyTransferMode(**charge)
    if bpt:
        mode = dc.BPT_DC_CPDReqEnergyTransferMode(
            **charge, EVMaximumDischargePower=R(11_000), EVMinimumDischargePower=R(0),
            EVMaximumDischargeCurrent=R(30), EVMinimumDischargeCurrent=R(0))
    return dc.DC_ChargeParameterDiscoveryReq(Header=H, DC_CPDReqEnergyTransferMode=mode)


def schedule_exchange(dynamic: bool = False) -> m.ScheduleExchangeReq:
    if dynamic:
        return m.ScheduleExchangeReq(Header=H, MaximumSupportingPoints=24,
                                     Dynamic_SEReqControlMode=m.Dynamic_SEReqControlModeType(
                                         DepartureTime=3600, EVTargetEnergyRequest=R(10_000),
                                         EVMaximumEnergyRequest=R(20_000),
                                         EVMinimumEnergyRequest=R(-5_000)))  # fmt: skip
    return m.ScheduleExchangeReq(Header=H, MaximumSupportingPoints=24,
                                 Scheduled_SEReqControlMode=m.Scheduled_SEReqControlModeType())


def cable_check() -> dc.DC_CableCheckReq:
    return dc.DC_CableCheckReq(Header=H)


def pre_charge(volts: float) -> dc.DC_PreChargeReq:
    return dc.DC_PreChargeReq(Header=H, EVProcessing=m.processingType.Ongoing,
                              EVPresentVoltage=R(volts), EVTargetVoltage=R(volts))


def power_delivery(progress: Any = m.chargeProgressType.Start, tuple_id: int = 1,
                   power: float = 10_000.0) -> m.PowerDeliveryReq:  # fmt: skip
    profile = m.EVPowerProfileType(
        TimeAnchor=0, Scheduled_EVPPTControlMode=m.Scheduled_EVPPTControlModeType(
            SelectedScheduleTupleID=tuple_id),
        EVPowerProfileEntries=m.EVPowerProfileEntryListType(EVPowerProfileEntry=[
            m.PowerScheduleEntryType(Duration=3600, Power=R(power))]))
    return m.PowerDeliveryReq(Header=H, EVProcessing=m.processingType.Finished,
                              ChargeProgress=progress, EVPowerProfile=profile)


def loop(cls: Any = dc.BPT_Scheduled_DC_CLReqControlMode) -> dc.DC_ChargeLoopReq:
    return dc.DC_ChargeLoopReq(Header=H, MeterInfoRequested=False, EVPresentVoltage=R(386),
                               CLReqControlMode=cls(EVTargetCurrent=R(50),
                                                    EVTargetVoltage=R(400)))


PATH = ["setup", "auth_setup", "auth", "discovery", "detail", "select", "cpd", "schedule",
        "cable_check", "pre_charge", "power_delivery", "loop"]


def walk(script: Script, upto: str, now: float = 0.0) -> float:
    """Plays the EV in sequence up to (not including) ``upto``; returns the clock."""
    steps: dict[str, Any] = {
        "setup": setup, "auth_setup": lambda: m.AuthorizationSetupReq(Header=H),
        "auth": auth, "discovery": lambda: m.ServiceDiscoveryReq(Header=H),
        "detail": lambda: m.ServiceDetailReq(Header=H, ServiceID=k.SERVICE_DC_BPT),
        "select": select, "cpd": cpd, "schedule": schedule_exchange,
        "cable_check": cable_check, "pre_charge": lambda: pre_charge(386.0),
        "power_delivery": power_delivery, "loop": loop}
    for name in PATH[:PATH.index(upto)]:
        if name == "cable_check":
            script.send(cable_check(), now)  # Ongoing: the plant's check takes 1 s
            now += 1.5
        if name == "pre_charge":
            script.send(pre_charge(386.0), now)
            now += 3.0  # the stage ramps to the battery's voltage
        res = script.send(steps[name](), now)
        assert res.ResponseCode.value.startswith("OK"), (name, res)
        now += 0.1
    return now


def ended(script: Script) -> SessionEnded:
    (end,) = [e for e in script.events if isinstance(e, SessionEnded)]
    return end


def refused(script: Script, request: Any, now: float, code: str,
            reason: EndReason = EndReason.FAILED) -> Any:  # fmt: skip
    res = script.send(request, now)
    assert res.ResponseCode.value == code, res
    assert script.secc.finished and ended(script).reason is reason
    assert not script.secc.controller.plant.contactors_closed
    return res


def fresh(**controller_kw: Any) -> tuple[Script, SimEvseController]:
    secc, controller = make_secc(**controller_kw)
    return Script(secc), controller


# --- the core's codes ---------------------------------------------------------------------


def test_out_of_sequence_is_sequence_error():
    script, _ = fresh()
    walk(script, "auth_setup")
    refused(script, m.ServiceDiscoveryReq(Header=H), 1.0, "FAILED_SequenceError",
            EndReason.SEQUENCE_ERROR)


def test_a_dc_message_before_its_time_is_sequence_error():
    script, _ = fresh()
    now = walk(script, "cpd")
    refused(script, loop(), now, "FAILED_SequenceError", EndReason.SEQUENCE_ERROR)


def test_wrong_session_id_is_unknown_session():
    script, _ = fresh()
    walk(script, "auth_setup")
    res = script.send(m.AuthorizationSetupReq(Header=H), 1.0, session_id=b"\x09" * 8)
    assert res.ResponseCode is m.responseCodeType.FAILED_UnknownSession
    assert ended(script).reason is EndReason.UNKNOWN_SESSION


def test_metering_confirmation_not_asked_for_is_sequence_error():
    script, _ = fresh()
    now = walk(script, "loop")
    data = m.SignedMeteringDataType(Id="x", SessionID=SID, MeterInfo=m.MeterInfoType(
        MeterID="m", ChargedEnergyReadingWh=0), Dynamic_SMDTControlMode=(
        m.Dynamic_SMDTControlModeType()))
    refused(script, m.MeteringConfirmationReq(Header=H, SignedMeteringData=data), now,
            "FAILED_SequenceError")


def test_metering_confirmation_of_another_session_is_unknown_session():
    script, _ = fresh(receipt=True)
    now = walk(script, "loop")
    res = script.send(loop(), now)
    assert res.EVSEStatus.EVSENotification is m.evseNotificationType.MeteringConfirmation
    data = m.SignedMeteringDataType(Id="x", SessionID=b"\x07" * 8, MeterInfo=m.MeterInfoType(
        MeterID="m", ChargedEnergyReadingWh=0), Dynamic_SMDTControlMode=(
        m.Dynamic_SMDTControlModeType()))
    refused(script, m.MeteringConfirmationReq(Header=H, SignedMeteringData=data), now + 0.1,
            "FAILED_UnknownSession")


# --- common messages -----------------------------------------------------------------------


def test_rejected_eim_authorization_ends_the_session():
    script, _ = fresh(decision=Decision.REJECTED)
    walk(script, "auth")
    refused(script, auth(), 1.0, "WARNING_EIMAuthorizationFailure")


def test_pnc_when_only_eim_is_offered():
    """[V2G20-2226]: WARNING_AuthorizationSelectionInvalid ([V2G20-2209]), Finished, and the
    next allowed request is an AuthorizationReq with an offered service; the same invalid
    selection again is not (its NOTE 3): FAILED_SequenceError."""
    script, _ = fresh()
    walk(script, "auth")
    res = script.send(auth(m.authorizationType.PnC), 1.0)
    assert (res.ResponseCode, res.EVSEProcessing) == (
        m.responseCodeType.WARNING_AuthorizationSelectionInvalid, m.processingType.Finished)
    assert not script.secc.finished
    res = script.send(auth(), 1.1)
    assert (res.ResponseCode, res.EVSEProcessing) == (m.responseCodeType.OK,
                                                      m.processingType.Finished)
    script, _ = fresh()
    walk(script, "auth")
    script.send(auth(m.authorizationType.PnC), 1.0)
    refused(script, auth(m.authorizationType.PnC), 1.1, "FAILED_SequenceError")


def test_authorization_ongoing_past_its_limit_fails():
    script, _ = fresh(authorize_after=1_000.0)
    now = walk(script, "auth")
    for later in range(0, 60, 10):  # within the 60 s the EV waits: Ongoing
        res = script.send(auth(), now + later)
        assert res.EVSEProcessing is m.processingType.Ongoing
    refused(script, auth(), now + k.ONGOING_TIMEOUT + 1, "FAILED")


def test_unknown_service_detail():
    script, _ = fresh()
    walk(script, "detail")
    refused(script, m.ServiceDetailReq(Header=H, ServiceID=99), 1.0, "FAILED_ServiceIDInvalid")


@pytest.mark.parametrize(("selection", "code"), [
    (select(65, 1), "FAILED_NoEnergyTransferServiceSelected"),  # Internet: a VAS
    (select(k.SERVICE_AC, 1), "FAILED_ServiceSelectionInvalid"),  # not offered here
    (select(k.SERVICE_DC, 9), "FAILED_ServiceSelectionInvalid"),  # no such parameter set
])  # fmt: skip
def test_bad_service_selection(selection, code):
    script, _ = fresh()
    walk(script, "select")
    refused(script, selection, 1.0, code)


def test_a_station_offering_dynamic_control_only():
    controller = SimEvseController(bpt_plant())
    script = Script(Iso20DcSecc(context(), controller, control_modes=(k.CONTROL_DYNAMIC,),
                                new_session_id=lambda: SID))
    walk(script, "detail")
    res = script.send(m.ServiceDetailReq(Header=H, ServiceID=k.SERVICE_DC_BPT), 1.0)
    (only,) = res.ServiceParameterList.ParameterSet
    assert only.ParameterSetID == 2
    assert {p.Name: p.intValue for p in only.Parameter}["ControlMode"] == k.CONTROL_DYNAMIC
    refused(script, select(k.SERVICE_DC_BPT, 1), 1.1, "FAILED_ServiceSelectionInvalid")


@pytest.mark.parametrize("request_", [cpd(bpt=False), cpd(max_voltage=20.0)])
def test_wrong_charge_parameters(request_):
    script, _ = fresh()
    walk(script, "cpd")
    refused(script, request_, 1.0, "FAILED_WrongChargeParameter")


def test_schedule_exchange_in_the_other_control_mode():
    script, _ = fresh()
    walk(script, "schedule")
    refused(script, schedule_exchange(dynamic=True), 1.0, "FAILED_WrongChargeParameter")


def test_schedule_exchange_ongoing_past_its_limit_fails():
    script, controller = fresh()
    controller.schedule_list = []  # the station has no schedule yet (its CSMS is slow)
    now = walk(script, "schedule")
    assert script.send(schedule_exchange(), now).EVSEProcessing is m.processingType.Ongoing
    refused(script, schedule_exchange(), now + k.ONGOING_TIMEOUT + 1, "FAILED")


# --- DC preparation ------------------------------------------------------------------------


def test_cable_check_past_its_limit_fails():
    script, _ = fresh(plant=DcPlant(StageLimits(max_discharge_current=100.0),
                                    isolation_time=1_000.0))
    now = walk(script, "cable_check")
    assert script.send(cable_check(), now).EVSEProcessing is m.processingType.Ongoing
    refused(script, cable_check(), now + k.CABLE_CHECK_TIMEOUT + 1, "FAILED")


def test_insulation_fault_fails_the_cable_check():
    script, _ = fresh(plant=DcPlant(insulation_ohm=10_000.0, isolation_time=1.0))
    now = walk(script, "cable_check")
    script.send(cable_check(), now)
    refused(script, cable_check(), now + 1.5, "FAILED")


def test_pre_charge_past_its_limit_fails():
    script, _ = fresh()
    now = walk(script, "pre_charge")
    script.send(pre_charge(386.0), now)
    refused(script, pre_charge(386.0), now + k.PRE_CHARGE_TIMEOUT + 1, "FAILED")


def test_pre_charge_target_beyond_the_stage():
    script, _ = fresh()
    now = walk(script, "pre_charge")
    refused(script, pre_charge(900.0), now, "FAILED_WrongChargeParameter")


def test_power_delivery_before_the_voltage_matches():
    script, _ = fresh()
    now = walk(script, "pre_charge")
    script.send(pre_charge(386.0), now)  # the stage ramps from 0 V: not there yet
    refused(script, power_delivery(), now + 0.1, "FAILED_PowerDeliveryNotApplied")


def test_power_delivery_while_the_station_stops():
    script, controller = fresh()
    now = walk(script, "power_delivery")
    controller.stop = StopRequest.STOP
    refused(script, power_delivery(), now, "FAILED_PowerDeliveryNotApplied")


def test_contactors_that_do_not_close():
    class Stuck(SimEvseController):
        def close_contactors(self, now: float) -> bool:
            return False

    controller = Stuck(bpt_plant())
    script = Script(Iso20DcSecc(context(), controller, new_session_id=lambda: SID))
    now = walk(script, "power_delivery")
    refused(script, power_delivery(), now, "FAILED_ContactorError")


def test_power_delivery_while_the_ev_is_still_processing_starts_nothing():
    script, controller = fresh()
    now = walk(script, "power_delivery")
    request = power_delivery()
    request.EVProcessing, request.EVPowerProfile = m.processingType.Ongoing, None
    assert script.send(request, now).ResponseCode is m.responseCodeType.OK
    assert not controller.plant.contactors_closed and script.secc.state.name == "PRE_CHARGE"
    assert script.send(power_delivery(), now + 0.2).ResponseCode is m.responseCodeType.OK
    assert controller.plant.contactors_closed and script.secc.state.name == "CHARGING"


def test_a_tuple_never_offered():
    script, _ = fresh()
    now = walk(script, "power_delivery")
    refused(script, power_delivery(tuple_id=9), now, "FAILED_ScheduleSelectionInvalid")


@pytest.mark.parametrize("power", [60_000.0, -60_000.0])
def test_a_power_profile_outside_the_tuple(power):
    script, controller = fresh()
    controller.schedule_list = [Schedule(1, ((0, 50_000.0),), discharge=((0, 20_000.0),))]
    now = walk(script, "power_delivery")
    refused(script, power_delivery(power=power), now, "FAILED_EVPowerProfileInvalid")


def test_a_confirmed_power_tolerance_is_acknowledged_and_charging_starts():
    """[V2G20-1944]: PowerToleranceAcceptance=PowerToleranceConfirmed gets
    OK_PowerToleranceConfirmed, an OK code: the session goes on into the loop."""
    script, controller = fresh()
    now = walk(script, "power_delivery")
    request = power_delivery()
    request.EVPowerProfile.Scheduled_EVPPTControlMode.PowerToleranceAcceptance = \
        m.powerToleranceAcceptanceType.PowerToleranceConfirmed
    res = script.send(request, now)
    assert res.ResponseCode is m.responseCodeType.OK_PowerToleranceConfirmed
    assert controller.plant.contactors_closed and script.secc.state.name == "CHARGING"
    assert script.send(loop(), now + 0.1).ResponseCode is m.responseCodeType.OK


def test_the_loop_follows_the_schedule_from_its_time_anchor():
    """The tuple's slots count from the TimeAnchor of the ScheduleExchangeRes (sent at
    0.7 s), as the EV plans them, not from PowerDelivery(Start) seconds later."""
    script, controller = fresh()
    controller.schedule_list = [Schedule(1, ((0, 50_000.0), (10, 1_000.0)))]
    now = walk(script, "power_delivery")
    assert now > 5.0  # cable check and pre-charge took their time
    script.send(power_delivery(power=1_000.0), now)
    assert script.secc.schedule_limits(9.5) == (50_000.0, 0.0)
    assert script.secc.schedule_limits(10.5) == (1_000.0, 0.0)


def test_schedule_renegotiation_before_power_flows():
    script, _ = fresh()
    now = walk(script, "power_delivery")
    refused(script, power_delivery(m.chargeProgressType.ScheduleRenegotiation), now,
            "FAILED_ScheduleRenegotiation")


# --- the loop -------------------------------------------------------------------------------


def test_loop_in_the_other_control_mode():
    script, _ = fresh()
    now = walk(script, "loop")
    refused(script, loop(dc.Scheduled_DC_CLReqControlMode), now, "FAILED_WrongChargeParameter")


def test_dynamic_ev_below_its_minimum_soc_is_not_discharged():
    script, controller = fresh()
    controller.setpoint = -8_000.0
    now = walk(script, "select")
    assert script.send(select(k.SERVICE_DC_BPT, 2), now).ResponseCode is m.responseCodeType.OK
    for request in (cpd(), schedule_exchange(dynamic=True), cable_check()):
        script.send(request, now)
    now += 1.5
    script.send(cable_check(), now)
    script.send(pre_charge(386.0), now)
    script.send(pre_charge(386.0), now + 3.0)
    request = power_delivery()
    request.EVPowerProfile = None
    assert script.send(request, now + 3.1).ResponseCode is m.responseCodeType.OK

    def dynamic_loop(min_energy: float) -> dc.DC_ChargeLoopReq:
        limits = {name: R(value) for name, value in (
            ("EVMaximumChargePower", 50_000), ("EVMinimumChargePower", 0),
            ("EVMaximumChargeCurrent", 125), ("EVMaximumVoltage", 450),
            ("EVMinimumVoltage", 300), ("EVMaximumDischargePower", 11_000),
            ("EVMinimumDischargePower", 0), ("EVMaximumDischargeCurrent", 30))}
        return dc.DC_ChargeLoopReq(
            Header=H, DisplayParameters=t.DisplayParametersType(PresentSOC=80),
            MeterInfoRequested=False, EVPresentVoltage=R(386),
            CLReqControlMode=dc.BPT_Dynamic_DC_CLReqControlMode(
                EVTargetEnergyRequest=R(5_000), EVMaximumEnergyRequest=R(10_000),
                EVMinimumEnergyRequest=R(min_energy), **limits))

    script.send(dynamic_loop(-20_000), now + 3.2)
    assert script.secc.last_power == pytest.approx(-8_000)
    script.send(dynamic_loop(2_000), now + 3.3)  # the EV is below its minimum SoC
    assert script.secc.last_power == 0


def test_emergency_stop_in_the_loop():
    script, controller = fresh()
    now = walk(script, "loop")
    assert script.send(loop(), now).ResponseCode is m.responseCodeType.OK
    controller.stop = StopRequest.EMERGENCY
    refused(script, loop(), now + 0.1, "FAILED")
    assert not controller.plant.energised


# --- undecodable input and the timers -----------------------------------------------------


def test_a_dc_message_with_the_common_payload_type_does_not_decode():
    secc, controller = make_secc()
    payload = codec.encode(cable_check(), dc.NAMESPACE)
    secc.receive(PayloadType.ISO20_MAIN, payload, 0.0)
    assert secc.end is not None and secc.end.reason is EndReason.UNDECODABLE
    assert secc.data_to_send() == []


def test_communication_setup_timeout():
    secc, controller = make_secc()
    assert secc.get_timer() == k.COMMUNICATION_SETUP_TIMEOUT
    secc.handle_timer(k.COMMUNICATION_SETUP_TIMEOUT - 0.1)
    assert not secc.finished
    secc.handle_timer(k.COMMUNICATION_SETUP_TIMEOUT)
    assert secc.end is not None and secc.end.reason is EndReason.SETUP_TIMEOUT
    assert controller.ended == EndReason.SETUP_TIMEOUT.value


def test_sequence_timeout_in_the_loop_makes_the_output_safe():
    script, controller = fresh()
    now = walk(script, "loop")
    script.send(loop(), now)
    assert controller.plant.contactors_closed
    secc = script.secc
    assert secc.get_timer() == pytest.approx(now + k.SEQUENCE_TIMEOUT)
    secc.handle_timer(now + k.SEQUENCE_TIMEOUT)
    assert secc.end is not None and secc.end.reason is EndReason.SEQUENCE_TIMEOUT
    assert not controller.plant.contactors_closed and not controller.plant.energised
