"""Our -20 EVCC against our -20 SECC on a fake clock, the session flows of ``iso20_flow``:
ServiceRenegotiation asked by the EV and by the station (one session, two energy services),
Standby (0 W with the contactors closed, then Start), a station that refuses Standby, and
a resumed session at a station without renegotiation."""

from __future__ import annotations

import pytest

from host.ev.evcc.iso20 import SessionStopped
from host.exi.schemas import iso20_common_messages as m
from host.secc import iso20_constants as k
from host.secc.core import EndReason, SessionStarted
from host.secc.iso2 import PausedSessions
from tests.host.secc.iso20_helpers import Iso20Pair, bpt_plant, pair

SCHEDULED, DYNAMIC = k.CONTROL_SCHEDULED, k.CONTROL_DYNAMIC


def stops(p: Iso20Pair) -> list[m.chargingSessionType]:
    return [e.request_body.ChargingSession for e in p.secc_events
            if getattr(e, "request", "") == "SessionStopReq"]


def check_one_session(p: Iso20Pair) -> None:
    assert isinstance(p.evcc.result, SessionStopped), p.evcc.result
    assert all(code.startswith("OK") for _name, code in p.answered()), p.answered()
    assert len([e for e in p.secc_events if isinstance(e, SessionStarted)]) == 1
    assert p.names().count("SessionSetupReq") == 1
    assert p.ended().reason is EndReason.STOPPED
    assert not p.controller.plant.contactors_closed and not p.controller.plant.energised


@pytest.mark.parametrize(("first", "then"), [(k.SERVICE_DC, k.SERVICE_DC_BPT),
                                             (k.SERVICE_AC, k.SERVICE_AC_BPT)])
def test_the_ev_renegotiates_its_service_and_discharges_in_the_same_session(first, then):
    p = pair(first, DYNAMIC, renegotiate_to=then, renegotiate_after=10, charge_for=12.0,
             run=False)
    p.run(stop_at=lambda q: q.names().count("SessionStopReq") == 1)
    assert not p.secc.finished
    charged, exported = p.controller.plant.energy_in_wh, p.controller.plant.energy_out_wh
    assert charged > 1 and exported == 0  # the first service charged, never discharged
    p.controller.setpoint = -6_000.0  # the station now wants power back
    p.run()
    check_one_session(p)
    assert stops(p) == [m.chargingSessionType.ServiceRenegotiation,
                        m.chargingSessionType.Terminate]
    assert p.names().count("ServiceDiscoveryReq") == 2
    assert p.secc.service_id == then and p.secc.bpt
    assert p.controller.plant.energy_out_wh > 1
    assert min(p.evcc.present_power) < -5_000


def test_the_station_withdraws_bpt_and_the_ev_goes_on_charging_without_it():
    p = pair(k.SERVICE_DC_BPT, DYNAMIC, setpoint=-6_000.0, charge_for=12.0, run=False)
    p.run(stop_at=lambda q: q.loops() >= 8)
    assert min(p.evcc.present_power) < -5_000
    p.controller.services = frozenset({k.SERVICE_DC})  # the grid operator forbids export
    p.controller.setpoint = None
    p.run(stop_at=lambda q: len(q.evcc.services_used) == 2)
    assert p.evcc.notifications[-1] == "ServiceRenegotiation"
    exported = p.controller.plant.energy_out_wh
    p.run()
    check_one_session(p)
    assert p.evcc.services_used == [k.SERVICE_DC_BPT, k.SERVICE_DC]
    assert p.controller.plant.energy_out_wh == pytest.approx(exported, abs=0.5)
    assert p.evcc.present_power[-5] > 20_000  # charging at the EV's maximum again


