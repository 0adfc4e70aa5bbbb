"""DIN 70121 DC SECC: our EVCC against it through V2GTP to SessionStopRes (fake clock), and
a scripted EV for every response code, the sequence and SessionID checks and each timer."""

from __future__ import annotations

from collections import Counter

import pytest

from host.bench.dcplant import Battery, DcPlant, StageLimits
from host.ev.evcc.din import DinEvcc, SessionStopped
from host.ev.evcc.ev import SimEv
from host.exi.schemas import din as d
from host.secc import din_constants as k
from host.secc.controller import Decision, SimEvseController, StopRequest
from host.secc.core import EndReason, RequestAnswered, SessionEnded, SessionStarted
from host.secc.din import amps, evse_id_bytes, volts, watts
from host.secc.physical import from_physical, to_physical
from host.v2g.session import CloseReason, ConnectionClosed

from .helpers import Pair, Script, make_secc

Code = d.responseCodeType


def _pair(**kw) -> tuple[Pair, DcPlant]:
    plant = DcPlant(isolation_time=1.0)
    ev = DinEvcc(SimEv(plant.battery, charge_for=kw.pop("charge_for", 3.0)))
    return Pair(ev, SimEvseController(plant, **kw)), plant


def _ends(events: list[object]) -> list[SessionEnded]:
    return [e for e in events if isinstance(e, SessionEnded)]


# --- the whole session ----------------------------------------------------------------------


def test_our_evcc_charges_through_our_secc_to_session_stop():
    pair, plant = _pair()
    pair.run()
    assert isinstance(pair.evcc.result, SessionStopped)
    assert pair.evcc.result.session_id == pair.conn.machine.session_id != k.NEW_SESSION
    sent = Counter(pair.evcc.sent)
    assert [n for n in pair.evcc.sent if sent[n] == 1] == [
        "SessionSetupReq", "ServiceDiscoveryReq", "ServicePaymentSelectionReq",
        "ContractAuthenticationReq", "ChargeParameterDiscoveryReq", "SessionStopReq"]
    assert sent["CableCheckReq"] > 1  # Ongoing while the 1 s isolation check runs
    assert sent["PreChargeReq"] > 1 and sent["CurrentDemandReq"] > 10
    assert sent["PowerDeliveryReq"] == 2
    answered = [e for e in pair.secc_events if isinstance(e, RequestAnswered)]
    assert all(not e.response_code.startswith("FAILED") for e in answered)
    assert _ends(pair.secc_events) == [SessionEnded(EndReason.STOPPED, "", pair.now)]
    assert pair.conn.closed == ConnectionClosed(CloseReason.FINISHED)
    # energy went into the EV, and the station is safe afterwards
    assert plant.energy_in_wh > 10 and plant.battery.soc > 0.3
    assert not plant.contactors_closed and not plant.energised
    assert pair.controller.ended == EndReason.STOPPED.value


def test_contactors_close_only_within_precharge_tolerance():
    pair, plant = _pair()
    closed_at: list[float] = []

    def watch(p: Pair) -> bool:
        if plant.contactors_closed and not closed_at:
            closed_at.append(abs(plant.output_voltage - plant.battery.open_circuit_voltage()))
        return False

    pair.run(stop_at=watch)
    assert closed_at and closed_at[0] <= k.PRE_CHARGE_TOLERANCE


def test_station_stop_request_ends_the_charge_through_the_ev():
    pair, plant = _pair(charge_for=1000.0)
    pair.run(stop_at=lambda p: p.evcc.sent.count("CurrentDemandReq") >= 5)
    pair.controller.stop = StopRequest.STOP
    pair.run()
    assert isinstance(pair.evcc.result, SessionStopped)
    assert pair.evcc.sent.count("CurrentDemandReq") == 6  # the one that saw EVSE_Shutdown
    assert not plant.energised


def test_ev_hanging_up_mid_charge_makes_the_station_safe():
    pair, plant = _pair(charge_for=1000.0)
    pair.run(stop_at=lambda p: p.evcc.sent.count("CurrentDemandReq") >= 5)
    assert plant.contactors_closed and plant.energised
    pair.conn.receive(b"", pair.now)
    assert _ends(list(iter(pair.conn.next_event, None)))[0].reason is EndReason.CONNECTION_LOST
    assert not plant.contactors_closed and not plant.energised


# --- scripted EV: sequence, SessionID, response codes ---------------------------------------


def _ev_status() -> d.DC_EVStatus:
    return d.DC_EVStatus(EVReady=True, EVErrorCode=d.DC_EVErrorCodeType.NO_ERROR, EVRESSSOC=30)


