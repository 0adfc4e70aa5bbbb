"""-20 Plug & Charge through the real path: SeccServer on loopback with mutual TLS 1.3 (the
CLI's `tls_context` from a -2 and a -20 lab PKI), our asyncio EVCC presenting the OEM
provisioning chain and authorizing by contract. The vehicle allow-list sees the certificate
the handshake verified: the EV's own fingerprint is admitted, another list refuses it."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso20 import Iso20Config, Iso20Evcc, SessionFailed, SessionStopped
from host.ev.evcc.pnc20 import ev20_from_folder
from host.exi import codec
from host.exi.schemas import iso20_common_messages as m
from host.pki import files, hierarchy
from host.pki.profiles import PROFILES
from host.secc.controller import ExportRules, SimEvseController
from host.secc.core import RequestAnswered
from host.secc.iso20_dc import iso20_dc_factory
from host.secc.iso20_pnc import config20_from_folder
from host.secc.serve import tls_context
from host.v2g import sap, tls
from host.v2g.server import SeccServer, ServerConfig
from tests.host.ev.served import serve_one
from tests.host.secc.iso20_helpers import bpt_plant
from tests.host.v2g.test_server import _free_port, _loopback


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    now = dt.datetime.now(dt.UTC)
    pki2, pki20 = tmp_path_factory.mktemp("pki2"), tmp_path_factory.mktemp("pki20")
    hierarchy.init(pki2, PROFILES["iso2"], hierarchy.Names(), now)
    hierarchy.init(pki20, PROFILES["iso20-ed448"], hierarchy.Names(), now)
    return pki2, pki20


def run(pkis: tuple[Path, Path], vehicles: frozenset[bytes],
        ) -> tuple[Iso20Evcc, list[tuple[str, str]]]:  # fmt: skip
    pki2, pki20 = pkis
    host = _loopback()
    plant = bpt_plant(0.5)
    controller = SimEvseController(plant)
    controller.export = ExportRules(True, 10_000.0, 0.4)
    config = ServerConfig(host=host, port=_free_port(host), offers=(sap.ISO20_DC,),
                          tls=tls_context(pki2, pki20, mutual=True))  # fmt: skip
    events: list[object] = []
    pnc = config20_from_folder(pki20, vehicles=vehicles)
    server = SeccServer(config, {sap.ISO20_DC.namespace: iso20_dc_factory(
        lambda _c: controller, pnc=pnc)}, on_event=lambda _conn, e: events.append(e))
    evcc = Iso20Evcc(SimEv(plant.battery, charge_for=0.5, target_soc=0.95),
                     Iso20Config(loop_interval=0.05, pnc=ev20_from_folder(pki20)))
    client = tls.client_context(pki20 / "v2g_root.pem", tls13=True,
                                cert_chain=pki20 / "oem_prov_chain.pem",
                                key=pki20 / "oem_prov.key")  # fmt: skip

    serve_one(server, evcc, host, config.port, events, tls=client)
    return evcc, [(e.request, e.response_code) for e in events
                  if isinstance(e, RequestAnswered)]  # fmt: skip


def test_pnc_over_mutual_tls13_with_the_vehicle_on_the_list(pkis):
    oem = files.read_certs(pkis[1] / "oem_prov.pem")[0].public_bytes(Encoding.DER)
    evcc, answered = run(pkis, frozenset({hashlib.sha256(oem).digest()}))
    assert isinstance(evcc.result, SessionStopped), evcc.result
    assert ("AuthorizationReq", "OK") in answered
    sent = [codec.decode(ns, payload) for ns, payload in evcc.exchanged if ns == m.NAMESPACE]
    (req,) = [r for r in sent if isinstance(r, m.AuthorizationReq)]
    assert req.SelectedAuthorizationService is m.authorizationType.PnC


def test_another_vehicle_list_refuses_the_ev(pkis):
    evcc, answered = run(pkis, frozenset({bytes(32)}))
    assert isinstance(evcc.result, SessionFailed), evcc.result
    assert answered[-1] == ("AuthorizationReq", "WARNING_GeneralPnCAuthorizationError")
