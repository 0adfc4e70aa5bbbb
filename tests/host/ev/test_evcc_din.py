"""Our DIN EVCC: its timers on a fake clock, what it does with FAILED codes and foreign
SessionIDs, and a whole session over TCP on loopback through SeccServer."""

from __future__ import annotations

import asyncio

import pytest

from host.bench.dcplant import DcPlant, StageLimits
from host.ev.evcc.din import DinEvcc, EvccConfig, Failure, SessionFailed, SessionStopped
from host.ev.evcc.ev import SimEv
from host.exi.schemas import din as d
from host.secc import din_constants as k
from host.secc.controller import SimEvseController
from host.secc.core import EndReason, SessionEnded
from host.secc.din import din_factory
from host.v2g import sap
from host.v2g.server import SeccServer, ServerConfig
from tests.host.ev.frames import res_frame, run_through, sap_ok, sent_payloads
from tests.host.secc.helpers import Pair
from tests.host.v2g.test_server import _free_port, _loopback

SID = bytes.fromhex("1111111111111111")


def _sap_ok() -> bytes:
    return sap_ok(sap.DIN)


def _res(body, sid: bytes = SID) -> bytes:
    return res_frame(d, body, sid)


_sent = sent_payloads


def _ev(**kw) -> DinEvcc:
    return DinEvcc(SimEv(DcPlant().battery), EvccConfig(**kw))


def _setup_done(ev: DinEvcc, now: float = 0.0) -> None:
    ev.start(now)
    ev.receive(_sap_ok(), now)
    ev.receive(_res(d.SessionSetupRes(ResponseCode=d.responseCodeType.OK_NewSessionEstablished,
                                      EVSEID=b"\x01")), now)  # fmt: skip


def test_starts_with_supported_app_protocol_for_din_only():
    ev = _ev()
    ev.start(0.0)
    (payload,) = _sent(ev)
    request = sap.pull_request(payload)
    assert [(p.ProtocolNamespace, p.SchemaID) for p in request.AppProtocol] == [
        (sap.DIN.namespace, 1)]


def test_msg_timeout_for_session_setup():
    ev = _ev()
    ev.start(0.0)
    ev.receive(_sap_ok(), 1.0)
    assert ev.sent == ["SessionSetupReq"]
    assert ev.get_timer() == 1.0 + k.MSG_TIMEOUT
    ev.handle_timer(1.0 + k.MSG_TIMEOUT - 0.01)
    assert not ev.done
    ev.handle_timer(1.0 + k.MSG_TIMEOUT)
    assert isinstance(ev.result, SessionFailed) and ev.result.reason is Failure.MSG_TIMEOUT


def test_communication_setup_timeout_when_messages_are_slow():
    ev = _ev(msg_timeout=100.0)
    ev.start(0.0)
    ev.receive(_sap_ok(), 1.0)
    ev.handle_timer(k.COMMUNICATION_SETUP_TIMEOUT - 0.01)
    assert not ev.done
    ev.handle_timer(k.COMMUNICATION_SETUP_TIMEOUT)
    assert ev.result.reason is Failure.SETUP_TIMEOUT


def test_current_demand_has_the_short_msg_timeout():
    plant = DcPlant(isolation_time=1.0)
    pair = Pair(DinEvcc(SimEv(plant.battery, charge_for=100.0)), SimEvseController(plant))
    pair.run(stop_at=lambda p: p.evcc.sent.count("CurrentDemandReq") >= 2)
    # the next CurrentDemandReq is paced: let it go out, but the SECC stays silent
    ev = pair.evcc
    send_at = ev.get_timer()
    ev.handle_timer(send_at)
    assert ev.sent.count("CurrentDemandReq") == 3 and _sent(ev)
    assert ev.get_timer() == pytest.approx(send_at + k.CURRENT_DEMAND_MSG_TIMEOUT)
    ev.handle_timer(send_at + k.CURRENT_DEMAND_MSG_TIMEOUT - 0.01)
    assert not ev.done
    ev.handle_timer(send_at + k.CURRENT_DEMAND_MSG_TIMEOUT)
    assert ev.result.reason is Failure.MSG_TIMEOUT