def _cpd(transfer=d.EVRequestedEnergyTransferType.DC_extended, max_v=420.0):
    return d.ChargeParameterDiscoveryReq(
        EVRequestedEnergyTransferType=transfer, EVChargeParameter=d.DC_EVChargeParameter(
            DC_EVStatus=_ev_status(), EVMaximumCurrentLimit=amps(100),
            EVMaximumVoltageLimit=volts(max_v)))  # fmt: skip


def _select(option=d.paymentOptionType.ExternalPayment, service=1):
    return d.ServicePaymentSelectionReq(
        SelectedPaymentOption=option, SelectedServiceList=d.SelectedServiceListType(
            SelectedService=[d.SelectedServiceType(ServiceID=service)]))  # fmt: skip


def _to(script: Script, last: str, now: float = 0.0):
    """Play the sequence up to and including ``last``; each answer must be OK."""
    steps = [("setup", d.SessionSetupReq(EVCCID=b"\x02\0\0\0\0\1")),
             ("discovery", d.ServiceDiscoveryReq()), ("payment", _select()),
             ("auth", d.ContractAuthenticationReq()), ("cpd", _cpd())]
    for name, body in steps:
        res = script.send(body, now)
        assert res.ResponseCode in (Code.OK, Code.OK_NewSessionEstablished), name
        if name == last:
            return res
    raise AssertionError(last)


def _cable_checked(script: Script, now: float = 0.0) -> float:
    _to(script, "cpd", now)
    while True:
        res = script.send(d.CableCheckReq(DC_EVStatus=_ev_status()), now)
        if res.EVSEProcessing is d.EVSEProcessingType.Finished:
            assert res.ResponseCode is Code.OK
            return now
        now += 0.5


def test_session_setup_gives_a_new_session_id_and_the_evse_id():
    secc, _ = make_secc(evse_id="49*89*6360")
    script = Script(secc)
    res = _to(script, "setup")
    assert res.ResponseCode is Code.OK_NewSessionEstablished
    assert res.EVSEID == bytes.fromhex("49a89a6360")
    assert script.session_id == bytes.fromhex("0102030405060708")
    assert SessionStarted(script.session_id, "020000000001") in script.events


def test_first_message_other_than_session_setup_is_a_sequence_error():
    secc, ctrl = make_secc()
    res = Script(secc).send(d.ServiceDiscoveryReq(), 1.0)
    assert isinstance(res, d.ServiceDiscoveryRes)
    assert res.ResponseCode is Code.FAILED_SequenceError
    assert secc.finished and secc.end.reason is EndReason.SEQUENCE_ERROR
    assert ctrl.ended == EndReason.SEQUENCE_ERROR.value


@pytest.mark.parametrize("body", [
    d.CableCheckReq(DC_EVStatus=_ev_status()),
    d.SessionSetupReq(EVCCID=b"\x02\0\0\0\0\1"),  # a second setup inside the session
    d.PowerDeliveryReq(ReadyToChargeState=True),
    d.CurrentDemandReq(DC_EVStatus=_ev_status(), EVTargetCurrent=amps(10), ChargingComplete=False,
                       EVTargetVoltage=volts(400)),
    d.SessionStopReq(),  # before ChargeParameterDiscovery
    d.ServiceDetailReq(ServiceID=1),  # in the schema, never in a DC EIM session
    d.ChargingStatusReq(),
])
def test_request_out_of_sequence_gets_failed_sequence_error(body):
    secc, _ = make_secc()
    script = Script(secc)
    _to(script, "discovery")
    res = script.send(body, 1.0)
    assert type(res).__name__ == type(body).__name__.replace("Req", "Res")
    assert res.ResponseCode is Code.FAILED_SequenceError
    assert secc.end.reason is EndReason.SEQUENCE_ERROR
    assert script.send(_select(), 2.0) is None  # finished: nothing more


def test_wrong_session_id_gets_failed_unknown_session():
    secc, _ = make_secc()
    script = Script(secc)
    _to(script, "setup")
    res = script.send(d.ServiceDiscoveryReq(), 1.0, session_id=bytes.fromhex("0102030405060709"))
    assert res.ResponseCode is Code.FAILED_UnknownSession
    assert secc.end.reason is EndReason.UNKNOWN_SESSION


def test_undecodable_payload_ends_the_session_without_an_answer():
    secc, ctrl = make_secc()
    secc.receive(0x8001, b"\x80\xff\xff", 1.0)
    assert secc.data_to_send() == []
    assert secc.end.reason is EndReason.UNDECODABLE
    assert ctrl.ended is not None


