"""The -20 SECC's session flows (``iso20_flow``) against a scripted EV on a fake clock:
ServiceRenegotiation (and FAILED_NoServiceRenegotiationSupported), the EVSE's
ServiceRenegotiation notification, Pause and resume with and without renegotiation
([V2G20-1644], [V2G20-1645], [V2G20-1956]), Standby (and WARNING_StandbyNotAllowed, and the
sequence timer while standing by), and the refusal of VehicleCheckIn/Out."""

from __future__ import annotations

from typing import Any

import pytest

from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import iso20_dc as dc
from host.secc import iso20_constants as k
from host.secc.controller import Decision, SimEvseController
from host.secc.core import EndReason
from host.secc.iso2 import PausedSessions
from host.secc.iso20_dc import Iso20DcSecc
from host.secc.iso20_values import rational
from tests.host.secc.iso20_helpers import SID, H, Script, bpt_plant, context
from tests.host.secc.test_iso20 import (
    auth,
    cable_check,
    cpd,
    ended,
    loop,
    power_delivery,
    pre_charge,
    refused,
    schedule_exchange,
    select,
    walk,
)

Code = m.responseCodeType
Progress = m.chargeProgressType
RENEGOTIATE = m.chargingSessionType.ServiceRenegotiation


def secc(paused: PausedSessions | None = None, **kw: Any) -> tuple[Script, SimEvseController]:
    controller = SimEvseController(bpt_plant())
    machine = Iso20DcSecc(context(), controller, paused=paused, new_session_id=lambda: SID,
                          **kw)  # fmt: skip
    return Script(machine), controller


def stop(kind: Any = RENEGOTIATE) -> m.SessionStopReq:
    return m.SessionStopReq(Header=H, ChargingSession=kind)


def to_welding(script: Script) -> float:
    """In the loop, then PowerDelivery(Stop): the state after which SessionStop comes."""
    now = walk(script, "loop")
    assert script.send(loop(), now).ResponseCode is Code.OK
    res = script.send(power_delivery(Progress.Stop), now + 0.1)
    assert res.ResponseCode is Code.OK and script.secc.state.name == "WELDING_DETECTION"
    return now + 0.2


# --- ServiceRenegotiation -------------------------------------------------------------------


def test_service_renegotiation_goes_back_to_service_discovery_and_forgets_the_service():
    script, controller = secc()
    now = to_welding(script)
    machine = script.secc
    assert machine.service_id == k.SERVICE_DC_BPT and machine.schedules and machine.ev_limits
    assert script.send(stop(), now).ResponseCode is Code.OK  # [V2G20-1643]
    assert machine.state.name == "SERVICE_DISCOVERY" and not machine.finished
    assert (machine.service_id, machine.schedules, machine.ev_limits, machine.tuple_id,
            machine.precharge_target, machine.isolation) == (0, [], None, 0, None, None)
    assert not controller.plant.contactors_closed and not controller.plant.energised
    res = script.send(m.ServiceDiscoveryReq(Header=H), now + 0.1)
    assert res.ResponseCode is Code.OK and res.ServiceRenegotiationSupported
    assert script.send(m.ServiceDetailReq(Header=H, ServiceID=k.SERVICE_DC), now + 0.2)
    assert script.send(select(k.SERVICE_DC, 2), now + 0.3).ResponseCode is Code.OK
    assert (machine.service_id, machine.control_mode) == (k.SERVICE_DC, k.CONTROL_DYNAMIC)
    # the old service's requests are out of sequence until the new one is prepared
    refused(script, loop(), now + 0.4, "FAILED_SequenceError", EndReason.SEQUENCE_ERROR)


def test_after_service_renegotiation_the_sequence_timer_runs():
    script, controller = secc()
    now = to_welding(script)
    script.send(stop(), now)
    machine = script.secc
    assert machine.get_timer() == pytest.approx(now + k.SEQUENCE_TIMEOUT)
    machine.handle_timer(now + k.SEQUENCE_TIMEOUT)
    assert machine.end is not None and machine.end.reason is EndReason.SEQUENCE_TIMEOUT
    assert controller.ended == EndReason.SEQUENCE_TIMEOUT.value


