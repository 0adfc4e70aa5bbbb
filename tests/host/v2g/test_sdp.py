"""SDP messages and the sans-I/O server and client (ISO 15118-2 §7.10.1), on fake time."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.v2g import constants as c
from host.v2g.errors import ConfigError, RemoteProtocolError
from host.v2g.sdp import (
    SdpRequest,
    SdpResponse,
    pull_request,
    pull_response,
    push_request,
    push_response,
)
from host.v2g.sdp_client import SdpClient, SdpFailed, SeccDiscovered
from host.v2g.sdp_server import SdpAnswered, SdpIgnored, SdpServer

SECC = ipaddress.IPv6Address("fe80::2c0:ffee:1:2")
# hand-assembled from -2 Tables 13/14: V2GTP header, then the payload fields
REQ_NO_TLS = bytes.fromhex("01fe900000000002" "1000")
REQ_TLS = bytes.fromhex("01fe900000000002" "0000")
RES_NO_TLS = bytes.fromhex("01fe900100000014" "fe8000000000000002c0ffee00010002" "c350" "1000")
PEER = ("fe80::1", 40000, 0, 3)


def test_request_golden_both_ways() -> None:
    assert push_request(SdpRequest(c.SECURITY_NO_TLS)) == REQ_NO_TLS
    assert pull_request(REQ_TLS) == SdpRequest(c.SECURITY_TLS, c.TRANSPORT_TCP)


def test_response_golden_both_ways() -> None:
    res = SdpResponse(SECC, 50000, c.SECURITY_NO_TLS, c.TRANSPORT_TCP)
    assert push_response(res) == RES_NO_TLS
    assert pull_response(RES_NO_TLS) == res


@pytest.mark.parametrize(("data", "code"), [
    (REQ_NO_TLS[:-1], "length_mismatch"),
    (REQ_NO_TLS + b"\x00", "length_mismatch"),
    (bytes.fromhex("01fe900000000003" "100000"), "bad_length"),
    (bytes.fromhex("01fe900000000002" "2000"), "bad_security"),
    (bytes.fromhex("01fe900000000002" "1010"), "bad_transport"),
    (bytes.fromhex("01fe900100000002" "1000"), "unknown_payload_type"),
    (bytes.fromhex("02fd900000000002" "1000"), "bad_version"),
    (b"\x01\xfe", "truncated"),
])  # fmt: skip
def test_malformed_requests(data: bytes, code: str) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        pull_request(data)
    assert caught.value.code == code


def test_server_answers_with_the_port_for_the_security_asked() -> None:
    server = SdpServer(SECC, {c.SECURITY_TLS: 50001, c.SECURITY_NO_TLS: 50000})
    server.receive(REQ_NO_TLS, 0.0, PEER)
    server.receive(REQ_TLS, 0.0, PEER)
    out = server.data_to_send()
    assert [pull_response(d) for d, _ in out] == [
        SdpResponse(SECC, 50000, c.SECURITY_NO_TLS), SdpResponse(SECC, 50001, c.SECURITY_TLS)]
    assert [peer for _, peer in out] == [PEER, PEER]
    assert server.answered == 2
    assert server.next_event() == SdpAnswered(PEER, c.SECURITY_NO_TLS, c.SECURITY_NO_TLS, 50000)


@pytest.mark.parametrize(("offered", "asked", "answer"), [
    (c.SECURITY_TLS, REQ_NO_TLS, c.SECURITY_TLS),  # only TLS offered: say so
    (c.SECURITY_NO_TLS, REQ_TLS, c.SECURITY_NO_TLS),  # no TLS here: the EV decides
])  # fmt: skip
def test_server_offers_what_it_has(offered: int, asked: bytes, answer: int) -> None:
    server = SdpServer(SECC, {offered: 50000})
    server.receive(asked, 0.0, PEER)
    [(data, _)] = server.data_to_send()
    assert pull_response(data).security == answer


def test_server_ignores_and_counts_malformed() -> None:
    server = SdpServer(SECC, {c.SECURITY_NO_TLS: 50000})
    for data in (b"", b"\x01\xfe\x90\x00", REQ_NO_TLS + b"\x00", bytes.fromhex("01fe9000000000022000")):
        server.receive(data, 0.0, PEER)
    assert server.data_to_send() == []
    assert server.answered == 0
    assert sum(server.ignored.values()) == 4
    assert server.ignored["bad_security"] == 1
    assert isinstance(server.next_event(), SdpIgnored)
    assert server.get_timer() is None


@pytest.mark.parametrize("ports", [{c.SECURITY_NO_TLS: 15118}, {c.SECURITY_NO_TLS: 80}, {}, {0x20: 50000}])
def test_server_config_is_checked(ports: dict[int, int]) -> None:
    with pytest.raises(ConfigError):
        SdpServer(SECC, ports)


def test_server_needs_a_link_local_address() -> None:
    with pytest.raises(ConfigError):
        SdpServer("2001:db8::1", {c.SECURITY_NO_TLS: 50000})


@given(st.binary(max_size=40))
def test_server_never_crashes_on_random_datagrams(data: bytes) -> None:
    server = SdpServer(SECC, {c.SECURITY_NO_TLS: 50000})
    server.receive(data, 0.0, PEER)
    assert server.answered + sum(server.ignored.values()) == 1


# --- the EVCC side: resend every TT_SDP_Timeout, V2G_EVCC_SDP_Request_Counter in all ----


def test_client_resends_until_the_counter_then_fails() -> None:
    client = SdpClient(c.SECURITY_TLS)
    client.start(100.0)
    sent = [client.data_to_send()]
    while (event := client.next_event()) is None:
        deadline = client.get_timer()
        assert deadline is not None
        client.handle_timer(deadline - 0.001)  # early: nothing happens
        assert client.data_to_send() == []
        client.handle_timer(deadline)
        sent.append(client.data_to_send())
    assert event == SdpFailed(50)
    assert client.sent == c.SDP_MAX_REQUESTS == 50
    assert sent[:-1] == [[REQ_TLS]] * 50 and sent[-1] == []
    assert client.get_timer() is None
    assert client.done
    assert client.next_event() is None


def test_client_takes_the_first_valid_response() -> None:
    client = SdpClient(c.SECURITY_NO_TLS)
    client.start(0.0)
    client.handle_timer(c.SDP_RESPONSE_TIMEOUT)  # one resend
    assert client.get_timer() == pytest.approx(2 * c.SDP_RESPONSE_TIMEOUT)
    client.receive(b"junk", 0.3)
    client.receive(RES_NO_TLS, 0.3)
    client.receive(RES_NO_TLS, 0.31)  # a second SECC answering: too late
    event = client.next_event()
    assert isinstance(event, SeccDiscovered)
    assert event.response.address == SECC and event.response.port == 50000
    assert event.requests == 2
    assert client.next_event() is None and client.get_timer() is None
    assert client.ignored == {"truncated": 1, "unexpected": 1}


def test_client_timing_constants_are_the_standards() -> None:
    # [V2G2-160]/[V2G2-161] as the iso15118 package has them: 250 ms, 50 requests
    assert (c.SDP_RESPONSE_TIMEOUT, c.SDP_MAX_REQUESTS) == (0.25, 50)
    client = SdpClient()
    client.start(1.0)
    assert client.get_timer() == 1.25
