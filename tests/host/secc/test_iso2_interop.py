"""The `iso15118` package's EVCC (a third-party EV, Java EXI) against our ISO 15118-2 SECC
over a veth pair in two network namespaces: SDP, SupportedAppProtocol, then a whole AC and a
whole DC EIM session to SessionStopRes with no FAILED code on either side."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from host.bench.dcplant import DcPlant, StageLimits
from host.bench.veth import VethPair, in_netns
from host.secc.controller import SimEvseController
from host.secc.core import EndReason, RequestAnswered, SessionEnded
from host.secc.iso2 import iso2_factory
from host.v2g import constants as c
from host.v2g.netif import link_local
from host.v2g.sap import DIN, ISO2
from host.v2g.sdp_driver import start_sdp
from host.v2g.server import SeccServer, ServerConfig, host_of, open_listen_socket
from tests.host.interop import peer_python, wait_link_local

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
    subprocess.run(["ip", "-n", veth.ns_pev, "link", "set", "lo", "up"], check=True)
    wait_link_local(veth.ns_evse, veth.if_evse)
    wait_link_local(veth.ns_pev, veth.if_pev)
    (tmp_path / ".env").write_text(f"NETWORK_INTERFACE={veth.if_pev}\nLOG_LEVEL=INFO\n")
    (tmp_path / "ev.json").write_text(json.dumps({
        "supportedProtocols": ["ISO_15118_2"], "isCertInstallNeeded": False, "useTls": False,
        "chargeLoopCycle": 5, **CONFIGS[service]}))  # fmt: skip
    # their EV asks for 500 V in PreCharge and calls it done after a few quick loops
    plant = DcPlant(StageLimits(max_voltage=600.0, voltage_ramp=20_000.0), isolation_time=0.3)
    controller = SimEvseController(plant)
    events: list[object] = []

    async def main() -> str:
        transport, _sdp = await start_sdp(veth.if_evse, {c.SECURITY_NO_TLS: PORT})
        link = link_local(veth.if_evse)
        assert link is not None
        config = ServerConfig(host=host_of(link), port=PORT, offers=(ISO2, DIN))
        server = SeccServer(config, {ISO2.namespace: iso2_factory(lambda _c: controller)},
                            on_event=lambda _conn, event: events.append(event))  # fmt: skip
        await server.start(open_listen_socket(config.host, config.port))
        ev = subprocess.Popen(
            ["ip", "netns", "exec", veth.ns_pev, str(python), "-m", "iso15118.evcc.main",
             "ev.json"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)  # fmt: skip
        try:
            deadline = time.monotonic() + BUDGET
            while (not any(isinstance(e, SessionEnded) for e in events)
                   and time.monotonic() < deadline and ev.poll() is None):  # fmt: skip
                await asyncio.sleep(0.05)
        finally:
            os.killpg(ev.pid, signal.SIGKILL)  # the EVCC and its JVM: the group we started
            out = ev.communicate(timeout=30)[0].decode(errors="replace")
            await server.close()
            transport.close()
        return out

    out = in_netns(veth.ns_evse, lambda: asyncio.run(main()))
    answered = [e for e in events if isinstance(e, RequestAnswered)]
    ends = [e for e in events if isinstance(e, SessionEnded)]
    summary = "\n".join(f"{e.at:.3f} {e.request} {e.response_code}" for e in answered)
    assert ends and ends[0].reason is EndReason.STOPPED, (
        f"our side:\n{summary}\n{ends}\ntheir EVCC's log:\n{out[-4000:]}")
    assert answered[-1].request == "SessionStopReq"
    assert not [e for e in answered if e.response_code.startswith("FAILED")], summary
    assert MUST[service] <= {e.request for e in answered}
    assert plant.energy_in_wh > 0 and not plant.energised
    print(f"ISO-2 {service} interop: {len(answered)} requests answered, "
          f"{answered[-1].at - answered[0].at:.2f} s SessionSetup -> SessionStop")