def test_the_new_service_gets_its_own_cable_check_limit():
    script, _ = secc()
    now = to_welding(script)
    for _ in range(2):  # the first cable check began more than its 40 s limit ago
        now += 30.0
        assert script.send(stop(), now).ResponseCode is Code.OK
        for request in (m.ServiceDiscoveryReq(Header=H), select(), cpd(), schedule_exchange()):
            assert script.send(request, now).ResponseCode is Code.OK
        res = script.send(cable_check(), now)
        assert res.ResponseCode is Code.OK and res.EVSEProcessing is m.processingType.Ongoing
        res = script.send(cable_check(), now + 1.5)
        assert res.ResponseCode is Code.OK and res.EVSEProcessing is m.processingType.Finished
        now += 1.6
        assert script.send(pre_charge(386.0), now).ResponseCode is Code.OK
        now += 3.0  # the stage ramps to the battery's voltage
        assert script.send(pre_charge(386.0), now).ResponseCode is Code.OK
        assert script.send(power_delivery(), now + 0.1).ResponseCode is Code.OK
        assert script.send(power_delivery(Progress.Stop), now + 0.2).ResponseCode is Code.OK


def test_service_renegotiation_refused_by_a_station_that_did_not_announce_it():
    script, _ = secc(renegotiation=False)
    now = walk(script, "cpd")
    (discovery,) = [e.response_body for e in script.events
                    if getattr(e, "request", "") == "ServiceDiscoveryReq"]
    assert discovery.ServiceRenegotiationSupported is False
    refused(script, stop(), now, "FAILED_NoServiceRenegotiationSupported")  # [V2G20-1955]


def test_service_renegotiation_before_any_service_discovery_is_refused():
    script, _ = secc()  # it would lead past the authorization
    now = walk(script, "auth")
    refused(script, stop(), now, "FAILED_NoServiceRenegotiationSupported")


def test_the_station_asks_for_service_renegotiation_when_its_offer_changes():
    script, controller = secc()
    now = walk(script, "loop")
    assert script.send(loop(), now).EVSEStatus is None
    controller.services = frozenset({k.SERVICE_DC})  # BPT withdrawn
    res = script.send(loop(), now + 0.1)
    assert res.EVSEStatus.EVSENotification is m.evseNotificationType.ServiceRenegotiation


def test_no_service_renegotiation_notification_unless_announced():
    script, controller = secc(renegotiation=False)
    now = walk(script, "loop")
    controller.services = frozenset({k.SERVICE_DC})
    assert script.send(loop(), now).EVSEStatus is None


def test_a_withdrawn_service_cannot_be_selected():
    script, controller = secc()
    now = walk(script, "select")
    controller.services = frozenset({k.SERVICE_DC})
    refused(script, select(k.SERVICE_DC_BPT, 1), now, "FAILED_ServiceSelectionInvalid")


# --- Pause and resume -----------------------------------------------------------------------


def paused_then_resumed(renegotiation: bool) -> tuple[Script, float]:
    """A session that selected DC_BPT, scheduled, and paused; then its resumption."""
    paused = PausedSessions()
    first, _ = secc(paused, renegotiation=renegotiation)
    now = walk(first, "cpd")
    assert first.send(stop(m.chargingSessionType.Pause), now).ResponseCode is Code.OK
    assert ended(first).reason is EndReason.STOPPED and SID in paused.by_id
    second, _ = secc(paused, renegotiation=renegotiation)
    second.session_id = SID  # the EV presents its paused SessionID
    res = second.send(m.SessionSetupReq(Header=H, EVCCID="WMIV2GATE0000001"), now + 30)
    assert res.ResponseCode is Code.OK_OldSessionJoined and res.Header.SessionID == SID
    assert paused.by_id == {}
    for request in (m.AuthorizationSetupReq(Header=H), auth()):  # all again after a pause
        assert second.send(request, now + 30.1).ResponseCode is Code.OK
    return second, now + 30.2


def test_resume_without_renegotiation_offers_only_the_first_selection():
    script, now = paused_then_resumed(renegotiation=False)
    res = script.send(m.ServiceDiscoveryReq(Header=H), now)
    assert [s.ServiceID for s in res.EnergyTransferServiceList.Service] == [k.SERVICE_DC_BPT]
    assert res.ServiceRenegotiationSupported is False  # the first one's, for the session
    res = script.send(m.ServiceDetailReq(Header=H, ServiceID=k.SERVICE_DC_BPT), now + 0.1)
    assert [ps.ParameterSetID for ps in res.ServiceParameterList.ParameterSet] == [1]
    refused(script, select(k.SERVICE_DC_BPT, 2), now + 0.2,
            "FAILED_NoServiceRenegotiationSupported")  # [V2G20-1956]


