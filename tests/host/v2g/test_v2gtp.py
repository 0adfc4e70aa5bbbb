"""V2GTP framing: ISO 15118-2 §7.8.3. Each reader test runs whole, byte by byte, in random
splits, and with trailing bytes (STYLE.md, after h11's tests/test_io.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.v2g import v2gtp
from host.v2g.errors import LocalProtocolError, RemoteProtocolError
from host.v2g.v2gtp import PayloadType, V2gtpHeader, V2gtpReader, frame, pull_header, push_header

from .helpers import arrivals, chunked

# FACTS.md: ISO-2 SessionSetupReq, SessionID 00, EVCCID 0A0B0C0D0E0F (reference codec)
SESSION_SETUP = bytes.fromhex("8098004011d018282c3034383c00")
# the same message as a V2GTP frame: 01 fe | 80 01 | 00 00 00 0e | payload
FRAMED = bytes.fromhex("01fe80010000000e") + SESSION_SETUP


def test_header_golden_both_ways() -> None:
    assert frame(PayloadType.EXI, SESSION_SETUP) == FRAMED
    assert pull_header(FRAMED) == V2gtpHeader(0x8001, 14)
    assert push_header(V2gtpHeader(0x9000, 2)) == bytes.fromhex("01fe900000000002")


def test_short_header_needs_more() -> None:
    for n in range(8):
        assert pull_header(FRAMED[:n]) is None


def test_iso20_payload_types_are_in_the_table() -> None:
    # ISO 15118-20 Table 12 (the iso15118 package's ISOV20PayloadTypes agrees)
    assert [PayloadType(t).name for t in range(0x8002, 0x8007)] == [
        "ISO20_MAIN", "ISO20_AC", "ISO20_DC", "ISO20_ACDP", "ISO20_WPT"]


def _read_all(reader: V2gtpReader, chunks: list[bytes]) -> list[v2gtp.V2gtpMessage]:
    out = []
    for chunk in chunks:
        reader.feed(chunk)
        while (message := reader.maybe_read_message()) is not None:
            out.append(message)
    return out


STREAM = FRAMED + frame(PayloadType.EXI, b"\x80\x00") + frame(PayloadType.EXI, b"")
EXPECTED = [(0x8001, SESSION_SETUP), (0x8001, b"\x80\x00"), (0x8001, b"")]


@pytest.mark.parametrize("how", arrivals(20))
def test_reader_three_ways(how: str) -> None:
    got = _read_all(V2gtpReader(), chunked(STREAM, how))
    assert [(m.payload_type, m.payload) for m in got] == EXPECTED


def test_reader_says_need_more_until_the_last_byte() -> None:
    reader = V2gtpReader()
    for byte in FRAMED[:-1]:
        reader.feed(bytes([byte]))
        assert reader.maybe_read_message() is None
    reader.feed(FRAMED[-1:])
    assert reader.maybe_read_message() == v2gtp.V2gtpMessage(0x8001, SESSION_SETUP)


def test_reader_keeps_trailing_bytes_for_the_next_message() -> None:
    reader = V2gtpReader()
    reader.feed(FRAMED + FRAMED[:5])
    assert reader.maybe_read_message() is not None
    assert reader.maybe_read_message() is None
    assert reader.buffered == 5
    reader.feed(FRAMED[5:])
    assert reader.maybe_read_message() == v2gtp.V2gtpMessage(0x8001, SESSION_SETUP)


@pytest.mark.parametrize(("data", "code"), [
    (b"\x02\xfd" + FRAMED[2:], v2gtp.BAD_VERSION),
    (b"\x01\xff" + FRAMED[2:], v2gtp.BAD_INVERSE_VERSION),
    (b"\x01\xfe\x80\x02" + FRAMED[4:], v2gtp.UNKNOWN_PAYLOAD_TYPE),  # -20 type on a -2 link
    (b"\x01\xfe\x90\x00" + FRAMED[4:], v2gtp.UNKNOWN_PAYLOAD_TYPE),  # SDP over TCP
    (b"\x01\xfe\x12\x34" + FRAMED[4:], v2gtp.UNKNOWN_PAYLOAD_TYPE),
])  # fmt: skip
def test_bad_header_fails_the_reader_and_is_counted(data: bytes, code: str) -> None:
    reader = V2gtpReader()
    reader.feed(data)
    with pytest.raises(RemoteProtocolError) as caught:
        reader.maybe_read_message()
    assert caught.value.code == code
    assert reader.refused == {code: 1}
    assert reader.failed is caught.value
    with pytest.raises(LocalProtocolError):  # terminal: the connection is to be closed
        reader.feed(FRAMED)


def test_bad_version_refused_as_soon_as_the_header_is_in() -> None:
    reader = V2gtpReader()
    reader.feed(b"\x00\xfe\x80\x01\x00\x00\x00")
    assert reader.maybe_read_message() is None  # 7 bytes: not a header yet
    reader.feed(b"\x01")
    with pytest.raises(RemoteProtocolError):
        reader.maybe_read_message()


def test_oversize_length_refused_before_the_payload_arrives() -> None:
    reader = V2gtpReader(max_payload=1000)
    reader.feed(push_header(V2gtpHeader(0x8001, 1001)))  # the header alone, no payload
    with pytest.raises(RemoteProtocolError) as caught:
        reader.maybe_read_message()
    assert caught.value.code == v2gtp.PAYLOAD_TOO_LONG
    assert reader.buffered == 0


def test_length_at_the_cap_is_taken() -> None:
    reader = V2gtpReader(max_payload=4)
    reader.feed(frame(0x8001, b"abcd"))
    assert reader.maybe_read_message() == v2gtp.V2gtpMessage(0x8001, b"abcd")


def test_the_default_cap_refuses_a_4_gib_announcement() -> None:
    reader = V2gtpReader()
    reader.feed(push_header(V2gtpHeader(0x8001, 0xFFFFFFFF)))
    with pytest.raises(RemoteProtocolError):
        reader.maybe_read_message()


def test_accepting_more_types_opens_the_table() -> None:
    reader = V2gtpReader(accept={PayloadType.ISO20_MAIN, PayloadType.ISO20_DC})
    reader.feed(frame(PayloadType.ISO20_DC, b"x"))
    assert reader.maybe_read_message() == v2gtp.V2gtpMessage(0x8004, b"x")


@given(st.binary(max_size=64))
def test_random_bytes_give_messages_or_a_clean_error(data: bytes) -> None:
    reader = V2gtpReader(max_payload=32)
    reader.feed(data)
    try:
        while (message := reader.maybe_read_message()) is not None:
            assert frame(message.payload_type, message.payload) == data[:8 + len(message.payload)]
            data = data[8 + len(message.payload):]
    except RemoteProtocolError as exc:
        assert exc.code in reader.refused
