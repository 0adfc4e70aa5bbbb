"""One V2G connection, sans-I/O: framing, the handshake, the hand-over to the protocol
machine, and every way it closes; on fake time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.v2g import sap
from host.v2g.sap import DIN, ISO2, ISO20_DC
from host.v2g.session import CloseReason, ConnectionClosed, ProtocolNegotiated, V2gConnection
from host.v2g.tls import TlsInfo
from host.v2g.v2gtp import PayloadType, V2gtpReader, frame

from .helpers import EchoProtocol, Iso20Echo, arrivals, chunked
from .test_sap import REQ_DIN, REQ_ISO2_DIN, RES_FAILED, RES_OK_1

PROTOCOLS = {DIN.namespace: EchoProtocol, ISO2.namespace: EchoProtocol}
SAP_DIN = frame(PayloadType.EXI, REQ_DIN)


def _conn(now: float = 10.0, **kw) -> V2gConnection:
    return V2gConnection([ISO2, DIN], kw.pop("protocols", PROTOCOLS), now, peer="fe80::1", **kw)


def _events(conn: V2gConnection) -> list[object]:
    out = []
    while (event := conn.next_event()) is not None:
        out.append(event)
    return out


def _payloads(data: list[bytes]) -> list[bytes]:
    reader = V2gtpReader()
    reader.feed(b"".join(data))
    out = []
    while (message := reader.maybe_read_message()) is not None:
        out.append(message.payload)
    return out


CONVERSATION = SAP_DIN + frame(PayloadType.EXI, b"\x80one") + frame(PayloadType.EXI, b"stop")


@pytest.mark.parametrize("how", arrivals(10))
def test_handshake_then_protocol_three_ways(how: str) -> None:
    conn = _conn()
    out = []
    for chunk in chunked(CONVERSATION, how, cuts=5):
        conn.receive(chunk, 11.0)
        out += conn.data_to_send()
    assert _payloads(out) == [RES_OK_1, b"echo:\x80one", b"echo:stop"]
    assert conn.closed == ConnectionClosed(CloseReason.FINISHED)


def test_handover_context() -> None:
    conn = _conn(tls=False)
    conn.receive(SAP_DIN, 12.5)
    negotiated, = _events(conn)
    assert isinstance(negotiated, ProtocolNegotiated)
    assert negotiated.negotiation.chosen is DIN
    machine = conn.machine
    assert isinstance(machine, EchoProtocol)
    ctx = machine.context
    assert (ctx.protocol, ctx.schema_id, ctx.tls, ctx.peer) == (DIN, 1, False, "fe80::1")
    assert (ctx.connected_at, ctx.negotiated_at) == (10.0, 12.5)
    assert conn.get_timer() == 12.5 + 60.0  # the machine's timer now


def test_machine_events_come_through() -> None:
    conn = _conn()
    conn.receive(SAP_DIN + frame(PayloadType.EXI, b"x"), 11.0)
    assert _events(conn)[1:] == [("echoed", b"x")]


def test_no_common_protocol_sends_failed_then_closes() -> None:
    conn = _conn(protocols={ISO2.namespace: EchoProtocol})  # DIN offered but no machine
    conn.receive(SAP_DIN, 11.0)
    assert _payloads(conn.data_to_send()) == [RES_FAILED]
    assert conn.closed == ConnectionClosed(CloseReason.NO_NEGOTIATION)
    assert conn.machine is None
    conn.receive(frame(PayloadType.EXI, b"late"), 12.0)  # ignored once closed
    assert conn.data_to_send() == []


def test_din_is_not_chosen_over_tls() -> None:
    conn = _conn(tls=True)
    conn.receive(frame(PayloadType.EXI, REQ_ISO2_DIN), 11.0)
    assert conn.negotiation is not None and conn.negotiation.chosen is ISO2
    conn = _conn(tls=True)
    conn.receive(SAP_DIN, 11.0)
    assert conn.closed == ConnectionClosed(CloseReason.NO_NEGOTIATION)


@pytest.mark.parametrize("data", [
    b"\x02\xfd\x80\x01\x00\x00\x00\x00",
    b"\x01\xfe\x90\x00\x00\x00\x00\x02\x10\x00",
    b"\x01\xfe\x80\x01\xff\xff\xff\xff",
])  # fmt: skip
def test_bad_header_closes_without_an_answer(data: bytes) -> None:
    conn = _conn()
    conn.receive(data, 11.0)
    assert conn.closed is not None and conn.closed.reason is CloseReason.BAD_HEADER
    assert conn.data_to_send() == []
    assert sum(conn.reader.refused.values()) == 1


def test_bad_header_after_the_handshake_closes_too() -> None:
    conn = _conn()
    conn.receive(SAP_DIN, 11.0)
    conn.receive(b"\x01\xfe\x80\x02\x00\x00\x00\x00", 12.0)  # a -20 type on a DIN session
    assert conn.closed is not None and conn.closed.reason is CloseReason.BAD_HEADER


def test_garbage_handshake_closes() -> None:
    conn = _conn()
    conn.receive(frame(PayloadType.EXI, b"\x80\xff\xff"), 11.0)
    assert conn.closed is not None and conn.closed.reason is CloseReason.BAD_HANDSHAKE
    assert conn.data_to_send() == []


def test_communication_setup_timeout() -> None:
    conn = _conn(now=100.0)
    assert conn.get_timer() == 120.0
    conn.handle_timer(119.9)
    assert conn.closed is None
    conn.handle_timer(120.0)
    assert conn.closed == ConnectionClosed(CloseReason.SETUP_TIMEOUT)
    assert conn.get_timer() is None


def test_the_machine_timer_ends_the_connection() -> None:
    conn = _conn()
    conn.receive(SAP_DIN, 11.0)
    conn.handle_timer(70.9)
    assert conn.closed is None
    conn.handle_timer(71.0)
    assert conn.closed == ConnectionClosed(CloseReason.FINISHED)


def test_peer_close() -> None:
    conn = _conn()
    conn.receive(b"", 11.0)
    assert conn.closed == ConnectionClosed(CloseReason.PEER_CLOSED)


def test_protocol_payload_types_open_the_reader() -> None:
    # -20 over TLS 1.3 only ([V2G20-2356]): tests/host/v2g/test_tls.py has the rest
    conn = V2gConnection([ISO20_DC], {ISO20_DC.namespace: Iso20Echo}, 0.0,
                         tls_info=TlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384"))  # fmt: skip
    conn.receive(frame(PayloadType.EXI, sap.push_request([(ISO20_DC, 1, 1)])), 1.0)
    conn.receive(frame(PayloadType.ISO20_DC, b"dc"), 2.0)
    assert conn.data_to_send()[1:] == [frame(PayloadType.ISO20_DC, b"echo:dc")]
    assert isinstance(conn.machine, Iso20Echo) and conn.machine.received == [b"dc"]
    assert conn.closed is None


@given(st.binary(max_size=200), st.integers(min_value=1, max_value=16))
@settings(max_examples=300)
def test_random_input_never_escapes_the_connection(data: bytes, step: int) -> None:
    conn = _conn()
    for i in range(0, len(data), step):
        conn.receive(data[i:i + step], 11.0)
    _events(conn)  # whatever happened is reported as events, never raised


@given(st.binary(max_size=120))
@settings(max_examples=500)
def test_random_handshake_payloads_are_answered_or_closed(payload: bytes) -> None:
    conn = _conn()
    conn.receive(frame(PayloadType.EXI, b"\x80" + payload), 11.0)
    if conn.closed is None:
        assert conn.machine is not None
    else:
        assert conn.closed.reason in (CloseReason.BAD_HANDSHAKE, CloseReason.NO_NEGOTIATION)