def test_resume_without_renegotiation_takes_the_same_selection():
    script, now = paused_then_resumed(renegotiation=False)
    script.send(m.ServiceDiscoveryReq(Header=H), now)
    assert script.send(select(k.SERVICE_DC_BPT, 1), now + 0.1).ResponseCode is Code.OK


def test_resume_with_renegotiation_offers_everything_again():
    script, now = paused_then_resumed(renegotiation=True)
    res = script.send(m.ServiceDiscoveryReq(Header=H), now)
    assert [s.ServiceID for s in res.EnergyTransferServiceList.Service] == [
        k.SERVICE_DC, k.SERVICE_DC_BPT]  # [V2G20-1645]
    assert script.send(select(k.SERVICE_DC, 2), now + 0.1).ResponseCode is Code.OK


def test_a_resumed_session_cannot_skip_its_authorization_by_service_renegotiation():
    # the first ServiceDiscoveryRes announced renegotiation, but in this connection the EV
    # has not been authorized yet: going back to ServiceDiscovery would skip that
    paused = PausedSessions()
    first, _ = secc(paused)
    now = walk(first, "cpd")
    assert first.send(stop(m.chargingSessionType.Pause), now).ResponseCode is Code.OK
    second, controller = secc(paused)
    controller.decision = Decision.REJECTED  # the station would refuse the EV now
    second.session_id = SID
    res = second.send(m.SessionSetupReq(Header=H, EVCCID="WMIV2GATE0000001"), now + 30)
    assert res.ResponseCode is Code.OK_OldSessionJoined
    assert second.send(m.AuthorizationSetupReq(Header=H), now + 30.1).ResponseCode is Code.OK
    refused(second, stop(), now + 30.2, "FAILED_SequenceError", EndReason.SEQUENCE_ERROR)
    assert second.secc.state.name == "AUTHORIZATION"


def test_a_paused_session_id_from_another_ev_is_a_new_session():
    paused = PausedSessions()
    paused.pause(b"\x05" * 8, b"ANOTHEREV")
    script, _ = secc(paused)
    script.session_id = b"\x05" * 8
    res = script.send(m.SessionSetupReq(Header=H, EVCCID="WMIV2GATE0000001"), 0.0)
    assert res.ResponseCode is Code.OK_NewSessionEstablished and res.Header.SessionID == SID
    assert b"\x05" * 8 in paused.by_id


def test_paused_sessions_stay_bounded():
    # an EV may pause before it is authorized: anyone can add entries, so they must not
    # pile up; an EV keeps its newest paused session only
    paused = PausedSessions()
    for n in range(3):
        paused.pause(bytes([1, n]) + bytes(6), b"EV", n)
    assert list(paused.by_id) == [bytes([1, 2]) + bytes(6)]
    assert paused.resume(bytes([1, 0]) + bytes(6), b"EV") == (False, None)
    from host.secc.iso2 import MAX_PAUSED  # many EVs: at most this many, the newest

    for n in range(10_000):
        paused.pause(n.to_bytes(8, "big"), b"EV%d" % n)
    assert len(paused.by_id) == len(paused.kept) == MAX_PAUSED
    assert paused.resume((9_999).to_bytes(8, "big"), b"EV9999")[0]  # the newest are kept
    assert not paused.resume((0).to_bytes(8, "big"), b"EV0")[0]


# --- Standby --------------------------------------------------------------------------------


def standby() -> m.PowerDeliveryReq:
    request = power_delivery(Progress.Standby)
    request.EVPowerProfile = None
    return request


def big_loop() -> dc.DC_ChargeLoopReq:
    request = loop()
    request.CLReqControlMode.EVTargetCurrent = rational(400)  # the EV asks for a lot
    return request


