"""Our ISO 15118-20 EVCC on a fake clock: what it offers and sends, with which payload type,
its timers (message, charge-loop, communication setup, Ongoing) and how it ends on FAILED,
WARNING, unexpected and foreign-session answers."""

from __future__ import annotations

import sys
from typing import Any

from host.bench.dcplant import DcPlant
from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso20 import Failure, Iso20Config, Iso20Evcc, SessionFailed
from host.exi import codec
from host.exi.schemas import iso20_ac as acs
from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import iso20_common_types as t
from host.exi.schemas import iso20_dc as dcs
from host.secc import iso20_constants as k
from host.v2g import sap
from host.v2g.v2gtp import PayloadType, V2gtpReader, frame
from tests.host.ev.frames import sap_ok
from tests.host.secc.iso20_helpers import pair

SID = bytes.fromhex("1111111111111111")
OK = m.responseCodeType.OK


def _h(sid: bytes = SID) -> t.MessageHeaderType:
    return t.MessageHeaderType(SessionID=sid, TimeStamp=5)


def _res(body: Any) -> bytes:
    return frame(PayloadType.ISO20_MAIN, codec.encode(body, m.NAMESPACE))


def _sent(ev: Iso20Evcc) -> list[tuple[int, Any]]:
    reader = V2gtpReader((PayloadType.EXI, PayloadType.ISO20_MAIN, PayloadType.ISO20_DC))
    for data in ev.data_to_send():
        reader.feed(data)
    out = []
    while (msg := reader.maybe_read_message()) is not None:
        out.append((msg.payload_type, msg.payload))
    return out


def _ev(**kw: Any) -> Iso20Evcc:
    return Iso20Evcc(SimEv(DcPlant().battery), Iso20Config(**kw))


def _setup_done(ev: Iso20Evcc, now: float = 0.0) -> None:
    ev.start(now)
    ev.receive(sap_ok(sap.ISO20_DC), now)
    ev.receive(_res(m.SessionSetupRes(Header=_h(), ResponseCode=m.responseCodeType
                                      .OK_NewSessionEstablished, EVSEID="DE*V2G*E1")), now)


def test_offers_iso20_dc_and_sends_session_setup_as_a_common_message():
    ev = _ev(resume=SID)
    ev.start(0.0)
    ((ptype, payload),) = _sent(ev)
    assert ptype == PayloadType.EXI
    offered = sap.pull_request(payload).AppProtocol
    assert [(p.ProtocolNamespace, p.VersionNumberMajor) for p in offered] == [
        (sap.ISO20_DC.namespace, 1)]
    ev.receive(sap_ok(sap.ISO20_DC), 0.1)
    ((ptype, payload),) = _sent(ev)
    assert ptype == PayloadType.ISO20_MAIN
    request = codec.decode(m.NAMESPACE, payload)
    assert isinstance(request, m.SessionSetupReq) and request.Header.SessionID == SID


def test_msg_timeout():
    ev = _ev()
    ev.start(0.0)
    ev.receive(sap_ok(sap.ISO20_DC), 1.0)
    assert ev.get_timer() == 1.0 + k.MSG_TIMEOUT
    ev.handle_timer(1.0 + k.MSG_TIMEOUT - 0.01)
    assert not ev.done
    ev.handle_timer(1.0 + k.MSG_TIMEOUT)
    assert isinstance(ev.result, SessionFailed) and ev.result.reason is Failure.MSG_TIMEOUT


def test_communication_setup_timeout():
    ev = _ev(msg_timeout=30.0)
    ev.start(0.0)
    ev.receive(sap_ok(sap.ISO20_DC), 1.0)
    ev.handle_timer(k.COMMUNICATION_SETUP_TIMEOUT)
    assert isinstance(ev.result, SessionFailed) and ev.result.reason is Failure.SETUP_TIMEOUT


