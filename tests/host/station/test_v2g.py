"""The station under an ISO 15118 session (host/station/v2g.py), sans-I/O with fake time:
5 % PWM on B, the lease only while the session asks for power, the firmware's refusals as
the controller's answer to a contactor request. (With the firmware process and a whole
session: tests/host/bench/test_v2g_scenario.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

from firmware.app import interlocks, pilot
from firmware.link import messages as m
from host.bench.dcplant import DcPlant, StageLimits
from host.link import events as ev
from host.secc import iso20_constants as k20
from host.secc.controller import Decision, SimEvseController
from host.station.policy import Settings
from host.station.v2g import (
    DigitalStation,
    OfferEnded,
    PowerWanted,
    StationEvseController,
    StationLink,  # fmt: skip
)


def _message(cls: type, **given: object) -> m.Message:
    return cls(**{name: given.get(name, 0) for name in cls.FIELDS})  # type: ignore[no-any-return]


def _running_in(cp: int) -> tuple[DigitalStation, list[m.Message]]:
    station = DigitalStation(Settings())
    station.handle_event(ev.LinkUp(_message(m.FirmwareHello, proto=1, board=b"x")), 0.0)
    station.handle_event(ev.FirmwareReported(1, _message(m.Status, cp_state=cp)), 0.0)
    cmds = station.commands_to_send()  # SetConfig(telemetry)
    station.handle_event(ev.CommandAcked(1, cmds[0]), 0.01)
    return station, station.commands_to_send()


def _cp(station: DigitalStation, seq: int, old: int, new: int, at: float) -> list[m.Message]:
    station.handle_event(ev.FirmwareReported(seq, _message(m.CpStateChanged, old=old, new=new)), at)
    return station.commands_to_send()


def _leases(cmds: list[m.Message]) -> list[int]:
    return [c.allow for c in cmds if isinstance(c, m.PowerLease)]


def test_b_offers_5_percent_and_c_alone_grants_no_lease() -> None:
    station, _ = _running_in(m.CP_A)
    cmds = _cp(station, 2, m.CP_A, m.CP_B, 0.1)
    assert [(c.mode, c.duty) for c in cmds if isinstance(c, m.SetPilot)] == \
        [(m.PILOT_PWM, pilot.DUTY_DIGITAL)]  # fmt: skip
    assert _leases(_cp(station, 3, m.CP_B, m.CP_C, 0.2)) == []  # basic AC would lease here
    station.handle_event(PowerWanted(True), 0.3)
    assert _leases(station.commands_to_send()) == [1]
    station.handle_timer(0.3 + station.s.renew_s)
    assert _leases(station.commands_to_send()) == [1]  # renewed while wanted
    station.handle_event(PowerWanted(False), 0.6)
    assert _leases(station.commands_to_send()) == [0]
    station.handle_event(OfferEnded(), 0.7)
    assert [c.mode for c in station.commands_to_send() if isinstance(c, m.SetPilot)] == [m.PILOT_X1]
    _cp(station, 4, m.CP_C, m.CP_B, 0.8)
    assert _cp(station, 5, m.CP_B, m.CP_A, 0.9) == []  # no second offer after the end
    assert station.sessions == 1


def test_power_asked_before_the_ev_is_in_c_leases_when_it_gets_there() -> None:
    station, _ = _running_in(m.CP_B)
    station.handle_event(PowerWanted(True), 0.1)
    assert _leases(station.commands_to_send()) == []
    assert _leases(_cp(station, 2, m.CP_B, m.CP_C, 0.2)) == [1]


class _Link(StationLink):
    def __init__(self, station: DigitalStation) -> None:
        super().__init__(station, driver=None, loop=asyncio.new_event_loop())  # type: ignore[arg-type]
        self.posted: list[Any] = []

    def _post(self, event: object) -> None:
        self.posted.append(event)


def _controller(station: DigitalStation) -> tuple[StationEvseController, _Link]:
    sim = SimEvseController(DcPlant(StageLimits(), now=0.0), decision=Decision.REJECTED)
    link = _Link(station)
    return StationEvseController.taking_over(sim, link), link


def test_the_controller_keeps_the_stations_offer_of_energy_services() -> None:
    station, _ = _running_in(m.CP_B)
    sim = SimEvseController(DcPlant(StageLimits(), now=0.0))
    sim.services = frozenset({k20.SERVICE_DC})  # BPT not offered (-20 energy services)
    controller = StationEvseController.taking_over(sim, _Link(station))
    assert controller.energy_services(0.0) == frozenset({k20.SERVICE_DC})


def test_the_controller_closes_through_the_firmware_or_says_why_not() -> None:
    station, _ = _running_in(m.CP_B)
    controller, link = _controller(station)
    assert controller.decision is Decision.REJECTED  # the simulated station's settings kept
    assert not controller.close_contactors(1.0)
    assert controller.refusal == "the EV is in CP B, not C" and link.posted == []
    _cp(station, 2, m.CP_B, m.CP_C, 0.2)
    station.handle_event(ev.FirmwareReported(3, _message(
        m.Status, cp_state=m.CP_C, refused=interlocks.NO_LEASE | interlocks.ESTOP_ACTIVE)), 0.3)
    assert not controller.close_contactors(1.0)
    assert controller.refusal == "the firmware refuses: estop-active"
    station.handle_event(ev.FirmwareReported(4, _message(
        m.Status, cp_state=m.CP_C, refused=interlocks.NO_LEASE | interlocks.RCD_UNTESTED)), 0.4)
    assert controller.close_contactors(1.0)  # a lease lifts these
    assert link.posted == [PowerWanted(True)]
    controller.ac_allow(16.0, 1.0)
    assert controller.present_current(1.1) == 0.0  # no power while the firmware's contactor is open
    station.handle_event(ev.FirmwareReported(5, _message(m.ContactorChanged, closed=1)), 1.1)
    controller.ac_allow(16.0, 1.1)
    assert controller.present_current(1.2) > 0
    controller.open_contactors(1.3)
    controller.session_ended("SessionStop", 1.4)
    assert link.posted[1:] == [PowerWanted(False), OfferEnded()]
