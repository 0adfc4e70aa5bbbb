"""The TCP/TLS server on loopback: TLS 1.2 with the ISO 15118-2 suite and the SECC chain
from files, the SupportedAppProtocol exchange, ISO-15118-403 for a slow handshake, and the
ways a connection ends. (Over veth in two namespaces: test_system.py.)"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl

import pytest

from host.v2g import sap, tls
from host.v2g.errors import ConfigError
from host.v2g.sap import DIN, ISO2
from host.v2g.server import SeccServer, ServerConfig
from host.v2g.v2gtp import PayloadType, V2gtpReader, frame
from tests.pki import Pki

from .helpers import EchoProtocol
from .test_sap import REQ_ISO2_DIN, RES_OK_1

PROTOCOLS = {ISO2.namespace: EchoProtocol, DIN.namespace: EchoProtocol}


def _loopback() -> str:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return "::1"
    except OSError:
        return "127.0.0.1"


def _free_port(host: str) -> int:
    """A free port in the dynamic range (the server refuses others)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        port = random.randint(49152, 65535)
        with socket.socket(family) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in the dynamic range")


async def _read_message(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = await reader.readexactly(8)
    v2gtp = V2gtpReader(accept=set(PayloadType))
    v2gtp.feed(header + await reader.readexactly(int.from_bytes(header[4:], "big")))
    message = v2gtp.maybe_read_message()
    assert message is not None
    return message.payload_type, message.payload


def _config(pki: Pki | None, **kw) -> ServerConfig:
    host = _loopback()
    ctx = tls.server_context(pki.v2g.chain_path, pki.v2g.leaf.key_path) if pki else None
    return ServerConfig(host=host, port=_free_port(host), tls=ctx, **kw)


async def _session(server: SeccServer, client_ctx: ssl.SSLContext | None, *,
                   delay: float = 0.0) -> tuple[object, list[tuple[int, bytes]], bytes]:  # fmt: skip
    """Connect, optionally wait ``delay`` before the TLS handshake, then SAP + "stop"."""
    reader, writer = await asyncio.open_connection(server.config.host, server.config.port)
    if client_ctx is not None:
        await asyncio.sleep(delay)
        await writer.start_tls(client_ctx, server_hostname="secc")
    info = writer.get_extra_info("ssl_object")
    writer.write(frame(PayloadType.EXI, REQ_ISO2_DIN))
    got = [await _read_message(reader)]
    writer.write(frame(PayloadType.EXI, b"stop"))
    got.append(await _read_message(reader))
    tail = await reader.read()  # the server closes after the machine finished
    writer.close()
    return info, got, tail


def _run(server: SeccServer, coro_fn) -> object:
    async def main():
        await server.start()
        try:
            return await asyncio.wait_for(coro_fn(), 30)
        finally:
            await server.close()

    return asyncio.run(main())


def test_tls12_iso_suite_and_sap_exchange(pki: Pki) -> None:
    server = SeccServer(_config(pki), PROTOCOLS)
    client = tls.client_context(pki.v2g.root.cert_path)
    info, got, tail = _run(server, lambda: _session(server, client))
    assert isinstance(info, ssl.SSLObject)
    assert info.version() == "TLSv1.2"
    assert info.cipher()[0] == "ECDHE-ECDSA-AES128-SHA256"
    assert got == [(0x8001, RES_OK_1), (0x8001, b"echo:stop")]
    assert tail == b""
    assert server.stats["closed: FINISHED"] == 1 and not server.connections


def test_plain_tcp_sap_exchange_picks_din_when_asked() -> None:
    server = SeccServer(_config(None, offers=(DIN,)), PROTOCOLS)
    _info, got, _tail = _run(server, lambda: _session(server, None))
    res = sap.pull_response(got[0][1])
    assert (res.ResponseCode, res.SchemaID) == (sap.Code.OK_SuccessfulNegotiation, 2)


def test_slow_handshake_is_logged_as_403_and_the_session_goes_on(
        pki: Pki, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    server = SeccServer(_config(pki, slow_handshake=0.25), PROTOCOLS)
    client = tls.client_context(pki.v2g.root.cert_path)
    with caplog.at_level(logging.WARNING, logger="host.v2g.server"):
        # the client waits 0.3 s after the TCP connect: the handshake cannot be faster
        _info, got, _tail = _run(server, lambda: _session(server, client, delay=0.3))
    assert got[0] == (0x8001, RES_OK_1)
    lines = [r.getMessage() for r in caplog.records if "ISO-15118-403" in r.getMessage()]
    assert len(lines) == 1 and "limit 250 ms" in lines[0]
    assert server.stats["tls_slow"] == 1


def test_handshake_within_the_limit_is_not_logged(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    server = SeccServer(_config(pki, slow_handshake=60.0), PROTOCOLS)
    client = tls.client_context(pki.v2g.root.cert_path)
    with caplog.at_level(logging.WARNING, logger="host.v2g.server"):
        _run(server, lambda: _session(server, client))
    assert not [r for r in caplog.records if "ISO-15118-403" in r.getMessage()]
    assert server.stats["tls_slow"] == 0


def test_a_handshake_that_never_comes_ends_at_the_setup_timeout(pki: Pki) -> None:
    server = SeccServer(_config(pki, setup_timeout=0.2), PROTOCOLS)

    async def silent():
        reader, writer = await asyncio.open_connection(server.config.host, server.config.port)
        tail = await reader.read()
        writer.close()
        return tail

    assert _run(server, silent) == b""
    assert server.stats["tls_timeout"] == 1


def test_a_client_without_the_iso_suite_is_refused(pki: Pki) -> None:
    server = SeccServer(_config(pki), PROTOCOLS)
    client = tls.client_context(pki.v2g.root.cert_path)
    client.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")

    async def attempt():
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await _session(server, client)

    _run(server, attempt)
    assert server.stats["tls_failed"] == 1


def test_bad_header_closes_and_is_counted() -> None:
    server = SeccServer(_config(None), PROTOCOLS)

    async def bad():
        reader, writer = await asyncio.open_connection(server.config.host, server.config.port)
        writer.write(b"\x01\xfe\x12\x34\x00\x00\x00\x00")
        tail = await reader.read()
        writer.close()
        return tail

    assert _run(server, bad) == b""
    assert server.stats["closed: BAD_HEADER"] == 1
    assert server.stats["refused: unknown_payload_type"] == 1


@pytest.mark.parametrize("port", [0, 8080, 15118, 49151, 65536])
def test_port_must_be_in_the_dynamic_range(port: int) -> None:
    with pytest.raises(ConfigError):
        ServerConfig(host="::1", port=port)


def test_unreadable_chain_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError):
        tls.server_context(tmp_path / "missing.pem", tmp_path / "missing.key")


def test_tls12_offers_only_the_iso_suite(pki: Pki) -> None:
    # [V2G2-602] names ECDHE-ECDSA- and ECDH-ECDSA-AES128-SHA256; OpenSSL 3 has no static
    # ECDH suites left, so the first is all that TLS 1.2 can negotiate here
    ctx = tls.server_context(pki.v2g.chain_path, pki.v2g.leaf.key_path)
    tls12 = [s["name"] for s in ctx.get_ciphers() if s["protocol"] == "TLSv1.2"]
    assert tls12 == ["ECDHE-ECDSA-AES128-SHA256"]