def test_failed_and_warning_codes_end_the_session():
    for code in (m.responseCodeType.FAILED, m.responseCodeType.WARNING_EIMAuthorizationFailure):
        ev = _ev()
        _setup_done(ev)
        ev.receive(_res(m.AuthorizationSetupRes(
            Header=_h(), ResponseCode=OK, AuthorizationServices=[m.authorizationType.EIM],
            CertificateInstallationService=False,
        EIM_ASResAuthorizationMode=m.EIM_ASResAuthorizationModeType())), 0.1)
        ev.receive(_res(m.AuthorizationRes(Header=_h(), ResponseCode=code,
                                           EVSEProcessing=m.processingType.Finished)), 0.2)
        assert isinstance(ev.result, SessionFailed) and ev.result.reason is Failure.FAILED_CODE
        assert code.value in ev.result.detail


def test_authorization_ongoing_past_the_evs_limit():
    ev = _ev()
    _setup_done(ev)
    ev.receive(_res(m.AuthorizationSetupRes(
        Header=_h(), ResponseCode=OK, AuthorizationServices=[m.authorizationType.EIM],
        CertificateInstallationService=False,
        EIM_ASResAuthorizationMode=m.EIM_ASResAuthorizationModeType())), 0.0)
    ongoing = m.AuthorizationRes(Header=_h(), ResponseCode=OK,
                                 EVSEProcessing=m.processingType.Ongoing)
    ev.receive(_res(ongoing), 1.0)
    ev.handle_timer(1.1)  # the repeat goes out after the loop interval
    assert ev.sent[-2:] == ["AuthorizationReq", "AuthorizationReq"]
    ev.receive(_res(ongoing), 1.0 + k.ONGOING_TIMEOUT + 0.5)
    assert isinstance(ev.result, SessionFailed) and ev.result.reason is Failure.ONGOING_TIMEOUT


def test_unexpected_answer_and_foreign_session_id():
    ev = _ev()
    _setup_done(ev)
    ev.receive(_res(m.ServiceDiscoveryRes(
        Header=_h(), ResponseCode=OK, ServiceRenegotiationSupported=False,
        EnergyTransferServiceList=m.ServiceListType(Service=[
            m.ServiceType(ServiceID=2, FreeService=False)]))), 0.1)
    assert isinstance(ev.result, SessionFailed) and ev.result.reason is Failure.UNEXPECTED

    ev = _ev()
    _setup_done(ev)
    ev.receive(_res(m.AuthorizationSetupRes(
        Header=_h(b"\x22" * 8), ResponseCode=OK, AuthorizationServices=[
            m.authorizationType.EIM], CertificateInstallationService=False,
        EIM_ASResAuthorizationMode=m.EIM_ASResAuthorizationModeType())), 0.1)
    assert isinstance(ev.result, SessionFailed) and ev.result.reason is Failure.SESSION_ID


def test_charge_loop_msg_timeout_and_payload_type():
    p = pair(k.SERVICE_DC_BPT, k.CONTROL_DYNAMIC, setpoint=-5_000.0, charge_for=60.0, run=False)
    p.run(stop_at=lambda q: q.names().count("DC_ChargeLoopReq") >= 2)
    ev = p.evcc
    send_at = ev.get_timer()  # the next loop request, after the loop interval
    ev.handle_timer(send_at)
    ((ptype, payload),) = _sent(ev)  # not delivered: the SECC never answers it
    assert ptype == PayloadType.ISO20_DC
    assert ev.get_timer() == send_at + k.CHARGE_LOOP_TIMEOUT
    ev.handle_timer(send_at + k.CHARGE_LOOP_TIMEOUT)
    assert isinstance(ev.result, SessionFailed) and ev.result.reason is Failure.MSG_TIMEOUT
    assert "DC_ChargeLoopReq" in ev.result.detail


def test_the_ev_does_not_select_a_service_the_secc_does_not_offer():
    p = pair(k.SERVICE_DC_BPT, run=False)
    # the DC SECC offers DC and DC_BPT; the EV wants AC
    p.evcc.service = k.SERVICE_AC
    p.run()
    assert isinstance(p.evcc.result, SessionFailed)
    assert p.evcc.result.reason is Failure.UNEXPECTED and "not offered" in p.evcc.result.detail


