"""V2G Transfer Protocol framing: ISO 15118-2 §7.8.3 (Table 9 header, Table 10 payload
types), ISO 15118-20 §7.8.3 (Table 12, more payload types).

Header: version 0x01, inverted version 0xFE, payload type (2 bytes), payload length
(4 bytes), big-endian, then the payload. A header that fails the checks (version,
inverted version, a payload type this connection does not take) is the standard's
negative case: the message is discarded and the connection closed (-2 §7.8.3.2; DIN SPEC
70121 §8.7.3 likewise). The reader also refuses an announced length above its cap as soon
as the header is in, before it buffers any of that payload.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from enum import IntEnum

from . import constants as c
from .errors import LocalProtocolError, RemoteProtocolError

_HEADER = struct.Struct(">BBHI")


class PayloadType(IntEnum):
    """V2GTP payload types. -2 Table 10 and DIN Table 16 define 0x8001 and 0x9000/0x9001;
    -20 Table 12 adds one per schema (checked against the iso15118 package's
    `shared/messages/enums.py` ISOV20PayloadTypes and the dsV2Gshark dissector's table).
    Open: a connection says which of these it takes (`V2gtpReader.accept`)."""

    EXI = 0x8001  # DIN, -2, and SupportedAppProtocol in all three
    ISO20_MAIN = 0x8002  # -20 CommonMessages
    ISO20_AC = 0x8003
    ISO20_DC = 0x8004
    ISO20_ACDP = 0x8005
    ISO20_WPT = 0x8006
    ISO20_SCHEDULE_RENEGOTIATION = 0x8101  # -20 side streams
    ISO20_METERING_CONFIRMATION = 0x8102
    ISO20_ACDP_SYSTEM_STATUS = 0x8103
    ISO20_PARKING_STATUS = 0x8104
    SDP_REQUEST = 0x9000
    SDP_RESPONSE = 0x9001
    SDP_REQUEST_WIRELESS = 0x9002  # -20, ACDP / WPT discovery
    SDP_RESPONSE_WIRELESS = 0x9003


# reasons a header is refused: counter keys and close reasons
BAD_VERSION = "bad_version"
BAD_INVERSE_VERSION = "bad_inverse_version"
UNKNOWN_PAYLOAD_TYPE = "unknown_payload_type"
PAYLOAD_TOO_LONG = "payload_too_long"


@dataclass(frozen=True, slots=True)
class V2gtpHeader:
    payload_type: int
    length: int


@dataclass(frozen=True, slots=True)
class V2gtpMessage:
    payload_type: int
    payload: bytes


def pull_header(buf: bytes | bytearray | memoryview) -> V2gtpHeader | None:
    """The header at the start of ``buf``; None while fewer than 8 bytes are there.
    Checks the version bytes only: which payload types are welcome is the reader's call."""
    if len(buf) < c.V2GTP_HEADER_LEN:
        return None
    version, inverse, payload_type, length = _HEADER.unpack_from(buf)
    if version != c.V2GTP_VERSION:
        raise RemoteProtocolError(f"V2GTP version {version:#04x}, expected 0x01", BAD_VERSION)
    if inverse != c.V2GTP_INVERSE_VERSION:
        raise RemoteProtocolError(
            f"V2GTP inverse version {inverse:#04x}, expected 0xfe", BAD_INVERSE_VERSION
        )
    return V2gtpHeader(payload_type, length)


def push_header(header: V2gtpHeader) -> bytes:
    if not 0 <= header.payload_type <= 0xFFFF:
        raise LocalProtocolError(f"payload type {header.payload_type} does not fit 16 bits")
    if not 0 <= header.length <= 0xFFFFFFFF:
        raise LocalProtocolError(f"payload of {header.length} bytes does not fit V2GTP")
    return _HEADER.pack(c.V2GTP_VERSION, c.V2GTP_INVERSE_VERSION, header.payload_type,
                        header.length)  # fmt: skip


def frame(payload_type: int, payload: bytes) -> bytes:
    """One V2GTP message: header + payload."""
    return push_header(V2gtpHeader(payload_type, len(payload))) + payload


def parse_datagram(data: bytes, payload_type: int) -> bytes:
    """The payload of a V2GTP message that must fill ``data`` exactly (SDP over UDP: a
    datagram is one message, so a short or long one is malformed)."""
    header = pull_header(data)
    if header is None:
        raise RemoteProtocolError(f"{len(data)} bytes: shorter than a V2GTP header", "truncated")
    if header.payload_type != payload_type:
        raise RemoteProtocolError(
            f"payload type {header.payload_type:#06x}, expected {payload_type:#06x}",
            UNKNOWN_PAYLOAD_TYPE,
        )
    if len(data) != c.V2GTP_HEADER_LEN + header.length:
        raise RemoteProtocolError(
            f"header announces {header.length} payload bytes, datagram carries "
            f"{len(data) - c.V2GTP_HEADER_LEN}", "length_mismatch",
        )  # fmt: skip
    return bytes(data[c.V2GTP_HEADER_LEN:])


class V2gtpReader:
    """Buffered reader over a byte stream (TCP). ``feed()`` bytes as they come;
    ``maybe_read_message()`` returns each complete message, None while one is incomplete.
    A bad header raises RemoteProtocolError once and leaves the reader failed (the
    connection is to be closed); ``refused`` counts the reasons."""

    def __init__(self, accept: Collection[int] = (PayloadType.EXI,), *,
                 max_payload: int = c.V2GTP_DEFAULT_MAX_PAYLOAD) -> None:  # fmt: skip
        self.accept = frozenset(accept)  # the session widens it once a protocol is chosen
        self.max_payload = max_payload
        self.refused: Counter[str] = Counter()
        self.failed: RemoteProtocolError | None = None
        self._buf = bytearray()
        self._header: V2gtpHeader | None = None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        if self.failed is not None:
            raise LocalProtocolError("the reader failed; the connection must be closed")
        self._buf += data

    def maybe_read_message(self) -> V2gtpMessage | None:
        if self.failed is not None:
            raise LocalProtocolError("the reader failed; the connection must be closed")
        if self._header is None:
            try:
                self._header = self._check(pull_header(self._buf))
            except RemoteProtocolError as exc:
                self.failed = exc
                self.refused[exc.code] += 1
                self._buf = bytearray()
                raise
            if self._header is None:
                return None
        end = c.V2GTP_HEADER_LEN + self._header.length
        if len(self._buf) < end:
            return None
        message = V2gtpMessage(self._header.payload_type, bytes(self._buf[c.V2GTP_HEADER_LEN:end]))
        del self._buf[:end]
        self._header = None
        return message

    def _check(self, header: V2gtpHeader | None) -> V2gtpHeader | None:
        if header is None:
            return None
        if header.payload_type not in self.accept:
            raise RemoteProtocolError(
                f"payload type {header.payload_type:#06x} not taken here "
                f"(takes {', '.join(f'{t:#06x}' for t in sorted(self.accept))})",
                UNKNOWN_PAYLOAD_TYPE,
            )
        if header.length > self.max_payload:
            raise RemoteProtocolError(
                f"payload length {header.length} above the cap of {self.max_payload} bytes",
                PAYLOAD_TOO_LONG,
            )
        return header
