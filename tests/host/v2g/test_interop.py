"""The `iso15118` package's EVCC (a third-party EV) against our SDP server and our TCP
server over veth in two namespaces: it must find us by SDP, take our SupportedAppProtocol
answer and go on to SessionSetupReq, which a capturing stand-in machine decodes with our
codec. (The full sessions come with the DIN / ISO-2 machines.)"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
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


def _peer_python() -> Path:
    if shutil.which("java") is None:
        print("skipping: the iso15118 package's EXI codec needs Java")
        pytest.skip("no java")
    from tools.exi_peer.venv import ensure_peer_venv

    return ensure_peer_venv()


def _wait_link_local(ns: str, ifname: str) -> None:
    deadline = time.monotonic() + 10.0
    while in_netns(ns, lambda: link_local(ifname)) is None:
        assert time.monotonic() < deadline, f"{ifname}: no link-local address"
        time.sleep(0.05)


@pytest.mark.parametrize("protocol", ["DIN_SPEC_70121", "ISO_15118_2"])
def test_their_evcc_finds_us_and_negotiates(veth: VethPair, tmp_path: Path, protocol: str) -> None:
    python = _peer_python()
    # py4j talks to its JVM over 127.0.0.1: the EV's namespace needs its loopback up
    subprocess.run(["ip", "-n", veth.ns_pev, "link", "set", "lo", "up"], check=True)
    _wait_link_local(veth.ns_evse, veth.if_evse)
    _wait_link_local(veth.ns_pev, veth.if_pev)
    (tmp_path / ".env").write_text(f"NETWORK_INTERFACE={veth.if_pev}\nLOG_LEVEL=INFO\n")
    (tmp_path / "ev.json").write_text(json.dumps({
        "supportedProtocols": [protocol], "supportedEnergyServices": ["DC"],
        "energyTransferMode": "DC_extended", "isCertInstallNeeded": False, "useTls": False,
    }))  # fmt: skip
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
        ev = subprocess.Popen(
            ["ip", "netns", "exec", veth.ns_pev, str(python), "-m", "iso15118.evcc.main",
             "ev.json"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not Capture.seen and time.monotonic() < deadline and ev.poll() is None:
                await asyncio.sleep(0.05)
        finally:
            os.killpg(ev.pid, signal.SIGKILL)  # the EVCC and its JVM: the group we started
            out = ev.communicate(timeout=30)[0].decode(errors="replace")
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
