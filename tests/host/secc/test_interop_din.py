"""The `iso15118` package's EVCC (a third-party EV, Java EXI) against our DIN SECC over a
veth pair in two network namespaces: SDP, SupportedAppProtocol, then the whole DIN DC
session to SessionStopRes with no FAILED code on either side."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from host.bench.dcplant import DcPlant, StageLimits
from host.bench.veth import VethPair, in_netns
from host.secc.controller import SimEvseController
from host.secc.din import din_factory
from host.v2g.sap import DIN
from tests.host.interop import (
    check_stopped,
    peer_python,
    ready_pair,
    serve_their_evcc,
    their_evcc_config,
)

pytestmark = pytest.mark.interop
PORT = 50322
BUDGET = 90.0  # s; their EVCC does not exit after a failed session, so we bound it


def test_their_evcc_charges_through_our_din_secc(veth: VethPair, tmp_path: Path) -> None:
    python = peer_python()
    ready_pair(veth, veth.ns_pev)
    their_evcc_config(veth, tmp_path, "DIN_SPEC_70121")
    # their EV asks for 500 V and calls PreCharge done after five quick loops, so the
    # stage here ramps fast enough to be within tolerance by then
    plant = DcPlant(StageLimits(max_voltage=600.0, voltage_ramp=20_000.0), isolation_time=0.3)
    controller = SimEvseController(plant)
    events: list[object] = []
    factories = {DIN.namespace: din_factory(lambda _c: controller)}
    out = in_netns(veth.ns_evse, lambda: asyncio.run(serve_their_evcc(
        veth, tmp_path, python, PORT, (DIN,), factories, events, BUDGET)))
    answered = check_stopped(events, plant, out)
    names = {e.request for e in answered}
    assert {"CableCheckReq", "PreChargeReq", "PowerDeliveryReq", "CurrentDemandReq",
            "WeldingDetectionReq"} <= names
    print(f"DIN interop: {len(answered)} requests answered, "
          f"{answered[-1].at - answered[0].at:.2f} s SessionSetup -> SessionStop")
