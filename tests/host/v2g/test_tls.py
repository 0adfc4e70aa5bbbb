"""One TLS port for ISO 15118-2 and -20 over real sockets on loopback: TLS 1.2 with the -2
suite and chain, TLS 1.3 with only the -20 suites and groups and the -20 chain (secp521r1),
-20 refused over plain TCP and TLS 1.2 ([V2G20-2356]), and mutual TLS with the vehicle
certificate ([V2G20-2400])."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from host.v2g import openssl, sap, tls
from host.v2g.sap import ISO2, ISO20_DC
from host.v2g.server import SeccServer, ServerConfig
from host.v2g.session import ConnectionClosed, ProtocolNegotiated, V2gConnection
from host.v2g.tls import TlsInfo
from host.v2g.v2gtp import PayloadType, frame
from tests.pki import Pki

from .helpers import EchoProtocol, Iso20Echo
from .membio import handshake
from .test_server import _free_port, _loopback, _read_message

PROTOCOLS = {ISO2.namespace: EchoProtocol, ISO20_DC.namespace: Iso20Echo}
# the EV offers -20 first, -2 second: SchemaID 1 and 2
BOTH = sap.push_request([(ISO20_DC, 1, 1), (ISO2, 2, 2)])
ONLY_20 = sap.push_request([(ISO20_DC, 1, 1)])


def _server(pki: Pki | None, pki20: Path | None, *, roots: tuple[Path, ...] = ()) -> SeccServer:
    host = _loopback()
    ctx = None
    if pki is not None:
        ctx = tls.server_context(
            pki.v2g.chain_path, pki.v2g.leaf.key_path, client_roots=roots,
            tls13_chain=None if pki20 is None else pki20 / "secc_chain.pem",
            tls13_key=None if pki20 is None else pki20 / "secc.key")  # fmt: skip
    config = ServerConfig(host=host, port=_free_port(host), tls=ctx, offers=(ISO20_DC, ISO2))
    return SeccServer(config, PROTOCOLS)


async def _hello(server: SeccServer, client: ssl.SSLContext | None, request: bytes = BOTH,
                 ) -> tuple[ssl.SSLObject | None, sap.ap.supportedAppProtocolRes | None]:  # fmt: skip
    """TLS (when ``client``), then supportedAppProtocolReq; the answer, or None when the
    server closed instead of answering."""
    reader, writer = await asyncio.open_connection(
        server.config.host, server.config.port, ssl=client,
        server_hostname=None if client is None else "")  # fmt: skip
    try:
        writer.write(frame(PayloadType.EXI, request))
        try:
            _kind, payload = await _read_message(reader)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            return writer.get_extra_info("ssl_object"), None
        return writer.get_extra_info("ssl_object"), sap.pull_response(payload)
    finally:
        writer.close()


def _run(server: SeccServer, coro_fn) -> object:
    async def main():
        await server.start()
        try:
            return await asyncio.wait_for(coro_fn(), 30)
        finally:
            await asyncio.sleep(0.05)  # let the server's side of the last connection end
            await server.close()

    return asyncio.run(main())


def _client13(pki20: Path, **kw) -> ssl.SSLContext:
    return tls.client_context(pki20 / "v2g_root.pem", tls13=True, **kw)


def test_tls12_and_tls13_clients_on_one_port(pki: Pki, pki20: Path) -> None:
    server = _server(pki, pki20)
    ev2 = tls.client_context(pki.v2g.root.cert_path)  # a -2 EV: TLS 1.2, -2 root
    ev20 = _client13(pki20)  # a -20 EV: TLS 1.3, -20 root

    async def both():
        return await _hello(server, ev2), await _hello(server, ev20)

    (obj12, res12), (obj13, res13) = _run(server, both)
    assert (obj12.version(), obj12.cipher()[0]) == ("TLSv1.2", "ECDHE-ECDSA-AES128-SHA256")
    assert obj12.getpeercert(True) == pki.v2g.leaf.cert.public_bytes(ssl_der())
    # over TLS 1.2 the EV's first choice, -20, is not selectable: its second, -2, is chosen
    assert (res12.ResponseCode, res12.SchemaID) == (sap.Code.OK_SuccessfulNegotiation, 2)
    assert (obj13.version(), obj13.cipher()[0]) == ("TLSv1.3", "TLS_AES_256_GCM_SHA384")
    leaf = x509.load_der_x509_certificate(obj13.getpeercert(True))
    assert isinstance(leaf.public_key().curve, ec.SECP521R1)  # the -20 chain, not the -2 one
    assert (res13.ResponseCode, res13.SchemaID) == (sap.Code.OK_SuccessfulNegotiation, 1)
    assert server.stats["tls: TLSv1.2"] == 1 and server.stats["tls: TLSv1.3"] == 1
    assert server.stats["withheld"] == 1  # the TLS 1.2 connection, logged


def ssl_der():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def test_tls13_chacha20_suite_is_served(pki: Pki, pki20: Path) -> None:
    server = _server(pki, pki20)
    ev = _client13(pki20)
    openssl.set_tls13_suites(ev, "TLS_CHACHA20_POLY1305_SHA256")
    obj, res = _run(server, lambda: _hello(server, ev))
    assert obj.cipher()[0] == "TLS_CHACHA20_POLY1305_SHA256" and res is not None


@pytest.mark.parametrize("suite", ["TLS_AES_128_GCM_SHA256", "TLS_AES_128_CCM_SHA256"])
def test_tls13_suites_outside_iso20_are_refused(pki: Pki, pki20: Path, suite: str) -> None:
    server = _server(pki, pki20)
    ev = _client13(pki20)
    ev.minimum_version = ssl.TLSVersion.TLSv1_3
    openssl.set_tls13_suites(ev, suite)

    async def attempt():
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await _hello(server, ev)

    _run(server, attempt)
    assert server.stats["tls_failed"] == 1 and not server.stats["tls: TLSv1.3"]


def test_server_context_lists_only_the_iso_suites(pki: Pki) -> None:
    ctx = tls.server_context(pki.v2g.chain_path, pki.v2g.leaf.key_path)
    by_version = {v: [c["name"] for c in ctx.get_ciphers() if c["protocol"] == v]
                  for v in ("TLSv1.2", "TLSv1.3")}  # fmt: skip
    assert by_version == {"TLSv1.2": ["ECDHE-ECDSA-AES128-SHA256"],
                          "TLSv1.3": ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]}


# P-256 over TLS 1.3: the iso15118 package's EVCC offers nothing else (host/v2g/tls.py)
@pytest.mark.parametrize(("groups", "ok"), [("X448", True), ("P-521", True), ("P-256", True),
                                            ("P-384", False), ("X25519", False)])  # fmt: skip
def test_tls13_key_exchange_groups(pki: Pki, pki20: Path, groups: str, ok: bool) -> None:
    server = _server(pki, pki20)
    ev = _client13(pki20)
    ev.minimum_version = ssl.TLSVersion.TLSv1_3
    openssl.set_groups(ev, groups)

    async def attempt():
        if ok:
            return await _hello(server, ev)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await _hello(server, ev)

    _run(server, attempt)
    assert server.stats["tls: TLSv1.3"] == (1 if ok else 0)


def test_iso20_over_plain_tcp_is_not_selected() -> None:
    server = _server(None, None)

    async def both():
        return await _hello(server, None, ONLY_20), await _hello(server, None, BOTH)

    (_o, only20), (_o2, both) = _run(server, both)
    assert (only20.ResponseCode, only20.SchemaID) == (sap.Code.Failed_NoNegotiation, None)
    assert (both.ResponseCode, both.SchemaID) == (sap.Code.OK_SuccessfulNegotiation, 2)
    assert server.stats["closed: NO_NEGOTIATION"] == 1


def test_iso20_alone_over_tls12_fails_no_negotiation(pki: Pki, pki20: Path) -> None:
    server = _server(pki, pki20)
    _obj, res = _run(server, lambda: _hello(server, tls.client_context(pki.v2g.root.cert_path),
                                            ONLY_20))  # fmt: skip
    assert (res.ResponseCode, res.SchemaID) == (sap.Code.Failed_NoNegotiation, None)


def _negotiate(info: TlsInfo | None, request: bytes) -> tuple[list[object], V2gConnection]:
    from host.v2g.v2gtp import V2gtpReader

    conn = V2gConnection([ISO20_DC, ISO2], PROTOCOLS, 0.0, tls_info=info)
    conn.receive(frame(PayloadType.EXI, request), 0.0)
    events = []
    while (e := conn.next_event()) is not None:
        events.append(e)
    reader = V2gtpReader({PayloadType.EXI})
    reader.feed(b"".join(conn.data_to_send()))
    message = reader.maybe_read_message()
    assert message is not None
    return [sap.pull_response(message.payload), *events], conn


@pytest.mark.parametrize(("version", "schema"), [(None, None), ("TLSv1.2", None),
                                                 ("TLSv1.3", 1)])  # fmt: skip
def test_connection_offers_iso20_over_tls13_only(version: str | None, schema: int | None) -> None:
    info = None if version is None else TlsInfo(version, "x")
    (res, negotiated, *rest), conn = _negotiate(info, ONLY_20)
    assert res.SchemaID == schema
    assert isinstance(negotiated, ProtocolNegotiated)
    if schema is None:
        assert res.ResponseCode is sap.Code.Failed_NoNegotiation
        assert negotiated.withheld == ("iso20-dc",)
        assert isinstance(rest[-1], ConnectionClosed)
    else:
        assert negotiated.withheld == ()
        assert conn.machine is not None and conn.machine.context.tls_info is info


def _mutual(pki: Pki, pki20: Path) -> SeccServer:
    return _server(pki, pki20, roots=(pki20 / "oem_root.pem", pki20 / "v2g_root.pem"))


def test_mutual_tls_with_a_vehicle_certificate(pki: Pki, pki20: Path) -> None:
    server = _mutual(pki, pki20)
    seen: list[TlsInfo | None] = []
    server.on_event = lambda conn, _e: seen.append(conn.tls_info)
    ev = _client13(pki20, cert_chain=pki20 / "oem_prov_chain.pem", key=pki20 / "oem_prov.key")
    _obj, res = _run(server, lambda: _hello(server, ev))
    assert res is not None and res.SchemaID == 1
    info = seen[0]
    assert info is not None and info.version == "TLSv1.3"
    oem_leaf = x509.load_pem_x509_certificate((pki20 / "oem_prov.pem").read_bytes())
    assert info.peer_certificate == oem_leaf.public_bytes(ssl_der())
    # leaf, OEM Sub-CA 2, Sub-CA 1, and the OEM root it was verified against
    assert len(info.peer_chain) == 4 and info.peer_chain[0] == info.peer_certificate


def test_mutual_tls_refuses_a_certificate_outside_the_roots(pki: Pki, pki20: Path) -> None:
    server = _mutual(pki, pki20)
    # the contract chain is under the MO root, which the SECC does not take for a vehicle
    ev = _client13(pki20, cert_chain=pki20 / "contract_chain.pem", key=pki20 / "contract.key")

    async def attempt():
        try:
            _obj, res = await _hello(server, ev)
        except (ssl.SSLError, ConnectionError):
            return None  # TLS 1.3: the client may learn it only on its first read
        return res

    assert _run(server, attempt) is None
    assert server.stats["tls_failed"] == 1 and not server.connections


def test_mutual_tls_without_a_client_certificate_goes_on(pki: Pki, pki20: Path) -> None:
    # a -2 EV (TLS 1.2, no certificate) on a port that asks for one: it still charges
    server = _mutual(pki, pki20)
    seen: list[TlsInfo | None] = []
    server.on_event = lambda conn, _e: seen.append(conn.tls_info)
    _obj, res = _run(server, lambda: _hello(server, tls.client_context(pki.v2g.root.cert_path)))
    assert res is not None and res.SchemaID == 2
    assert seen[0] is not None and seen[0].peer_certificate is None


def test_bad_tls13_suite_name_is_refused(pki: Pki) -> None:
    ctx = tls.client_context(pki.v2g.root.cert_path)
    with pytest.raises(ValueError):
        openssl.set_tls13_suites(ctx, "TLS_NO_SUCH_SUITE")


def test_tls13_serves_an_ed448_chain(pki: Pki, tmp_path: Path) -> None:
    import datetime as dt

    from cryptography.hazmat.primitives.asymmetric import ed448

    from host.pki import hierarchy
    from host.pki.profiles import PROFILES

    hierarchy.init(tmp_path, PROFILES["iso20-ed448"], hierarchy.Names(), dt.datetime.now(dt.UTC))
    server = _server(pki, tmp_path)
    obj, res = _run(server, lambda: _hello(server, _client13(tmp_path)))
    leaf = x509.load_der_x509_certificate(obj.getpeercert(True))
    assert isinstance(leaf.public_key(), ed448.Ed448PublicKey)
    assert obj.version() == "TLSv1.3" and res is not None and res.SchemaID == 1


@pytest.mark.parametrize("existing", [False, True])
def test_lab_keylog_file_is_readable_by_its_owner_only(pki: Pki, tmp_path: Path,
                                                      existing: bool) -> None:  # fmt: skip
    """The keylog holds every session's secrets: it is made 0600 like a private key, and an
    existing one others could read is tightened before secrets are appended to it (ssl
    itself opens it with fopen(), 0644 under the usual umask)."""
    import os
    import stat

    path = tmp_path / "keys.log"
    if existing:
        path.write_text("# an old keylog\n")
        path.chmod(0o644)
    ctx = tls.lab_keylog(tls.server_context(pki.v2g.chain_path, pki.v2g.leaf.key_path), path)
    assert ctx.keylog_filename == str(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    if existing:
        assert path.read_text().startswith("# an old keylog\n")


# -2 ECDHE is secp256r1 only ([V2G2-006]), also on the port that serves TLS 1.3 with the -20
# groups first: a TLS 1.2 EV that offers P-521 too (a default OpenSSL or mbedTLS list does)
# was given it by server preference, a much slower key exchange on an EV's controller
SECP256R1, SECP521R1 = 0x0017, 0x0019  # TLS NamedGroup


def _tls12_group(server_ctx: ssl.SSLContext, ev: ssl.SSLContext) -> int | None:
    """The NamedGroup of the ServerKeyExchange of a TLS 1.2 handshake over memory BIOs."""
    client, _server, from_server = handshake(ev, server_ctx)
    assert client.version() == "TLSv1.2"
    pos = 0
    while pos + 5 <= len(from_server):  # records, then the handshake messages in them
        kind, size = from_server[pos], int.from_bytes(from_server[pos + 3:pos + 5], "big")
        body, at = from_server[pos + 5:pos + 5 + size], 0
        while kind == 22 and at + 4 <= len(body):
            msg, length = body[at], int.from_bytes(body[at + 1:at + 4], "big")
            if msg == 12 and body[at + 4] == 3:  # ServerKeyExchange, named_curve
                return int.from_bytes(body[at + 5:at + 7], "big")
            at += 4 + length
        pos += 5 + size
    return None


@pytest.mark.parametrize("groups", ["P-521:P-256", "X448:P-521:P-256", "P-256:P-521"])
def test_tls12_key_exchange_is_secp256r1_only(pki: Pki, pki20: Path, groups: str) -> None:
    ev = tls.client_context(pki.v2g.root.cert_path)  # TLS 1.2
    openssl.set_groups(ev, groups)
    for chain20 in (None, pki20 / "secc_chain.pem"):  # with and without a -20 chain
        ctx = tls.server_context(pki.v2g.chain_path, pki.v2g.leaf.key_path,
                                 tls13_chain=chain20,
                                 tls13_key=None if chain20 is None else pki20 / "secc.key")
        assert _tls12_group(ctx, ev) == SECP256R1, (groups, chain20)
    ev13 = _client13(pki20)  # TLS 1.3 on the same context keeps the -20 groups first
    openssl.set_groups(ev13, "P-521:P-256")
    ev13.minimum_version = ssl.TLSVersion.TLSv1_3
    server = _server(pki, pki20)
    obj, res = _run(server, lambda: _hello(server, ev13))
    assert obj.version() == "TLSv1.3" and res is not None