def test_standby_holds_zero_power_and_start_resumes_it():
    script, controller = secc()
    now = walk(script, "loop")
    script.send(loop(), now)
    assert script.secc.last_power > 10_000
    res = script.send(standby(), now + 0.1)
    assert res.ResponseCode is Code.OK and script.secc.standing_by  # [V2G20-1385]
    for step in range(1, 6):  # [V2G20-2118]: the EV's targets are not read in standby
        assert script.send(big_loop(), now + 0.1 + step * 0.1).ResponseCode is Code.OK
        assert script.secc.last_power == 0
    assert controller.plant.contactors_closed and controller.plant.current == 0
    assert script.send(power_delivery(), now + 1.0).ResponseCode is Code.OK  # [V2G20-1386]
    assert not script.secc.standing_by
    script.send(loop(), now + 1.1)
    assert script.secc.last_power > 10_000


def test_standby_refused_by_a_station_that_does_not_allow_it():
    script, controller = secc(standby=False)
    now = walk(script, "loop")
    script.send(loop(), now)
    res = script.send(standby(), now + 0.1)
    assert res.ResponseCode is Code.WARNING_StandbyNotAllowed  # [V2G20-1700]
    assert not script.secc.finished and not script.secc.standing_by
    script.send(loop(), now + 0.2)  # [V2G20-1396]: the EV goes on as agreed
    assert script.secc.last_power > 10_000


def test_standby_before_power_flows_is_not_allowed():
    script, controller = secc()
    now = walk(script, "power_delivery")
    res = script.send(standby(), now)
    assert res.ResponseCode is Code.WARNING_StandbyNotAllowed
    assert not script.secc.finished and script.secc.state.name == "PRE_CHARGE"
    assert not controller.plant.contactors_closed


def test_standby_ongoing_is_ignored_like_any_power_delivery_ongoing():
    script, _ = secc()
    now = walk(script, "loop")
    request = standby()
    request.EVProcessing = m.processingType.Ongoing
    assert script.send(request, now).ResponseCode is Code.OK  # [V2G20-2007]
    assert not script.secc.standing_by


def test_the_sequence_timer_runs_in_standby():
    script, controller = secc()
    now = walk(script, "loop")
    script.send(loop(), now)
    script.send(standby(), now + 0.1)
    machine = script.secc
    assert machine.get_timer() == pytest.approx(now + 0.1 + k.SEQUENCE_TIMEOUT)
    machine.handle_timer(now + 0.1 + k.SEQUENCE_TIMEOUT)
    assert machine.end is not None and machine.end.reason is EndReason.SEQUENCE_TIMEOUT
    assert not controller.plant.contactors_closed and not controller.plant.energised


def test_schedule_renegotiation_from_standby_leaves_it():
    script, _ = secc()
    now = walk(script, "loop")
    script.send(loop(), now)
    script.send(standby(), now + 0.1)
    request = power_delivery(Progress.ScheduleRenegotiation)
    assert script.send(request, now + 0.2).ResponseCode is Code.OK
    assert not script.secc.standing_by and script.secc.state.name == "RENEGOTIATION"
    assert script.send(schedule_exchange(), now + 0.3).ResponseCode is Code.OK
    assert script.send(standby(), now + 0.4).ResponseCode is Code.OK  # after ScheduleExchange
    assert script.secc.standing_by and script.secc.state.name == "CHARGING"


# --- VehicleCheckIn/Out ---------------------------------------------------------------------


def check_in() -> m.VehicleCheckInReq:
    return m.VehicleCheckInReq(Header=H, EVCheckInStatus=m.evCheckInStatusType.CheckIn,
                               ParkingMethod=m.parkingMethodType.Manual)


def check_out() -> m.VehicleCheckOutReq:
    return m.VehicleCheckOutReq(Header=H, EVCheckOutStatus=m.evCheckOutStatusType.CheckOut,
                                CheckOutTime=0)


@pytest.mark.parametrize("request_", [check_in, check_out])
@pytest.mark.parametrize("upto", ["auth_setup", "select", "cable_check", "loop"])
def test_vehicle_check_in_and_out_are_out_of_sequence_in_conductive_sessions(request_, upto):
    script, controller = secc()
    now = walk(script, upto)
    res = refused(script, request_(), now, "FAILED_SequenceError", EndReason.SEQUENCE_ERROR)
    assert type(res).__name__ == type(request_()).__name__.replace("Req", "Res")