def test_failed_code_ends_the_ev_session():
    ev = _ev()
    _setup_done(ev)
    ev.receive(_res(d.ServiceDiscoveryRes(
        ResponseCode=d.responseCodeType.FAILED, PaymentOptions=d.PaymentOptionsType(
            PaymentOption=[d.paymentOptionType.ExternalPayment]),
        ChargeService=d.ServiceCharge(
            ServiceTag=d.ServiceTagType(ServiceID=1,
                                        ServiceCategory=d.serviceCategoryType.EVCharging),
            FreeService=False,
            EnergyTransferType=d.EVSESupportedEnergyTransferType.DC_core))), 0.5)  # fmt: skip
    assert ev.result.reason is Failure.FAILED_CODE
    assert "FAILED" in ev.result.detail


def test_foreign_session_id_or_wrong_response_ends_the_ev_session():
    ev = _ev()
    _setup_done(ev)
    ev.receive(_res(d.SessionStopRes(ResponseCode=d.responseCodeType.OK)), 0.5)
    assert ev.result.reason is Failure.UNEXPECTED  # it asked for ServiceDiscoveryRes
    ev = _ev()
    _setup_done(ev)
    ev.receive(_res(d.ServicePaymentSelectionRes(ResponseCode=d.responseCodeType.OK)), 0.5)
    assert ev.result.reason is Failure.UNEXPECTED
    ev = _ev()
    _setup_done(ev)
    _sent(ev)
    ev.awaiting = d.ServicePaymentSelectionRes
    ev.receive(_res(d.ServicePaymentSelectionRes(ResponseCode=d.responseCodeType.OK),
                    sid=bytes(8)), 0.5)  # fmt: skip
    assert ev.result.reason is Failure.SESSION_ID


def test_contract_authentication_ongoing_is_polled_until_finished():
    plant = DcPlant(isolation_time=1.0)
    ev = DinEvcc(SimEv(plant.battery, charge_for=1.0), EvccConfig(loop_interval=0.5))
    pair = Pair(ev, SimEvseController(plant, authorize_after=2.0))
    pair.run()
    assert isinstance(ev.result, SessionStopped)
    # asked at 0, then every 0.5 s until 2.0 s had passed
    assert ev.sent.count("ContractAuthenticationReq") == 5


def test_ev_gives_up_when_authorization_stays_ongoing():
    ev = _ev(loop_interval=5.0)
    _setup_done(ev)
    ev.awaiting = d.ContractAuthenticationRes
    ongoing = d.ContractAuthenticationRes(ResponseCode=d.responseCodeType.OK,
                                          EVSEProcessing=d.EVSEProcessingType.Ongoing)
    now = 1.0
    while now <= 1.0 + k.ONGOING_TIMEOUT:
        ev.receive(_res(ongoing), now)
        assert not ev.done
        ev.handle_timer(now + 5.0)  # the paced repeat
        assert ev.sent[-1] == "ContractAuthenticationReq"
        now += 5.0
    ev.receive(_res(ongoing), now)
    assert ev.result.reason is Failure.ONGOING_TIMEOUT


def test_din_session_over_tcp_on_loopback_through_secc_server():
    """The real asyncio server and driver, real time: a fast plant keeps it short."""
    host = _loopback()
    port = _free_port(host)
    plant = DcPlant(StageLimits(voltage_ramp=20_000.0, current_ramp=10_000.0,
                                bleed_rate=20_000.0), isolation_time=0.05)  # fmt: skip
    controller = SimEvseController(plant)
    secc_events: list[object] = []
    ev_events: list[object] = []
    # generous message timeouts: a loaded CI machine must not fail this on a 250 ms budget
    ev = DinEvcc(SimEv(plant.battery, charge_for=0.3),
                 EvccConfig(loop_interval=0.02, msg_timeouts={}, msg_timeout=10.0))

    async def main() -> None:
        server = SeccServer(ServerConfig(host=host, port=port, offers=(sap.DIN,)),
                            {sap.DIN.namespace: din_factory(lambda _c: controller)},
                            on_event=lambda _conn, e: secc_events.append(e))  # fmt: skip
        await run_through(server, [ev], host, port, on_event=ev_events.append)

    asyncio.run(main())
    assert isinstance(ev.result, SessionStopped), ev.result
    assert [e.reason for e in secc_events if isinstance(e, SessionEnded)] == [EndReason.STOPPED]
    assert ev.sent[-1] == "SessionStopReq" and ev.sent.count("CurrentDemandReq") >= 2
    assert plant.energy_in_wh > 0 and not plant.energised
