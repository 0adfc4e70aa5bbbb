"""`v2gate decode --pcap`: the V2G messages of a capture, one JSON object a line.

Each TCP connection whose first bytes are a V2GTP header is read as V2GTP; one that
starts with a TLS handshake record is TLS, decrypted with --keylog (host/v2g/tlsrecords)
or else listed as encrypted. Within a connection the first EXI message is the
SupportedAppProtocolReq; the Res's SchemaID names the protocol (DIN, -2 or -20) of the
0x8001 messages after it, and -20's own payload types name their namespace. Other TCP
connections are listed as not V2G. Nothing is dropped silently: a message that does not
decode is a record with the error and its bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from host import exi
from host.exi.schemas import app_protocol as ap
from host.v2g import pcap
from host.v2g.errors import RemoteProtocolError
from host.v2g.tlsrecords import TlsError, TlsStream, read_keylog
from host.v2g.v2gtp import PayloadType, V2gtpReader

SAP_NS = "urn:iso:15118:2:2010:AppProtocol"
ISO20_NS = {
    PayloadType.ISO20_MAIN: "urn:iso:std:iso:15118:-20:CommonMessages",
    PayloadType.ISO20_AC: "urn:iso:std:iso:15118:-20:AC",
    PayloadType.ISO20_DC: "urn:iso:std:iso:15118:-20:DC",
    PayloadType.ISO20_ACDP: "urn:iso:std:iso:15118:-20:ACDP",
    PayloadType.ISO20_WPT: "urn:iso:std:iso:15118:-20:WPT",
}


def _where(e: pcap.Endpoint) -> str:
    return f"[{e[0]}]:{e[1]}" if ":" in e[0] else f"{e[0]}:{e[1]}"


class _Conn:
    def __init__(self, conn: pcap.Connection, keylog: dict[tuple[str, bytes], bytes] | None) -> None:
        self.conn = conn
        self.kind = ""  # v2gtp, tls, other
        self.tls: TlsStream | None = None
        self.keylog = keylog
        self.readers: dict[pcap.Endpoint, V2gtpReader] = {}
        self.offers: list[Any] = []  # the SupportedAppProtocolReq's entries
        self.namespace: str | None = None  # of 0x8001 after the handshake
        self.client: pcap.Endpoint | None = conn.a if conn.client_known else None
        self.failed = ""
        self.last_t = 0.0

    def head(self, t: float) -> dict[str, Any]:
        c = self.conn
        client = self.client or c.a
        server = c.b if client == c.a else c.a
        rec: dict[str, Any] = {"t": round(t, 6), "connection": c.number, "client": _where(client),
                               "server": _where(server)}
        return rec


def decode_capture(path: Path, keylog_path: Path | None = None) -> Iterator[dict[str, Any]]:
    """The records to print. CaptureError / TlsError (from the keylog) for bad input."""
    keylog = read_keylog(keylog_path) if keylog_path is not None else None
    conns: dict[int, _Conn] = {}
    for conn, sender, t, chunk in pcap.tcp_streams(pcap.read_packets(path)):
        c = conns.get(conn.number)
        if c is None:
            c = conns[conn.number] = _Conn(conn, keylog)
        if c.failed:
            continue
        if not c.kind:
            c.kind = "v2gtp" if chunk[:2] == b"\x01\xfe" else "tls" if chunk[:1] == b"\x16" else "other"
            rec = c.head(t)
            if c.kind == "other":
                yield {**rec, "stream": "not V2GTP (neither a V2GTP header nor a TLS handshake)"}
                continue
            if c.kind == "tls":
                c.tls = TlsStream(keylog)
        if c.kind == "other":
            continue
        if c.kind == "tls":
            assert c.tls is not None
            from_client = sender == (c.client or conn.a)
            known = c.tls.suite_id
            try:
                plain = c.tls.receive(from_client, chunk)
            except TlsError as e:
                c.failed = str(e)
                yield {**c.head(t), "tls": c.tls.describe(), "error": str(e)}
                continue
            c.last_t = t
            if not known and c.tls.suite_id and keylog is not None:
                yield {**c.head(t), "tls": c.tls.describe(), "stream": "decrypted with the keylog"}
            for data in plain:
                yield from _v2gtp(c, sender, t, data)
        else:
            yield from _v2gtp(c, sender, t, chunk)
    for c in conns.values():
        if c.tls is not None and keylog is None and c.tls.records:
            yield {**c.head(c.last_t), "tls": c.tls.describe(), "records": c.tls.records,
                   "stream": "encrypted: give --keylog SSLKEYLOGFILE to decrypt"}


def _v2gtp(c: _Conn, sender: pcap.Endpoint, t: float, data: bytes) -> Iterator[dict[str, Any]]:
    reader = c.readers.get(sender)
    if reader is None:
        reader = c.readers[sender] = V2gtpReader(accept=list(PayloadType), max_payload=1 << 20)
    if reader.failed is not None:
        return
    reader.feed(data)
    while True:
        try:
            msg = reader.maybe_read_message()
        except RemoteProtocolError as e:
            yield {**c.head(t), "from": _where(sender), "error": f"V2GTP: {e}; the rest of this direction is skipped"}
            return
        if msg is None:
            return
        yield _message(c, sender, t, msg.payload_type, msg.payload)


def _message(c: _Conn, sender: pcap.Endpoint, t: float, ptype: int, payload: bytes) -> dict[str, Any]:
    if c.client is None:  # no SYN seen: the one that speaks first is the EV
        c.client = sender
    rec = {**c.head(t), "from": "EV" if sender == c.client else "SECC", "payload_type": f"{ptype:#06x}"}
    if ptype in (PayloadType.SDP_REQUEST, PayloadType.SDP_RESPONSE):
        return {**rec, "error": "SDP over TCP", "hex": payload.hex()}
    ns = ISO20_NS.get(PayloadType(ptype)) if ptype in ISO20_NS else None
    if ns is None and ptype == PayloadType.EXI:
        ns = c.namespace or SAP_NS
    if ns is None:
        return {**rec, "error": f"payload type {ptype:#06x} carries no EXI this decoder knows", "hex": payload.hex()}
    try:
        message = exi.decode(ns, payload)
    except exi.ExiError as e:
        return {**rec, "namespace": ns, "error": f"EXI: {e}", "hex": payload.hex()}
    if isinstance(message, ap.supportedAppProtocolReq):
        c.offers = list(message.AppProtocol)
    elif isinstance(message, ap.supportedAppProtocolRes) and message.SchemaID is not None:
        chosen = [o for o in c.offers if o.SchemaID == message.SchemaID]
        if chosen:
            c.namespace = str(chosen[0].ProtocolNamespace)
    return {**rec, "namespace": ns, "message": exi.to_json(message, ns)}
