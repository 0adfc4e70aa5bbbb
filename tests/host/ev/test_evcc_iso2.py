"""Our ISO 15118-2 EVCC: its timers and FAILED handling on a fake clock, and whole DC and AC
sessions (and a Pause then a resume on a second connection) over TCP on loopback through
SeccServer with the real asyncio driver."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from host.bench.dcplant import DcPlant, StageLimits
from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso2 import Failure, Iso2Config, Iso2Evcc, SessionFailed, SessionStopped
from host.exi import codec
from host.exi.schemas import iso2 as i
from host.secc import iso2_constants as k
from host.secc.controller import SimEvseController
from host.secc.core import EndReason, RequestAnswered, SessionEnded
from host.secc.iso2 import PausedSessions, iso2_factory
from host.v2g import sap
from host.v2g.server import SeccServer, ServerConfig
from tests.host.ev.frames import res_frame, run_through, sap_ok, sent_payloads
from tests.host.v2g.test_server import _free_port, _loopback

AC = i.EnergyTransferModeType.AC_three_phase_core
DC = i.EnergyTransferModeType.DC_extended
SID = bytes.fromhex("1111111111111111")


def _sap_ok() -> bytes:
    return sap_ok(sap.ISO2)


def _res(body: Any, sid: bytes = SID) -> bytes:
    return res_frame(i, body, sid)


_sent = sent_payloads


def _ev(**kw: Any) -> Iso2Evcc:
    return Iso2Evcc(SimEv(DcPlant().battery), Iso2Config(**kw))


def test_offers_iso2_and_asks_to_resume_with_the_paused_session_id():
    ev = _ev(resume=SID)
    ev.start(0.0)
    (payload,) = _sent(ev)
    assert [(p.ProtocolNamespace, p.VersionNumberMajor) for p in
            sap.pull_request(payload).AppProtocol] == [(sap.ISO2.namespace, 2)]
    ev.receive(_sap_ok(), 0.1)
    (payload,) = _sent(ev)
    message = codec.decode(i.NAMESPACE, payload)
    assert isinstance(message.Body.BodyElement, i.SessionSetupReq)
    assert message.Header.SessionID == SID


def test_msg_timeout_and_failed_code():
    ev = _ev()
    ev.start(0.0)
    ev.receive(_sap_ok(), 1.0)
    assert ev.get_timer() == 1.0 + k.MSG_TIMEOUT
    ev.handle_timer(1.0 + k.MSG_TIMEOUT - 0.01)
    assert not ev.done
    ev.handle_timer(1.0 + k.MSG_TIMEOUT)
    assert isinstance(ev.result, SessionFailed) and ev.result.reason is Failure.MSG_TIMEOUT

    ev = _ev()
    ev.start(0.0)
    ev.receive(_sap_ok(), 0.0)
    ev.receive(_res(i.SessionSetupRes(ResponseCode=i.responseCodeType.FAILED,
                                      EVSEID="DE*V2G*E1", EVSETimeStamp=None)), 0.0)
    assert isinstance(ev.result, SessionFailed) and ev.result.reason is Failure.FAILED_CODE


def test_ev_gives_up_when_the_mode_is_not_offered():
    ev = _ev(mode=AC)
    ev.start(0.0)
    ev.receive(_sap_ok(), 0.0)
    ev.receive(_res(i.SessionSetupRes(ResponseCode=i.responseCodeType.OK_NewSessionEstablished,
                                      EVSEID="DE*V2G*E1", EVSETimeStamp=None)), 0.0)  # fmt: skip
    ev.receive(_res(i.ServiceDiscoveryRes(
        ResponseCode=i.responseCodeType.OK,
        PaymentOptionList=i.PaymentOptionListType(
            PaymentOption=[i.paymentOptionType.ExternalPayment]),
        ChargeService=i.ChargeServiceType(
            ServiceID=1, ServiceName=None, ServiceCategory=i.serviceCategoryType.EVCharging,
            ServiceScope=None, FreeService=False,
            SupportedEnergyTransferMode=i.SupportedEnergyTransferModeType(
                EnergyTransferMode=[DC])), ServiceList=None)), 0.0)  # fmt: skip
    assert isinstance(ev.result, SessionFailed) and ev.result.reason is Failure.UNEXPECTED


def _serve(evccs: list[Iso2Evcc], controller: SimEvseController,
           ) -> list[object]:  # fmt: skip
    """Run each EVCC in turn, one connection each, against one server; SECC events out."""
    host = _loopback()
    port = _free_port(host)
    events: list[object] = []
    paused = PausedSessions()

    async def main() -> None:
        server = SeccServer(ServerConfig(host=host, port=port, offers=(sap.ISO2, sap.DIN)),
                            {sap.ISO2.namespace: iso2_factory(lambda _c: controller,
                                                              paused=paused)},
                            on_event=lambda _conn, e: events.append(e))  # fmt: skip
        await run_through(server, evccs, host, port)

    asyncio.run(main())
    return events


def _fast_plant() -> DcPlant:
    return DcPlant(StageLimits(voltage_ramp=20_000.0, current_ramp=10_000.0,
                               bleed_rate=20_000.0), isolation_time=0.05)  # fmt: skip


def _loop_ev(plant: DcPlant, **kw: Any) -> Iso2Evcc:
    # generous message timeouts: a loaded CI machine must not fail this on a 250 ms budget
    return Iso2Evcc(SimEv(plant.battery, charge_for=0.3),
                    Iso2Config(loop_interval=0.02, msg_timeout=10.0, loop_msg_timeout=10.0, **kw))


@pytest.mark.parametrize("mode", [DC, AC])
def test_session_over_tcp_on_loopback_through_secc_server(mode):
    plant = _fast_plant()
    controller = SimEvseController(plant)
    ev = _loop_ev(plant, mode=mode)
    events = _serve([ev], controller)
    assert isinstance(ev.result, SessionStopped), ev.result
    assert [e.reason for e in events if isinstance(e, SessionEnded)] == [EndReason.STOPPED]
    loop = "CurrentDemandReq" if mode is DC else "ChargingStatusReq"
    assert ev.sent[-1] == "SessionStopReq" and ev.sent.count(loop) >= 2
    assert plant.energy_in_wh > 0 and not plant.energised and not plant.contactors_closed


def test_pause_and_resume_over_two_tcp_connections():
    plant = _fast_plant()
    controller = SimEvseController(plant)
    first = _loop_ev(plant, mode=AC, pause=True)
    second = _loop_ev(plant, mode=AC)

    # the second EV learns the SessionID to resume only once the first has paused
    class Resume(Iso2Evcc):
        def start(self, now: float) -> None:
            assert isinstance(first.result, SessionStopped)
            self.session_id = first.result.session_id
            super().start(now)

    resumed = Resume(second.ev, second.config)
    events = _serve([first, resumed], controller)
    assert isinstance(resumed.result, SessionStopped), resumed.result
    setups = [e.response_code for e in events
              if isinstance(e, RequestAnswered) and e.request == "SessionSetupReq"]
    assert setups == ["OK_NewSessionEstablished", "OK_OldSessionJoined"]
    assert resumed.session_id == first.session_id