@pytest.mark.parametrize(("body", "code"), [
    (_select(option=d.paymentOptionType.Contract), Code.FAILED_PaymentSelectionInvalid),
    (_select(service=7), Code.FAILED_ServiceSelectionInvalid),
])
def test_payment_selection_codes(body, code):
    secc, _ = make_secc()
    script = Script(secc)
    _to(script, "discovery")
    assert script.send(body, 1.0).ResponseCode is code
    assert secc.end.reason is EndReason.FAILED


def test_contract_authentication_ongoing_then_finished():
    secc, _ = make_secc(authorize_after=5.0)
    script = Script(secc)
    _to(script, "payment")
    res = script.send(d.ContractAuthenticationReq(), 1.0)
    assert (res.ResponseCode, res.EVSEProcessing) == (Code.OK, d.EVSEProcessingType.Ongoing)
    res = script.send(d.ContractAuthenticationReq(), 6.0)
    assert (res.ResponseCode, res.EVSEProcessing) == (Code.OK, d.EVSEProcessingType.Finished)


def test_contract_authentication_rejected_is_failed():
    secc, _ = make_secc(decision=Decision.REJECTED)
    script = Script(secc)
    _to(script, "payment")
    assert script.send(d.ContractAuthenticationReq(), 1.0).ResponseCode is Code.FAILED
    assert secc.finished


def test_contract_authentication_ongoing_past_its_limit_is_failed():
    secc, _ = make_secc(authorize_after=1e6)
    script = Script(secc)
    _to(script, "payment")
    now = 1.0
    while now <= 1.0 + k.ONGOING_TIMEOUT:
        res = script.send(d.ContractAuthenticationReq(), now)
        assert res.EVSEProcessing is d.EVSEProcessingType.Ongoing
        now += 10.0
    assert script.send(d.ContractAuthenticationReq(), now).ResponseCode is Code.FAILED
    assert secc.end.reason is EndReason.ONGOING_TIMEOUT


@pytest.mark.parametrize(("body", "code"), [
    (_cpd(transfer=d.EVRequestedEnergyTransferType.AC_three_phase_core),
     Code.FAILED_WrongEnergyTransferType),
    (_cpd(max_v=40.0), Code.FAILED_WrongChargeParameter),  # below the stage's minimum
])
def test_charge_parameter_discovery_codes(body, code):
    secc, _ = make_secc()
    script = Script(secc)
    _to(script, "auth")
    assert script.send(body, 1.0).ResponseCode is code


def test_charge_parameter_discovery_offers_the_station_limits():
    secc, _ = make_secc(DcPlant(StageLimits(max_voltage=500, max_current=125, max_power=50_000)))
    res = _to(Script(secc), "cpd")
    param = res.EVSEChargeParameter
    assert isinstance(param, d.DC_EVSEChargeParameter)
    assert from_physical(param.EVSEMaximumVoltageLimit) == 500
    assert from_physical(param.EVSEMaximumCurrentLimit) == 125
    assert from_physical(param.EVSEMaximumPowerLimit) == 50_000
    assert res.SASchedules.SAScheduleTuple[0].PMaxSchedule.PMaxScheduleEntry[0].PMax == 50


def test_cable_check_fault_is_failed_with_the_isolation_level():
    secc, _ = make_secc(DcPlant(insulation_ohm=1000, isolation_time=0.5))
    script = Script(secc)
    _to(script, "cpd")
    res = script.send(d.CableCheckReq(DC_EVStatus=_ev_status()), 1.0)
    assert res.EVSEProcessing is d.EVSEProcessingType.Ongoing
    assert res.DC_EVSEStatus.EVSEStatusCode is d.DC_EVSEStatusCodeType.EVSE_IsolationMonitoringActive
    res = script.send(d.CableCheckReq(DC_EVStatus=_ev_status()), 2.0)
    assert res.ResponseCode is Code.FAILED
    assert res.DC_EVSEStatus.EVSEIsolationStatus is d.isolationLevelType.Fault


def test_cable_check_past_its_limit_is_failed():
    secc, _ = make_secc(DcPlant(isolation_time=1e6))
    script = Script(secc)
    _to(script, "cpd")
    assert script.send(d.CableCheckReq(DC_EVStatus=_ev_status()), 1.0).ResponseCode is Code.OK
    assert script.send(d.CableCheckReq(DC_EVStatus=_ev_status()),
                       1.0 + k.CABLE_CHECK_TIMEOUT).ResponseCode is Code.OK
    res = script.send(d.CableCheckReq(DC_EVStatus=_ev_status()), 1.1 + k.CABLE_CHECK_TIMEOUT)
    assert res.ResponseCode is Code.FAILED
    assert secc.end.reason is EndReason.ONGOING_TIMEOUT


