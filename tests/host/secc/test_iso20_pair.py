"""Our -20 EVCC against our -20 SECC on a fake clock, DC and DC_BPT in scheduled and dynamic
control: the whole session, the selected schedule tuple honoured, renegotiation when the
station's schedules change, EVSE-initiated Terminate / Pause / MeteringConfirmation, and
Pause and resume by the EV."""

from __future__ import annotations

from host.ev.evcc.iso20 import SessionFailed, SessionStopped
from host.exi.schemas import iso20_common_messages as m
from host.secc import iso20_constants as k
from host.secc.controller import Schedule, StopRequest
from host.secc.core import EndReason
from host.secc.iso2 import PausedSessions
from host.secc.iso20_values import from_rational
from tests.host.secc.iso20_helpers import Iso20Pair, bpt_plant, pair

DC, BPT = k.SERVICE_DC, k.SERVICE_DC_BPT
SCHEDULED, DYNAMIC = k.CONTROL_SCHEDULED, k.CONTROL_DYNAMIC
COMMON = ["SessionSetupReq", "AuthorizationSetupReq", "AuthorizationReq", "ServiceDiscoveryReq",
          "ServiceDetailReq", "ServiceSelectionReq", "DC_ChargeParameterDiscoveryReq",
          "ScheduleExchangeReq", "DC_CableCheckReq"]


def loops(p: Iso20Pair) -> int:
    return p.names().count("DC_ChargeLoopReq")


def check_complete(p: Iso20Pair) -> None:
    assert isinstance(p.evcc.result, SessionStopped), p.evcc.result
    names = p.names()
    assert names[:len(COMMON)] == COMMON
    for name in ("DC_PreChargeReq", "PowerDeliveryReq", "DC_ChargeLoopReq",
                 "DC_WeldingDetectionReq"):
        assert name in names
    assert names[-1] == "SessionStopReq"
    assert all(code.startswith("OK") for _name, code in p.answered()), p.answered()
    assert p.ended().reason is EndReason.STOPPED
    plant = p.controller.plant
    assert not plant.contactors_closed and not plant.energised


def test_dc_scheduled_session_charges():
    p = pair(DC, SCHEDULED)
    check_complete(p)
    assert p.controller.plant.energy_in_wh > 10 and p.controller.plant.energy_out_wh == 0
    assert p.evcc.meter_readings[-1] > 0
    assert max(p.evcc.present_power) > 20_000


def test_dc_dynamic_session_charges_at_the_evs_maximum_without_a_setpoint():
    p = pair(DC, DYNAMIC)
    check_complete(p)
    assert p.secc.control_mode == DYNAMIC
    assert p.controller.plant.energy_in_wh > 10


def test_dc_service_never_discharges_even_when_the_ev_asks():
    p = pair(DC, SCHEDULED, discharge=True)
    check_complete(p)
    assert p.controller.plant.energy_out_wh == 0
    assert max(abs(w) for w in p.evcc.present_power) < 1.0


def test_dc_bpt_scheduled_discharges_within_the_discharging_schedule():
    p = pair(BPT, SCHEDULED, discharge=True)
    check_complete(p)
    (offered,) = p.evcc.tuples
    discharging = offered.DischargingSchedule.PowerSchedule.PowerScheduleEntries
    assert from_rational(discharging.PowerScheduleEntry[0].Power) < 0  # negative power
    assert p.controller.plant.energy_out_wh > 5
    # the EV asks 100 A; the export limit (10 kW) is the smallest discharge limit
    assert -10_100 < min(p.evcc.present_power) < -9_000


def test_dc_bpt_dynamic_follows_the_station_setpoint_both_ways():
    for setpoint in (-8_000.0, 6_000.0):
        p = pair(BPT, DYNAMIC, setpoint=setpoint)
        check_complete(p)
        settled = p.evcc.present_power[5:]
        assert all(abs(w - setpoint) < 150 for w in settled), (setpoint, settled)


def test_up_to_three_tuples_and_the_selected_one_is_honoured():
    plant = bpt_plant(soc=0.5)
    schedules = [Schedule(1, ((0, 40_000.0),)), Schedule(2, ((0, 20_000.0), (60, 30_000.0))),
                 Schedule(3, ((0, 5_000.0),), price_levels=((0, 1), (1800, 0)))]
    p = pair(DC, SCHEDULED, plant=plant, tuple_index=2, run=False)
    p.controller.schedule_list = schedules
    p.run()
    check_complete(p)
    assert [tp.ScheduleTupleID for tp in p.evcc.tuples] == [1, 2, 3]
    levels = p.evcc.tuples[2].ChargingSchedule.PriceLevelSchedule
    assert levels.NumberOfPriceLevels == 2
    assert p.secc.tuple_id == 3
    assert 4_000 < max(p.evcc.present_power) <= 5_050  # 100 A asked: tuple 3's 5 kW holds