def test_random_answers_of_the_awaited_type_never_crash_the_evcc():
    """At every point of a DC_BPT and an AC_BPT session, a random schema-valid answer of the
    type the EVCC waits for (host.exi.sample draws it) is handled without raising: the EVCC
    goes on or fails with a reason."""
    import random

    from host.exi import sample

    outcomes = set()
    for seed in range(160):
        rng = random.Random(seed)
        service = rng.choice((k.SERVICE_DC_BPT, k.SERVICE_AC_BPT))
        p = pair(service, rng.choice((k.CONTROL_SCHEDULED, k.CONTROL_DYNAMIC)), run=False,
                 charge_for=60.0)
        stop_after = rng.randrange(1, 14)
        p.run(stop_at=lambda q, n=stop_after: len(q.evcc.sent) >= n)
        ev = p.evcc
        if ev.done or ev.awaiting is None:
            continue
        schema = sys.modules[ev.awaiting.__module__]
        answer = sample.random_message(schema, ev.awaiting.__name__, rng)
        answer.Header.SessionID = ev.session_id
        types = {m: PayloadType.ISO20_MAIN, dcs: PayloadType.ISO20_DC, acs: PayloadType.ISO20_AC}
        ev.data_to_send()  # the request the SECC would have answered: dropped
        ev.receive(frame(types[schema], codec.encode(answer, schema.NAMESPACE)), p.now)
        outcomes.add(type(ev.result).__name__ if ev.done else "going on")
        if not ev.done:
            assert ev.get_timer() is not None  # waiting for something, never stuck
    assert {"SessionFailed", "going on"} <= outcomes


def _tuple(anchor: int, *entries: tuple[int, float]) -> m.ScheduleTupleType:
    from host.secc.iso20_values import rational

    power = m.PowerScheduleType(TimeAnchor=anchor, PowerScheduleEntries=m.PowerScheduleEntryListType(
        PowerScheduleEntry=[m.PowerScheduleEntryType(Duration=d, Power=rational(w))
                            for d, w in entries]))
    return m.ScheduleTupleType(ScheduleTupleID=4, ChargingSchedule=m.ChargingScheduleType(
        PowerSchedule=power))


def _spans(anchor: int, entries: list[Any]) -> list[tuple[int, int, float]]:
    """(start, end, W) in seconds since 1970 of each entry after ``anchor``."""
    out, start = [], anchor
    for e in entries:
        out.append((start, start + e.Duration, e.Power.Value * 10.0**e.Power.Exponent))
        start += e.Duration
    return out


def test_the_scheduled_power_profile_never_exceeds_the_selected_schedule():
    """[V2G20-1559] with [V2G20-1861]: at every instant the profile covers, its power is at
    most the schedule's there. The schedule (TimeAnchor 1000: 20 kW for 10 s, then 5 kW)
    came at 1000; PowerDelivery(Start) goes out at 1005. A single 10 s entry at 20 kW
    anchored at 1005 would run 5 s into the 5 kW slot."""
    ev = _ev()
    ev.clock_offset = 900.0  # now 105 on the EV's clock is 1005 on the wall
    ev.tuples = [_tuple(1000, (10, 20_000.0), (3600, 5_000.0))]
    req = ev.power_delivery_req(m.chargeProgressType.Start, 105.0)
    profile = req.EVPowerProfile
    assert profile.Scheduled_EVPPTControlMode.SelectedScheduleTupleID == 4
    assert ev.selected_tuple == 4
    ours = _spans(profile.TimeAnchor, profile.EVPowerProfileEntries.EVPowerProfileEntry)
    limits = _spans(1000, ev.tuples[0].ChargingSchedule.PowerSchedule.PowerScheduleEntries
                    .PowerScheduleEntry)  # fmt: skip
    overlaps = [(a, b, w, limit) for a, b, w in ours for lo, hi, limit in limits
                if a < hi and lo < b]
    assert overlaps and all(w <= limit for _a, _b, w, limit in overlaps), overlaps
    # it asks for what the schedule allows, not less: the first slot's 20 kW
    assert max(w for _a, _b, w in ours) == 20_000.0


