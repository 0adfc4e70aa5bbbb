"""Over a veth pair in two network namespaces (root): SDP from the EV end finds the SECC by
multicast to ff02::1 and gets the SECC's link-local address; then TLS and the
SupportedAppProtocol exchange to that address."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from host.bench.veth import VethPair, in_netns
from host.v2g import constants as c
from host.v2g import tls
from host.v2g.netif import LinkLocal, link_local
from host.v2g.sap import ISO2
from host.v2g.sdp import SdpRequest, push_request
from host.v2g.sdp_client import SdpClient, SeccDiscovered
from host.v2g.sdp_driver import discover, open_client_socket, start_sdp
from host.v2g.server import SeccServer, ServerConfig, host_of, open_listen_socket
from host.v2g.v2gtp import PayloadType, frame
from tests.pki import Pki

from .helpers import EchoProtocol
from .test_sap import REQ_ISO2_DIN, RES_OK_1

pytestmark = pytest.mark.system
PORT = 50123


def _wait_link_local(ns: str, ifname: str) -> LinkLocal:
    """Duplicate address detection keeps a fresh link-local address tentative for a while."""
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        found = in_netns(ns, lambda: link_local(ifname))
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{ifname} in {ns} got no usable link-local address")


def test_sdp_finds_the_secc_over_veth(veth: VethPair) -> None:
    secc = _wait_link_local(veth.ns_evse, veth.if_evse)
    ev = _wait_link_local(veth.ns_pev, veth.if_pev)
    client_sock = in_netns(veth.ns_pev, lambda: open_client_socket(veth.if_pev))
    junk_sock = in_netns(veth.ns_pev, lambda: open_client_socket(veth.if_pev))

    async def main():
        # runs in the EVSE's namespace: start_sdp finds the interface and its address there
        transport, machine = await start_sdp(veth.if_evse, {c.SECURITY_NO_TLS: PORT})
        try:
            # a malformed request first: ignored and counted, no answer
            junk_sock.sendto(push_request(SdpRequest(c.SECURITY_NO_TLS))[:-1],
                             (c.SDP_MULTICAST, c.SDP_PORT, 0, ev.ifindex))  # fmt: skip
            started = time.monotonic()
            result = await asyncio.wait_for(discover(client_sock, ev.ifindex, SdpClient()), 20)
            return result, machine, time.monotonic() - started
        finally:
            transport.close()
            junk_sock.close()

    result, machine, took = in_netns(veth.ns_evse, lambda: asyncio.run(main()))
    assert isinstance(result, SeccDiscovered), result
    assert result.response.address == secc.address
    assert (result.response.port, result.response.security) == (PORT, c.SECURITY_NO_TLS)
    assert machine.answered >= 1
    assert machine.ignored["length_mismatch"] == 1
    print(f"SDP over veth: SECC {secc.address} found after {result.requests} request(s), "
          f"{took * 1000:.1f} ms")


def test_tls_and_sap_over_veth(veth: VethPair, pki: Pki) -> None:
    secc = _wait_link_local(veth.ns_evse, veth.if_evse)
    _wait_link_local(veth.ns_pev, veth.if_pev)
    config = ServerConfig(host=host_of(secc), port=PORT,
                          tls=tls.server_context(pki.v2g.chain_path, pki.v2g.leaf.key_path))  # fmt: skip
    listen = in_netns(veth.ns_evse, lambda: open_listen_socket(config.host, config.port))
    server = SeccServer(config, {ISO2.namespace: EchoProtocol})

    def connect() -> socket.socket:
        sock = socket.create_connection((f"{secc.address}%{veth.if_pev}", PORT), timeout=10)
        sock.setblocking(False)
        return sock

    async def main():
        await server.start(listen)
        try:
            sock = in_netns(veth.ns_pev, connect)
            reader, writer = await asyncio.open_connection(
                sock=sock, ssl=tls.client_context(pki.v2g.root.cert_path), server_hostname="secc")
            cipher = writer.get_extra_info("ssl_object").cipher()[0]
            writer.write(frame(PayloadType.EXI, REQ_ISO2_DIN))
            header = await reader.readexactly(8)
            payload = await reader.readexactly(int.from_bytes(header[4:], "big"))
            writer.close()
            return cipher, header, payload
        finally:
            await server.close()

    cipher, header, payload = asyncio.run(asyncio.wait_for(main(), 30))
    assert cipher == "ECDHE-ECDSA-AES128-SHA256"
    assert header[:4] == b"\x01\xfe\x80\x01"
    assert payload == RES_OK_1