def test_power_profile_beyond_the_schedule_is_refused():
    p = pair(DC, SCHEDULED, profile_share=1.5)
    assert isinstance(p.evcc.result, SessionFailed)
    assert p.answered()[-1] == ("PowerDeliveryReq", "FAILED_EVPowerProfileInvalid")
    assert not p.controller.plant.contactors_closed


def test_our_ev_follows_a_falling_schedule_slot_by_slot():
    """PowerDelivery(Start) comes seconds after ScheduleExchange (cable check, pre-charge):
    the EV's profile starts at the schedule's TimeAnchor and follows its slots, so it never
    exceeds the 2 kW that follow the first 2 s ([V2G20-1559]); a single entry anchored at
    PowerDelivery ran into them and was refused."""
    p = pair(DC, SCHEDULED, run=False)
    p.controller.schedule_list = [Schedule(1, ((0, 20_000.0), (2, 2_000.0)))]
    p.run()
    check_complete(p)
    assert ("PowerDeliveryReq", "OK") in p.answered()


def test_changed_schedules_make_the_secc_ask_for_renegotiation():
    p = pair(BPT, SCHEDULED, charge_for=6.0, run=False)
    p.run(stop_at=lambda q: loops(q) >= 5)
    p.controller.schedule_list = [Schedule(7, ((0, 4_000.0),))]
    p.run()
    check_complete(p)
    assert "ScheduleRenegotiation" in p.evcc.notifications
    names = p.names()
    assert names.count("ScheduleExchangeReq") == 2 and names.count("PowerDeliveryReq") == 4
    assert p.secc.tuple_id == 7
    assert p.evcc.present_power[-1] <= 4_050


def test_more_than_three_station_schedules_do_not_renegotiate_for_ever():
    p = pair(DC, SCHEDULED, run=False)
    p.controller.schedule_list = [Schedule(n, ((0, 20_000.0 + n),)) for n in range(1, 6)]
    p.run(until=60.0)  # a session takes ~6 s; renegotiating at every loop never ends
    check_complete(p)
    assert [tp.ScheduleTupleID for tp in p.evcc.tuples] == [1, 2, 3]
    assert "ScheduleRenegotiation" not in p.evcc.notifications


def test_station_stop_and_pause_reach_the_ev_through_evse_notification():
    for stop, kind in ((StopRequest.STOP, "Terminate"), (StopRequest.PAUSE, "Pause")):
        paused = PausedSessions()
        p = pair(BPT, DYNAMIC, charge_for=60.0, paused=paused, run=False)
        p.run(stop_at=lambda q: loops(q) >= 3)
        p.controller.stop = stop
        p.run()
        check_complete(p)
        assert p.evcc.notifications[-1] == kind
        assert p.evcc.sent[-1] == "SessionStopReq"
        assert bool(paused.by_id) is (kind == "Pause")


def test_metering_confirmation_when_the_station_wants_a_receipt():
    p = pair(DC, SCHEDULED, controller_kw={"receipt": True})
    check_complete(p)
    confirmations = [code for name, code in p.answered() if name == "MeteringConfirmationReq"]
    assert confirmations and set(confirmations) == {"OK"}


def test_pause_then_resume_joins_the_old_session():
    paused = PausedSessions()
    plant = bpt_plant()
    first = pair(BPT, DYNAMIC, plant=plant, paused=paused, pause=True, setpoint=-5_000.0)
    check_complete(first)
    sid = first.evcc.result.session_id
    assert sid in paused.by_id
    second = pair(BPT, DYNAMIC, plant=plant, paused=paused, now=first.now + 30, resume=sid,
                  setpoint=-5_000.0)
    check_complete(second)
    assert second.answered()[0] == ("SessionSetupReq", "OK_OldSessionJoined")
    assert second.evcc.session_id == sid and paused.by_id == {}


def test_ev_charge_channel_forbids_discharge():
    p = pair(BPT, DYNAMIC, setpoint=-8_000.0, channel=m.channelSelectionType.Charge)
    check_complete(p)
    assert p.controller.plant.energy_out_wh == 0