def test_timestamps_are_seconds_since_1970_with_the_drivers_offset():
    ev = _ev()
    ev.clock_offset = 1_700_000_000.0
    ev.start(5.0)
    ev.receive(sap_ok(sap.ISO20_DC), 5.5)
    ((_ptype, payload),) = _sent(ev)[-1:]
    assert codec.decode(m.NAMESPACE, payload).Header.TimeStamp == 1_700_000_005


def test_a_discharging_profile_is_negative_whichever_sign_the_secc_wrote():
    """Discharge is negative power in the EVPowerProfile (-20 §8.3.5.3.9 NOTE 2); the
    iso15118 package's SECC writes its DischargingSchedule with positive powers, ours with
    negative ones."""
    for written in (10_000.0, -10_000.0):
        ev = _ev(service=k.SERVICE_DC_BPT, discharge=True)
        charging = _tuple(0, (3600, 20_000.0))
        discharging = _tuple(0, (3600, written)).ChargingSchedule
        ev.tuples = [m.ScheduleTupleType(ScheduleTupleID=4, ChargingSchedule=charging
                                         .ChargingSchedule, DischargingSchedule=discharging)]
        entries = ev.power_delivery_req(m.chargeProgressType.Start, 1.0) \
            .EVPowerProfile.EVPowerProfileEntries.EVPowerProfileEntry
        assert [(e.Duration, e.Power.Value * 10.0**e.Power.Exponent) for e in entries] == [
            (3600, -10_000.0)]


def test_standby_not_allowed_is_tolerated_only_as_the_answer_to_standby():
    for progress, fails in ((m.chargeProgressType.Standby, False),
                            (m.chargeProgressType.Stop, True)):
        ev = _ev()
        _setup_done(ev)
        ev._power_delivery(progress, 1.0)  # as from the loop
        ev.receive(_res(m.PowerDeliveryRes(
            Header=_h(), ResponseCode=m.responseCodeType.WARNING_StandbyNotAllowed)), 1.1)
        if fails:
            assert isinstance(ev.result, SessionFailed)
            assert ev.result.reason is Failure.FAILED_CODE
        else:  # [V2G20-1396]: on with the loop, as agreed
            assert ev.result is None and ev.standby_refused and not ev.standing_by
            assert ev.sent[-1] == "DC_ChargeLoopReq"


def test_service_renegotiation_goes_back_to_service_discovery_after_session_stop():
    ev = _ev(renegotiate_to=k.SERVICE_DC_BPT)
    _setup_done(ev)
    ev.renegotiating_service = True
    ev._send(ev.stop_req(), 1.0)
    ((_ptype, payload),) = _sent(ev)[-1:]
    assert codec.decode(m.NAMESPACE, payload).ChargingSession is \
        m.chargingSessionType.ServiceRenegotiation
    ev.receive(_res(m.SessionStopRes(Header=_h(), ResponseCode=OK)), 1.1)
    assert not ev.done and ev.result is None
    assert ev.sent[-1] == "ServiceDiscoveryReq"


def test_a_schedule_beyond_what_the_ev_takes_gives_a_profile_at_the_evs_own_limits():
    """A SECC's schedule of 32767e127 W (a schema-valid RationalNumber) made the profile
    repeat it, which no RationalNumber of ours can carry: ValueError out of the machine (a
    traceback in `v2gate ev`). The EV plans at most what it can take or give."""
    huge = t.RationalNumberType(Exponent=127, Value=32767)
    for discharge in (False, True):
        ev = _ev(service=k.SERVICE_DC_BPT, discharge=discharge)
        schedule = _tuple(0, (3600, 20_000.0)).ChargingSchedule
        schedule.PowerSchedule.PowerScheduleEntries.PowerScheduleEntry[0].Power = huge
        ev.tuples = [m.ScheduleTupleType(ScheduleTupleID=4, ChargingSchedule=schedule,
                                         DischargingSchedule=schedule)]
        (entry,) = ev.power_delivery_req(m.chargeProgressType.Start, 1.0) \
            .EVPowerProfile.EVPowerProfileEntries.EVPowerProfileEntry
        power = entry.Power.Value * 10.0**entry.Power.Exponent
        own = ev.config.max_discharge_power if discharge else ev.ev.limits().max_power
        assert power == (-own if discharge else own)
