"""The `iso15118` package's EVCC (a third-party EV, Java EXI) against our DIN SECC over a
veth pair in two network namespaces: SDP, SupportedAppProtocol, then the whole DIN DC
session to SessionStopRes with no FAILED code on either side."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from host.bench.dcplant import DcPlant, StageLimits
from host.bench.veth import VethPair, in_netns
from host.secc.controller import SimEvseController
from host.secc.core import EndReason, RequestAnswered, SessionEnded
from host.secc.din import din_factory
from host.v2g import constants as c
from host.v2g.netif import link_local
from host.v2g.sap import DIN
from host.v2g.sdp_driver import start_sdp
from host.v2g.server import SeccServer, ServerConfig, host_of, open_listen_socket
from tests.host.interop import peer_python, ready_pair, start_peer, stop_peer, their_evcc_config

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

    async def main() -> str:
        transport, _sdp = await start_sdp(veth.if_evse, {c.SECURITY_NO_TLS: PORT})
        link = link_local(veth.if_evse)
        assert link is not None
        config = ServerConfig(host=host_of(link), port=PORT, offers=(DIN,))
        server = SeccServer(config, {DIN.namespace: din_factory(lambda _c: controller)},
                            on_event=lambda _conn, event: events.append(event))  # fmt: skip
        await server.start(open_listen_socket(config.host, config.port))
        ev = start_peer(veth.ns_pev, python, ["-m", "iso15118.evcc.main", "ev.json"], tmp_path)
        try:
            deadline = time.monotonic() + BUDGET
            while (not any(isinstance(e, SessionEnded) for e in events)
                   and time.monotonic() < deadline and ev.poll() is None):  # fmt: skip
                await asyncio.sleep(0.05)
        finally:
            out = stop_peer(ev)
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
    assert not [e for e in answered if e.response_code.startswith("FAILED")]
    names = {e.request for e in answered}
    assert {"CableCheckReq", "PreChargeReq", "PowerDeliveryReq", "CurrentDemandReq",
            "WeldingDetectionReq"} <= names
    assert plant.energy_in_wh > 0 and not plant.energised
    print(f"DIN interop: {len(answered)} requests answered, "
          f"{answered[-1].at - answered[0].at:.2f} s SessionSetup -> SessionStop")