def _pre_charge(v: float) -> d.PreChargeReq:
    return d.PreChargeReq(DC_EVStatus=_ev_status(), EVTargetVoltage=volts(v),
                          EVTargetCurrent=amps(1))


def test_pre_charge_reports_the_ramp_and_power_delivery_needs_the_tolerance():
    secc, _ = make_secc(DcPlant(StageLimits(voltage_ramp=100.0), isolation_time=1.0))
    script = Script(secc)
    now = _cable_checked(script) + 1.0
    # the output is still ramping (100 V/s) towards the EV's 380 V
    first = from_physical(script.send(_pre_charge(380.0), now).EVSEPresentVoltage)
    assert first < 380.0 - k.PRE_CHARGE_TOLERANCE
    res = script.send(d.PowerDeliveryReq(ReadyToChargeState=True), now)
    assert res.ResponseCode is Code.FAILED_PowerDeliveryNotApplied
    assert secc.end.reason is EndReason.FAILED


def test_pre_charge_in_tolerance_then_power_delivery_closes_the_contactors():
    plant = DcPlant(StageLimits(voltage_ramp=100.0), isolation_time=1.0)
    secc, _ = make_secc(plant)
    script = Script(secc)
    now = _cable_checked(script) + 1.0
    script.send(_pre_charge(380.0), now)
    res = script.send(_pre_charge(380.0), now + 3.0)
    assert from_physical(res.EVSEPresentVoltage) == pytest.approx(380.0)
    res = script.send(d.PowerDeliveryReq(ReadyToChargeState=True), now + 3.0)
    assert res.ResponseCode is Code.OK and plant.contactors_closed


def test_pre_charge_past_its_limit_is_failed():
    secc, _ = make_secc()
    script = Script(secc)
    now = _cable_checked(script)
    assert script.send(_pre_charge(350.0), now).ResponseCode is Code.OK
    assert script.send(_pre_charge(350.0), now + k.PRE_CHARGE_TIMEOUT).ResponseCode is Code.OK
    res = script.send(_pre_charge(350.0), now + k.PRE_CHARGE_TIMEOUT + 0.1)
    assert res.ResponseCode is Code.FAILED
    assert secc.end.reason is EndReason.ONGOING_TIMEOUT


def test_pre_charge_above_the_stage_maximum_is_a_wrong_charge_parameter():
    secc, _ = make_secc(DcPlant(StageLimits(max_voltage=500.0), isolation_time=1.0))
    script = Script(secc)
    now = _cable_checked(script)
    assert script.send(_pre_charge(900.0), now).ResponseCode is Code.FAILED_WrongChargeParameter


# --- timers (fake clock) ----------------------------------------------------------------------


def test_communication_setup_timeout_runs_from_the_tcp_accept():
    secc, ctrl = make_secc()
    assert secc.get_timer() == k.COMMUNICATION_SETUP_TIMEOUT
    secc.handle_timer(k.COMMUNICATION_SETUP_TIMEOUT - 0.01)
    assert not secc.finished
    secc.handle_timer(k.COMMUNICATION_SETUP_TIMEOUT)
    assert secc.end.reason is EndReason.SETUP_TIMEOUT
    assert ctrl.ended == EndReason.SETUP_TIMEOUT.value
    assert secc.data_to_send() == []


def test_session_setup_stops_the_setup_timer_and_starts_the_sequence_timer():
    secc, _ = make_secc()
    Script(secc).send(d.SessionSetupReq(EVCCID=b"\x02\0\0\0\0\1"), 5.0)
    assert secc.get_timer() == 5.0 + k.SEQUENCE_TIMEOUT
    secc.handle_timer(k.COMMUNICATION_SETUP_TIMEOUT + 1)
    assert not secc.finished


def test_sequence_timeout_after_the_last_response():
    secc, ctrl = make_secc()
    script = Script(secc)
    _to(script, "payment", now=3.0)
    secc.handle_timer(3.0 + k.SEQUENCE_TIMEOUT - 0.01)
    assert not secc.finished
    secc.handle_timer(3.0 + k.SEQUENCE_TIMEOUT)
    assert secc.end.reason is EndReason.SEQUENCE_TIMEOUT
    assert ctrl.ended == EndReason.SEQUENCE_TIMEOUT.value
    assert secc.get_timer() is None


