"""The `iso15118` package's EVCC (a third-party EV) against our SDP server and our TCP
server over veth in two namespaces: it must find us by SDP, take our SupportedAppProtocol
answer and go on to SessionSetupReq, which a capturing stand-in machine decodes with our
codec. (The full sessions come with the DIN / ISO-2 machines.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from host.bench.veth import VethPair, in_netns
from host.exi import codec
from host.v2g import constants as c
from host.v2g.netif import link_local
from host.v2g.protocol import SessionContext
from host.v2g.sap import DIN, ISO2
from host.v2g.sdp_driver import start_sdp
from host.v2g.server import SeccServer, ServerConfig, host_of, open_listen_socket
from host.v2g.session import ProtocolNegotiated
from host.v2g.v2gtp import PayloadType
from tests.host.interop import peer_python, ready_pair, start_peer, stop_peer, their_evcc_config

pytestmark = pytest.mark.interop
PORT = 50321


class Capture:
    """Takes the first message after the handshake and ends the connection."""

    payload_types = frozenset({PayloadType.EXI})
    seen: list[tuple[SessionContext, bytes]] = []

    def __init__(self, context: SessionContext) -> None:
        self.context = context
        self.finished = False

    def receive(self, payload_type: int, payload: bytes, now: float) -> None:
        Capture.seen.append((self.context, payload))
        self.finished = True

    def handle_timer(self, now: float) -> None:
        pass

    def get_timer(self) -> float | None:
        return None

    def next_event(self) -> object | None:
        return None

    def data_to_send(self) -> list[tuple[int, bytes]]:
        return []


@pytest.mark.parametrize("protocol", ["DIN_SPEC_70121", "ISO_15118_2"])
def test_their_evcc_finds_us_and_negotiates(veth: VethPair, tmp_path: Path, protocol: str) -> None:
    python = peer_python()
    ready_pair(veth, veth.ns_pev)
    their_evcc_config(veth, tmp_path, protocol)
    Capture.seen = []
    events: list[object] = []

    async def main():
        transport, sdp = await start_sdp(veth.if_evse, {c.SECURITY_NO_TLS: PORT})
        link = link_local(veth.if_evse)
        assert link is not None
        config = ServerConfig(host=host_of(link), port=PORT, offers=(ISO2, DIN))
        server = SeccServer(config, {ISO2.namespace: Capture, DIN.namespace: Capture},
                            on_event=lambda conn, event: events.append(event))  # fmt: skip
        await server.start(open_listen_socket(config.host, config.port))
        ev = start_peer(veth.ns_pev, python, ["-m", "iso15118.evcc.main", "ev.json"], tmp_path)
        try:
            deadline = time.monotonic() + 60
            while not Capture.seen and time.monotonic() < deadline and ev.poll() is None:
                await asyncio.sleep(0.05)
        finally:
            out = stop_peer(ev)
            await server.close()
            transport.close()
        return sdp, out

    sdp, out = in_netns(veth.ns_evse, lambda: asyncio.run(main()))
    assert Capture.seen, f"their EVCC sent nothing after the handshake; its log:\n{out[-3000:]}"
    context, payload = Capture.seen[0]
    expected = DIN if protocol == "DIN_SPEC_70121" else ISO2
    assert context.protocol is expected
    negotiated = [e for e in events if isinstance(e, ProtocolNegotiated)]
    assert negotiated[0].negotiation.code.name == "OK_SuccessfulNegotiation"
    message = codec.decode(expected.namespace, payload)
    assert type(message.Body.BodyElement).__name__ == "SessionSetupReq"
    assert sdp.answered >= 1 and not sdp.ignored
    print(f"{protocol}: SDP answered {sdp.answered}x, SessionSetupReq {payload.hex()}")
