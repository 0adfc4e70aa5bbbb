"""Our ISO 15118-20 EVCC against our SECC through the real path: SeccServer on loopback with
the TLS context the CLI builds (`host.secc.serve.tls_context` from a -2 and a -20 lab PKI,
mutual TLS), our asyncio EVCC driver with the EV's TLS 1.3 context (the -20 V2G root, the
OEM provisioning chain as its certificate), a DC_BPT session in dynamic control that
discharges on the station's setpoint, to SessionStopRes, with the communication log's
lines; and the same EV over TLS 1.2 refused -20 ([V2G20-2356])."""

from __future__ import annotations

import datetime as dt
import re
import ssl
import time
from pathlib import Path

import pytest

from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso20 import Iso20Config, Iso20Evcc, SessionFailed, SessionStopped
from host.exi import codec
from host.pki import hierarchy
from host.pki.profiles import PROFILES
from host.secc import iso20_constants as k
from host.secc.controller import ExportRules, SimEvseController
from host.secc.core import EndReason, RequestAnswered, SessionEnded
from host.secc.iso20_dc import iso20_dc_factory
from host.secc.serve import tls_context
from host.v2g import sap, tls
from host.v2g.commlog import CommLog
from host.v2g.server import SeccServer, ServerConfig
from tests.host.ev.served import serve_one
from tests.host.secc.iso20_helpers import bpt_plant
from tests.host.v2g.test_server import _free_port, _loopback


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    now = dt.datetime.now(dt.UTC)
    pki2, pki20 = tmp_path_factory.mktemp("pki2"), tmp_path_factory.mktemp("pki20")
    hierarchy.init(pki2, PROFILES["iso2"], hierarchy.Names(), now)
    hierarchy.init(pki20, PROFILES["iso20"], hierarchy.Names(), now)
    return pki2, pki20


def _run(pkis: tuple[Path, Path], log: CommLog, client: ssl.SSLContext,
         ) -> tuple[Iso20Evcc, SimEvseController, list[object]]:  # fmt: skip
    pki2, pki20 = pkis
    host = _loopback()
    plant = bpt_plant(0.8)
    controller = SimEvseController(plant)
    controller.export = ExportRules(True, 10_000.0, 0.4)
    controller.setpoint = -5_000.0  # the station asks the car to export
    config = ServerConfig(host=host, port=_free_port(host), offers=(sap.ISO20_DC, sap.ISO2),
                          tls=tls_context(pki2, pki20, mutual=True))  # fmt: skip
    events: list[object] = []
    server = SeccServer(config, {sap.ISO20_DC.namespace: iso20_dc_factory(
        lambda _c: controller, control_modes=(k.CONTROL_DYNAMIC,))},
        on_event=lambda _conn, e: events.append(e), commlog=log)  # fmt: skip
    evcc = Iso20Evcc(SimEv(plant.battery, charge_for=1.0, target_soc=0.95),
                     Iso20Config(service=k.SERVICE_DC_BPT, control_mode=k.CONTROL_DYNAMIC,
                                 target_soc=0.95, loop_interval=0.05))  # fmt: skip

    serve_one(server, evcc, host, config.port, events, tls=client)
    return evcc, controller, events


def test_dc_bpt_over_tls13_to_session_stop_with_the_comm_log(pkis, tmp_path):
    _pki2, pki20 = pkis
    log = CommLog(tmp_path / "comm.log")
    client = tls.client_context(pki20 / "v2g_root.pem", tls13=True,
                                cert_chain=pki20 / "oem_prov_chain.pem",
                                key=pki20 / "oem_prov.key")  # fmt: skip
    evcc, controller, events = _run(pkis, log, client)
    log.close()
    assert isinstance(evcc.result, SessionStopped), evcc.result
    answered = [(e.request, e.response_code) for e in events if isinstance(e, RequestAnswered)]
    assert all(code.startswith("OK") for _, code in answered), answered
    (end,) = [e for e in events if isinstance(e, SessionEnded)]
    assert end.reason is EndReason.STOPPED
    plant = controller.plant
    # the -5 kW setpoint discharged the car (80 % SoC, floor 40 %), and the stage is off
    assert plant.energy_out_wh > 0 and min(evcc.present_power) < 0
    assert not plant.energised and not plant.contactors_closed

    lines = (tmp_path / "comm.log").read_text().splitlines()
    text = "\n".join(lines)
    assert re.search(r" - out supportedAppProtocolRes code=OK_SuccessfulNegotiation "
                     r"protocol=iso20-dc ", text), text  # fmt: skip
    loops = [line for line in lines if " out DC_ChargeLoopRes " in line]
    assert loops and all(" code=OK " in line and "latency_ms=" in line for line in loops)
    # the -20 values are in the lines: the EV's SoC and voltage, the current flowing out
    assert re.search(r" in DC_ChargeLoopReq EVPresentVoltage=[\d.]+ PresentSOC=\d+", text)
    assert re.search(r" out DC_ChargeLoopRes code=OK .*EVSEPresentCurrent=-[\d.]+ ", text), loops
    sid = evcc.session_id.hex()
    assert any(f" {sid} out SessionStopRes code=OK" in line for line in lines)
    # the driver dates the EV's messages by the wall clock (seconds since 1970), not by the
    # monotonic clock its timers run on (a minute's slack, not a timing test)
    namespace, first = evcc.exchanged[0]
    assert abs(codec.decode(namespace, first).Header.TimeStamp - time.time()) < 60
    # every message in and out, supportedAppProtocol included
    assert re.search(rf" {sid} end SessionStop reason=0x00 SESSION_STOP messages="
                     rf"{2 * (len(answered) + 1)}\b", lines[-1]), lines[-1]  # fmt: skip


def test_the_same_ev_over_tls12_is_refused_iso20(pkis, tmp_path):
    log = CommLog(tmp_path / "comm.log")
    # TLS 1.2 serves the -2 chain: the EV trusts the -2 root for this handshake
    client = tls.client_context(pkis[0] / "v2g_root.pem", tls13=False)
    evcc, controller, events = _run(pkis, log, client)
    log.close()
    assert isinstance(evcc.result, SessionFailed), evcc.result
    assert not [e for e in events if isinstance(e, RequestAnswered)]
    assert controller.plant.energy_in_wh == 0 and controller.plant.energy_out_wh == 0
    text = (tmp_path / "comm.log").read_text()
    assert "out supportedAppProtocolRes code=Failed_NoNegotiation" in text, text
    assert "reason=0x10 NO_NEGOTIATION" in text, text