def test_each_request_restarts_the_sequence_timer():
    secc, _ = make_secc()
    script = Script(secc)
    _to(script, "setup", now=0.0)
    script.send(d.ServiceDiscoveryReq(), 50.0)
    secc.handle_timer(k.SEQUENCE_TIMEOUT + 1.0)
    assert not secc.finished
    assert secc.get_timer() == 50.0 + k.SEQUENCE_TIMEOUT


# --- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "multiplier", "raw"), [
    (400.5, -1, 4005), (12.345, -3, 12345), (50_000, 1, 5000), (-60.0, -2, -6000), (0, -3, 0),
])
def test_physical_value_takes_the_finest_multiplier_that_fits(value, multiplier, raw):
    pv = to_physical(d.PhysicalValueType, d.unitSymbolType.W, value)
    assert (pv.Multiplier, pv.Value) == (multiplier, raw)
    assert from_physical(pv) == pytest.approx(value)


def test_physical_value_refuses_what_no_multiplier_fits():
    with pytest.raises(ValueError):
        watts(1e12)


def test_evse_id_forms():
    assert evse_id_bytes("49*89*6360") == bytes.fromhex("49a89a6360")
    assert evse_id_bytes("1*2") == bytes.fromhex("1a2b")
    assert evse_id_bytes("DE*V2G*E1") == b"DE*V2G*E1"


def test_battery_default_is_what_the_pair_tests_assume():
    # the pair tests rely on a pack well inside the default stage's voltage window
    assert StageLimits().min_voltage < Battery().empty_voltage < Battery().full_voltage \
        < StageLimits().max_voltage


def _charging(plant: DcPlant | None = None, **kw):
    plant = plant or DcPlant(StageLimits(current_ramp=1e4), isolation_time=1.0)
    secc, ctrl = make_secc(plant, **kw)
    script = Script(secc)
    now = _cable_checked(script)
    script.send(_pre_charge(plant.battery.open_circuit_voltage()), now)
    now += 5.0
    script.send(_pre_charge(plant.battery.open_circuit_voltage()), now)
    assert script.send(d.PowerDeliveryReq(ReadyToChargeState=True), now).ResponseCode is Code.OK
    return secc, ctrl, script, plant, now


def _demand(amps_: float, status: d.DC_EVStatus | None = None) -> d.CurrentDemandReq:
    return d.CurrentDemandReq(DC_EVStatus=status or _ev_status(), EVTargetCurrent=amps(amps_),
                              ChargingComplete=False, EVTargetVoltage=volts(410))


def test_current_demand_follows_the_ev_within_the_station_limits():
    plant = DcPlant(StageLimits(max_current=80.0, current_ramp=1e4), isolation_time=1.0)
    secc, _, script, plant, now = _charging(plant)
    script.send(_demand(50.0), now)
    res = script.send(_demand(50.0), now + 1.0)
    assert from_physical(res.EVSEPresentCurrent) == pytest.approx(50.0)
    assert res.EVSECurrentLimitAchieved is False
    res = script.send(_demand(120.0), now + 2.0)
    assert res.EVSECurrentLimitAchieved is True
    res = script.send(_demand(120.0), now + 3.0)
    assert from_physical(res.EVSEPresentCurrent) == pytest.approx(80.0)


@pytest.mark.parametrize("status", [
    d.DC_EVStatus(EVReady=False, EVErrorCode=d.DC_EVErrorCodeType.NO_ERROR, EVRESSSOC=30),
    d.DC_EVStatus(EVReady=True, EVErrorCode=d.DC_EVErrorCodeType.FAILED_EVRESSMalfunction,
                  EVRESSSOC=30),
])
def test_current_demand_from_an_ev_not_ready_or_in_error_gets_no_current(status):
    secc, _, script, plant, now = _charging()
    script.send(_demand(50.0), now)
    script.send(_demand(50.0), now + 1.0)
    assert plant.current == pytest.approx(50.0)
    script.send(_demand(50.0, status), now + 2.0)
    plant.advance(now + 3.0)
    assert plant.current == 0.0


def test_station_emergency_during_current_demand_shuts_down_and_answers_failed():
    secc, ctrl, script, plant, now = _charging()
    script.send(_demand(50.0), now)
    ctrl.stop = StopRequest.EMERGENCY
    res = script.send(_demand(50.0), now + 1.0)
    assert res.ResponseCode is Code.FAILED
    assert res.DC_EVSEStatus.EVSEStatusCode is d.DC_EVSEStatusCodeType.EVSE_EmergencyShutdown
    assert secc.end.reason is EndReason.FAILED
    assert not plant.energised and not plant.contactors_closed
