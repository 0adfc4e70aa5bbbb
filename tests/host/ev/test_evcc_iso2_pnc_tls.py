"""Our ISO 15118-2 EVCC against our SECC through the real path: SeccServer on loopback with
the TLS 1.2 context (the SECC chain from the test PKI, the -2 suite), our asyncio EVCC
driver with the EV's TLS context (trusting the V2G root), AC and DC Plug & Charge to
SessionStopRes; and the same SECC without TLS refusing Contract."""

from __future__ import annotations

from typing import Any

import pytest

from host.bench.dcplant import DcPlant, StageLimits
from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso2 import Iso2Config, Iso2Evcc, SessionFailed, SessionStopped
from host.exi.schemas import iso2 as i
from host.secc.controller import SimEvseController
from host.secc.core import EndReason, RequestAnswered, SessionEnded
from host.secc.iso2 import iso2_factory
from host.v2g import sap, tls
from host.v2g.server import SeccServer, ServerConfig
from tests.host.ev.pnc_setup import ev_pnc, secc_pnc, shared_pki
from tests.host.ev.served import serve_one
from tests.host.v2g.test_server import _free_port, _loopback

AC = i.EnergyTransferModeType.AC_three_phase_core
DC = i.EnergyTransferModeType.DC_extended


def _run(mode: Any, *, use_tls: bool) -> tuple[Iso2Evcc, list[object], list[object]]:
    pki = shared_pki()
    host = _loopback()
    plant = DcPlant(StageLimits(max_voltage=600.0, voltage_ramp=20_000.0), isolation_time=0.2)
    controller = SimEvseController(plant, receipt=True)
    server_ctx = (tls.server_context(pki.v2g.chain_path, pki.v2g.leaf.key_path, tls13=False)
                  if use_tls else None)  # fmt: skip
    config = ServerConfig(host=host, port=_free_port(host), offers=(sap.ISO2,), tls=server_ctx)
    secc_events: list[object] = []
    server = SeccServer(config, {sap.ISO2.namespace: iso2_factory(lambda _c: controller,
                                                                  pnc=secc_pnc(pki))},
                        on_event=lambda _conn, e: secc_events.append(e))  # fmt: skip
    evcc = Iso2Evcc(SimEv(plant.battery, charge_for=0.6),
                    Iso2Config(mode=mode, pnc=ev_pnc(pki), loop_interval=0.05))  # fmt: skip
    ev_events: list[object] = []
    client_ctx = tls.client_context(pki.v2g.root.cert_path) if use_tls else None

    serve_one(server, evcc, host, config.port, secc_events, tls=client_ctx, on_event=ev_events.append)
    return evcc, secc_events, ev_events


@pytest.mark.parametrize("mode", [AC, DC])
def test_pnc_over_tls12_to_session_stop(mode: Any):
    evcc, secc_events, _ = _run(mode, use_tls=True)
    assert isinstance(evcc.result, SessionStopped), evcc.result
    answered = [(e.request, e.response_code) for e in secc_events
                if isinstance(e, RequestAnswered)]  # fmt: skip
    names = [name for name, _ in answered]
    assert names[3:5] == ["PaymentDetailsReq", "AuthorizationReq"]
    assert "MeteringReceiptReq" in names
    assert all(not code.startswith("FAILED") for _, code in answered), answered
    (end,) = [e for e in secc_events if isinstance(e, SessionEnded)]
    assert end.reason is EndReason.STOPPED


def test_pnc_without_tls_is_refused_by_the_ev():
    evcc, secc_events, _ = _run(AC, use_tls=False)
    assert isinstance(evcc.result, SessionFailed)
    assert "no Contract offered" in evcc.result.detail
