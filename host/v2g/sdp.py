"""SECC Discovery Protocol messages: ISO 15118-2 §7.10.1 (Tables 13 and 14).

Request payload: security (0x00 TLS, 0x10 no TLS), transport (0x00 TCP).
Response payload: SECC IPv6 address (16 bytes), SECC port (2 bytes), security, transport.
Both travel in a V2GTP header (payload types 0x9000 / 0x9001) in one UDP datagram.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from . import constants as c
from .errors import LocalProtocolError, RemoteProtocolError
from .v2gtp import PayloadType, frame, parse_datagram

SECURITIES = (c.SECURITY_TLS, c.SECURITY_NO_TLS)
TRANSPORTS = (c.TRANSPORT_TCP,)
_RES = struct.Struct(">16sHBB")


@dataclass(frozen=True, slots=True)
class SdpRequest:
    security: int
    transport: int = c.TRANSPORT_TCP


@dataclass(frozen=True, slots=True)
class SdpResponse:
    address: ipaddress.IPv6Address
    port: int
    security: int
    transport: int = c.TRANSPORT_TCP


def _check_codes(security: int, transport: int) -> None:
    if security not in SECURITIES:
        raise RemoteProtocolError(f"security {security:#04x} is neither 0x00 nor 0x10",
                                  "bad_security")  # fmt: skip
    if transport not in TRANSPORTS:
        raise RemoteProtocolError(f"transport {transport:#04x} is not TCP (0x00)",
                                  "bad_transport")  # fmt: skip


def push_request(request: SdpRequest) -> bytes:
    return frame(PayloadType.SDP_REQUEST, bytes([request.security, request.transport]))


def pull_request(datagram: bytes) -> SdpRequest:
    payload = parse_datagram(datagram, PayloadType.SDP_REQUEST)
    if len(payload) != c.SDP_REQ_PAYLOAD_LEN:
        raise RemoteProtocolError(f"SDP request payload of {len(payload)} bytes, expected 2",
                                  "bad_length")  # fmt: skip
    _check_codes(payload[0], payload[1])
    return SdpRequest(payload[0], payload[1])


def push_response(response: SdpResponse) -> bytes:
    if not 0 < response.port <= 0xFFFF:
        raise LocalProtocolError(f"port {response.port} does not fit 16 bits")
    return frame(PayloadType.SDP_RESPONSE, _RES.pack(response.address.packed, response.port,
                                                     response.security, response.transport))  # fmt: skip


def pull_response(datagram: bytes) -> SdpResponse:
    payload = parse_datagram(datagram, PayloadType.SDP_RESPONSE)
    if len(payload) != c.SDP_RES_PAYLOAD_LEN:
        raise RemoteProtocolError(f"SDP response payload of {len(payload)} bytes, expected 20",
                                  "bad_length")  # fmt: skip
    address, port, security, transport = _RES.unpack(payload)
    _check_codes(security, transport)
    if port == 0:
        raise RemoteProtocolError("SDP response with port 0", "bad_port")
    return SdpResponse(ipaddress.IPv6Address(address), port, security, transport)