@pytest.mark.parametrize("service", [k.SERVICE_DC_BPT, k.SERVICE_AC_BPT])
@pytest.mark.parametrize("mode", [SCHEDULED, DYNAMIC])
def test_standby_holds_zero_power_with_the_contactors_closed_then_resumes(service, mode):
    p = pair(service, mode, setpoint=-5_000.0 if mode == DYNAMIC else None,
             discharge=mode == SCHEDULED, standby_after=4, standby_loops=5, charge_for=6.0,
             run=False)  # fmt: skip
    p.run(stop_at=lambda q: q.evcc.standing_by)
    before = list(p.evcc.present_power)
    assert min(before) < -4_000  # discharging before the standby
    assert p.secc.standing_by and p.secc.state.name == "CHARGING"
    p.run(stop_at=lambda q: not q.evcc.standing_by)
    plant = p.controller.plant
    assert plant.contactors_closed  # [V2G20-1386]: contactors stay closed in standby
    assert len(p.evcc.standby_power) == 5
    assert all(abs(w) < 1.0 for w in p.evcc.standby_power), p.evcc.standby_power
    p.run()
    check_one_session(p)
    progress = [e.request_body.ChargeProgress for e in p.secc_events
                if getattr(e, "request", "") == "PowerDeliveryReq"]
    assert progress == [m.chargeProgressType.Start, m.chargeProgressType.Standby,
                        m.chargeProgressType.Start, m.chargeProgressType.Stop]
    assert min(p.evcc.present_power[len(before) + 5:]) < -4_000  # discharging again


def test_a_station_that_refuses_standby_keeps_the_power_flowing():
    p = pair(k.SERVICE_DC_BPT, DYNAMIC, setpoint=-5_000.0, standby_after=4, charge_for=3.0,
             secc_kw={"standby": False})
    assert isinstance(p.evcc.result, SessionStopped), p.evcc.result
    assert p.ended().reason is EndReason.STOPPED
    assert p.evcc.standby_refused and p.evcc.standby_power == []
    codes = [code for name, code in p.answered() if name == "PowerDeliveryReq"]
    assert codes == ["OK", "WARNING_StandbyNotAllowed", "OK"]  # Start, Standby, Stop
    assert p.answered()[-1] == ("SessionStopReq", "OK")


def test_resume_at_a_station_without_renegotiation_offers_the_first_choice_only():
    paused = PausedSessions()
    plant = bpt_plant()
    no_renegotiation = {"renegotiation": False}
    first = pair(k.SERVICE_DC_BPT, DYNAMIC, plant=plant, paused=paused, pause=True,
                 setpoint=-5_000.0, secc_kw=no_renegotiation)
    check_one_session(first)
    second = pair(k.SERVICE_DC_BPT, DYNAMIC, plant=plant, paused=paused, now=first.now + 30,
                  resume=first.evcc.result.session_id, setpoint=-5_000.0,
                  secc_kw=no_renegotiation)
    check_one_session(second)
    assert second.answered()[0] == ("SessionSetupReq", "OK_OldSessionJoined")
    (discovery,) = [e.response_body for e in second.secc_events
                    if getattr(e, "request", "") == "ServiceDiscoveryReq"]
    assert not discovery.ServiceRenegotiationSupported
    assert [s.ServiceID for s in discovery.EnergyTransferServiceList.Service] == [
        k.SERVICE_DC_BPT]  # [V2G20-1644]
    assert min(second.evcc.present_power) < -4_000


def test_withdrawing_bpt_stops_discharge_in_the_same_loop_iteration():
    """The station's withdrawal of BPT is an export ban from the next answer on, whether or
    not the EV follows the ServiceRenegotiation it is asked for."""
    p = pair(k.SERVICE_DC_BPT, DYNAMIC, setpoint=-6_000.0, charge_for=12.0, run=False)
    p.run(stop_at=lambda q: q.loops() >= 8)
    assert p.secc.last_power < -5_000
    p.controller.services = frozenset({k.SERVICE_DC})  # the setpoint still asks to export
    seen = p.loops()
    p.run(stop_at=lambda q: q.loops() > seen)
    assert p.secc.last_power >= 0.0 and p.controller.plant.target_current >= 0
