"""The `iso15118` package's EVCC (a third-party EV, Java EXI) against our ISO 15118-2 SECC
over a veth pair in two network namespaces: SDP, SupportedAppProtocol, then a whole AC and a
whole DC EIM session to SessionStopRes with no FAILED code on either side."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from host.bench.dcplant import DcPlant, StageLimits
from host.bench.veth import VethPair, in_netns
from host.secc.controller import SimEvseController
from host.secc.iso2 import iso2_factory
from host.v2g.sap import DIN, ISO2
from tests.host.interop import (
    check_stopped,
    peer_python,
    ready_pair,
    serve_their_evcc,
    their_evcc_config,
)

pytestmark = pytest.mark.interop
PORT = 50323
BUDGET = 90.0  # s; their EVCC does not exit after a failed session, so we bound it
CONFIGS = {
    "AC": {"supportedEnergyServices": ["AC"], "energyTransferMode": "AC_three_phase_core"},
    "DC": {"supportedEnergyServices": ["DC"], "energyTransferMode": "DC_extended"},
}
MUST = {
    "AC": {"AuthorizationReq", "ChargeParameterDiscoveryReq", "PowerDeliveryReq",
           "ChargingStatusReq"},
    "DC": {"AuthorizationReq", "CableCheckReq", "PreChargeReq", "PowerDeliveryReq",
           "CurrentDemandReq", "WeldingDetectionReq"},
}  # fmt: skip


@pytest.mark.parametrize("service", ["AC", "DC"])
def test_their_evcc_charges_through_our_iso2_secc(veth: VethPair, tmp_path: Path,
                                                  service: str) -> None:  # fmt: skip
    python = peer_python()
    ready_pair(veth, veth.ns_pev)
    their_evcc_config(veth, tmp_path, "ISO_15118_2", chargeLoopCycle=5, **CONFIGS[service])
    # their EV asks for 500 V in PreCharge and calls it done after a few quick loops
    plant = DcPlant(StageLimits(max_voltage=600.0, voltage_ramp=20_000.0), isolation_time=0.3)
    controller = SimEvseController(plant)
    events: list[object] = []
    factories = {ISO2.namespace: iso2_factory(lambda _c: controller)}
    out = in_netns(veth.ns_evse, lambda: asyncio.run(serve_their_evcc(
        veth, tmp_path, python, PORT, (ISO2, DIN), factories, events, BUDGET)))
    answered = check_stopped(events, plant, out)
    assert MUST[service] <= {e.request for e in answered}
    print(f"ISO-2 {service} interop: {len(answered)} requests answered, "
          f"{answered[-1].at - answered[0].at:.2f} s SessionSetup -> SessionStop")
