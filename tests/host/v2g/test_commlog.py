"""The communication log: the lines of a whole -2 DC session, and each reason code of
host.v2g.reasons written by the path that ends a session with it (in-process on a fake
clock where the connection alone decides; through SeccServer for TLS, shutdown and our own
bug). A reason with no scenario here fails test_every_reason_code_is_provoked."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from host.bench.dcplant import DcPlant
from host.exi import codec
from host.exi.schemas import iso2 as i
from host.secc.controller import Decision, SimEvseController
from host.secc.core import EndReason, RequestAnswered, SessionEnded
from host.secc.iso2 import iso2_factory
from host.v2g import reasons, sap, tls
from host.v2g.commlog import CommLog, ConnectionLog, _utc, default_path, key_fields
from host.v2g.errors import LocalProtocolError
from host.v2g.server import SeccServer, ServerConfig
from host.v2g.session import CloseReason, ConnectionClosed, V2gConnection
from host.v2g.v2gtp import PayloadType, frame
from tests.host.secc.test_iso2_pair import session
from tests.pki import Pki

from .helpers import EchoProtocol
from .test_server import _free_port, _loopback, _run, _session

SID = bytes.fromhex("0a0b0c0d0e0f1011")
END = re.compile(r" end SessionStop reason=(0x[0-9A-F]{2}) (\w+)")


def read_lines(log: CommLog) -> list[str]:
    log.close()
    return log.path.read_text().splitlines()


def end_codes(lines: list[str]) -> list[str]:
    return [m.group(1) for line in lines if (m := END.search(line))]


# --- in-process: a -2 connection fed frames on a fake clock ------------------------------


def req(body: Any, sid: bytes = SID) -> bytes:
    message = i.V2G_Message(Header=i.MessageHeaderType(SessionID=sid),
                            Body=i.BodyType(BodyElement=body))
    return frame(PayloadType.EXI, codec.encode(message, i.NAMESPACE))


SAP_ISO2 = frame(PayloadType.EXI, sap.push_request([(sap.ISO2, 1, 1)]))
SETUP = req(i.SessionSetupReq(EVCCID=bytes.fromhex("020000000001")), bytes(8))
DISCOVERY = req(i.ServiceDiscoveryReq(ServiceScope=None, ServiceCategory=None))


def selection(option: Any = i.paymentOptionType.ExternalPayment) -> bytes:
    return req(i.PaymentServiceSelectionReq(
        SelectedPaymentOption=option, SelectedServiceList=i.SelectedServiceListType(
            SelectedService=[i.SelectedServiceType(ServiceID=1, ParameterSetID=None)])))


AUTH = req(i.AuthorizationReq(Id=None, GenChallenge=None))
CABLE_CHECK = req(i.CableCheckReq(DC_EVStatus=i.DC_EVStatus(
    EVReady=True, EVErrorCode=i.DC_EVErrorCodeType.NO_ERROR, EVRESSSOC=30)))


class Logged:
    """A -2 V2gConnection whose events go to a ConnectionLog, as SeccServer does it."""

    def __init__(self, log: CommLog, **controller_kw: Any) -> None:
        self.controller = SimEvseController(DcPlant(isolation_time=1.0), **controller_kw)
        factory = iso2_factory(lambda _c: self.controller, new_session_id=lambda: SID)
        self.conn = V2gConnection([sap.ISO2], {sap.ISO2.namespace: factory}, 0.0)
        self.clog = log.connection("fe80::2")

    def feed(self, data: bytes, now: float = 0.0) -> None:
        self.clog.received(now)
        self.conn.receive(data, now)
        self._pump(now)

    def timer(self, now: float) -> None:
        self.conn.handle_timer(now)
        self._pump(now)

    def _pump(self, now: float) -> None:
        self.conn.data_to_send()
        while (event := self.conn.next_event()) is not None:
            self.clog.note(event, now + 0.002)  # the answer written 2 ms later


def _in_process(steps: Callable[[Logged], None], **controller_kw: Any) -> Callable[[CommLog], None]:
    def run(log: CommLog) -> None:
        steps(Logged(log, **controller_kw))
    return run


def _to_authorization(c: Logged) -> None:
    for data in (SAP_ISO2, SETUP, DISCOVERY, selection()):
        c.feed(data)


def _ongoing_past_limit(c: Logged) -> None:
    _to_authorization(c)
    t = 1.0
    while not c.conn.closed:
        c.feed(AUTH, t)
        t += 10.0


def _pair(**config: Any) -> Callable[[CommLog], None]:
    def run(log: CommLog) -> None:
        pair = session(**config)
        clog = log.connection("fe80::3")
        for event in pair.secc_events:  # the connection's ConnectionClosed last
            clog.note(event, pair.now)
    return run


def _told(code: str) -> Callable[[CommLog], None]:
    """A machine that answered ``code`` and ended (PnC's codes: the EIM SECCs never send
    them; the PnC machines' own tests provoke them)."""
    def run(log: CommLog) -> None:
        clog = log.connection("fe80::4")
        for event in (RequestAnswered("AuthorizationReq", code, "AUTHORIZATION", 1.0),
                      SessionEnded(EndReason.FAILED, f"AuthorizationRes {code}", 1.0),
                      ConnectionClosed(CloseReason.FINISHED)):  # fmt: skip
            clog.note(event, 1.0)
    return run


IN_PROCESS: dict[reasons.StopReason, Callable[[CommLog], None]] = {
    reasons.SESSION_STOP: _pair(),
    reasons.PAUSED: _pair(pause=True),
    reasons.SETUP_TIMEOUT: _in_process(lambda c: c.timer(20.0)),
    reasons.SEQUENCE_TIMEOUT: _in_process(lambda c: (c.feed(SAP_ISO2), c.feed(SETUP, 1.0),
                                                     c.timer(61.0))),
    reasons.ONGOING_TIMEOUT: _in_process(_ongoing_past_limit, decision=Decision.ONGOING),
    reasons.SEQUENCE_ERROR: _in_process(lambda c: (c.feed(SAP_ISO2), c.feed(SETUP),
                                                   c.feed(CABLE_CHECK))),
    reasons.UNKNOWN_SESSION: _in_process(lambda c: (c.feed(SAP_ISO2), c.feed(SETUP),
                                                    c.feed(req(i.ServiceDiscoveryReq(
                                                        ServiceScope=None,
                                                        ServiceCategory=None), bytes(8))))),
    reasons.REFUSED: _in_process(lambda c: (c.feed(SAP_ISO2), c.feed(SETUP), c.feed(DISCOVERY),
                                            c.feed(selection(i.paymentOptionType.Contract)))),
    reasons.SIGNATURE: _told("FAILED_SignatureError"),
    reasons.CERTIFICATE: _told("FAILED_CertificateExpired"),
    reasons.CONNECTION_LOST: _in_process(lambda c: (c.feed(SAP_ISO2), c.feed(SETUP),
                                                    c.feed(b""))),
    reasons.BAD_V2GTP: _in_process(lambda c: (c.feed(SAP_ISO2), c.feed(SETUP),
                                              c.feed(b"\x02\xfd\x80\x01\0\0\0\1x"))),
    reasons.UNDECODABLE: _in_process(lambda c: (c.feed(SAP_ISO2), c.feed(SETUP),
                                                c.feed(frame(PayloadType.EXI, b"\x80\xff\xff")))),
    reasons.NO_NEGOTIATION: _in_process(lambda c: c.feed(frame(
        PayloadType.EXI, sap.push_request([(sap.ISO20, 1, 1)])))),
    reasons.SHUTDOWN: _in_process(lambda c: (c.feed(SAP_ISO2), c.feed(SETUP),
                                             c.conn.shutdown(2.0), c._pump(2.0))),
}


@pytest.mark.parametrize("reason", list(IN_PROCESS), ids=lambda r: r.name)
def test_reason_code_in_process(tmp_path: Path, reason: reasons.StopReason) -> None:
    log = CommLog(tmp_path / "comm.log", wall=lambda: 0.0)
    IN_PROCESS[reason](log)
    lines = read_lines(log)
    assert end_codes(lines) == [reason.hex], "\n".join(lines)
    assert lines[-1].endswith(lines[-1].split(" end ")[1])  # the end line is the last one


def test_refused_end_line_names_the_code(tmp_path: Path) -> None:
    log = CommLog(tmp_path / "comm.log", wall=lambda: 0.0)
    IN_PROCESS[reasons.REFUSED](log)
    (end,) = [line for line in read_lines(log) if " end " in line]
    assert "reason=0x0C REFUSED code=FAILED_PaymentSelectionInvalid" in end


# --- a whole session, line by line ---------------------------------------------------------


def test_dc_session_lines(tmp_path: Path) -> None:
    log = CommLog(tmp_path / "comm.log", wall=lambda: 1796096400.25)
    pair = session()
    clog = log.connection("fe80::3")
    for event in pair.secc_events:
        clog.note(event, pair.now)
    lines = read_lines(log)
    answered = [e for e in pair.secc_events if isinstance(e, RequestAnswered)]
    # the handshake, then one in and one out line per request, then the end line
    assert len(lines) == 2 + 2 * len(answered) + 1
    assert lines[0] == "2026-12-01T03:40:00.250Z c1 fe80::3 - in supportedAppProtocolReq"
    assert lines[1].startswith("2026-12-01T03:40:00.250Z c1 fe80::3 - out "
                               "supportedAppProtocolRes code=OK_SuccessfulNegotiation "
                               "protocol=iso2")  # fmt: skip
    sid = pair.evcc.session_id.hex()
    for n, event in enumerate(answered):
        got_in, got_out = lines[2 + 2 * n].split(" "), lines[3 + 2 * n].split(" ")
        assert got_in[3:6] == [sid, "in", event.request]
        assert got_out[3:6] == [sid, "out", event.request.replace("Req", "Res")]
        assert f"code={event.response_code}" in got_out
        assert got_out[-1].startswith("latency_ms=")
    demand = [line for line in lines if " in CurrentDemandReq " in line]
    assert demand and all("EVTargetVoltage=" in x and "EVRESSSOC=" in x for x in demand)
    assert re.search(r" out CurrentDemandRes code=OK .*EVSEPresentVoltage=[\d.]+",
                     "\n".join(lines))
    assert lines[-1].endswith(f"{sid} end SessionStop reason=0x00 SESSION_STOP "
                              f"messages={2 + 2 * len(answered)}")  # fmt: skip


def test_key_fields_of_a_request() -> None:
    body = i.CurrentDemandReq(
        DC_EVStatus=i.DC_EVStatus(EVReady=True, EVErrorCode=i.DC_EVErrorCodeType.NO_ERROR,
                                  EVRESSSOC=42),
        EVTargetCurrent=i.PhysicalValueType(Multiplier=-1, Unit=i.unitSymbolType.A, Value=1255),
        EVTargetVoltage=i.PhysicalValueType(Multiplier=0, Unit=i.unitSymbolType.V, Value=400),
        EVMaximumVoltageLimit=None, EVMaximumCurrentLimit=None, EVMaximumPowerLimit=None,
        BulkChargingComplete=None, ChargingComplete=False, RemainingTimeToFullSoC=None,
        RemainingTimeToBulkSoC=None)  # fmt: skip
    assert key_fields(body) == ("EVTargetVoltage=400 EVTargetCurrent=125.5 EVRESSSOC=42 "
                                "EVReady=True EVErrorCode=NO_ERROR")  # fmt: skip


def test_default_path_is_the_gateway_one_as_root_else_the_project() -> None:
    import os

    path = default_path()
    if os.geteuid() == 0:
        assert str(path) == "/var/log/v2g/communication.log"
    else:
        assert path.name == "communication.log" and "/var/log/v2g" not in str(path)


def test_lines_survive_a_rotation(tmp_path: Path) -> None:
    """logrotate moves the file away: the next lines go to a new file of the same name."""
    log = CommLog(tmp_path / "comm.log", wall=lambda: 0.0)
    log.write("one")
    log.close()  # drained: "one" is in the old file
    log = CommLog(tmp_path / "comm.log", wall=lambda: 0.0)
    log.write("two")
    log._listener.stop()  # type: ignore[union-attr]  # drain, keep the handler open
    (tmp_path / "comm.log").rename(tmp_path / "comm.log.1")
    log._listener.start()  # type: ignore[union-attr]
    log.write("three")
    assert read_lines(log) == ["three"]
    assert (tmp_path / "comm.log.1").read_text().splitlines() == ["one", "two"]


def test_close_writes_every_queued_line(tmp_path: Path) -> None:
    log = CommLog(tmp_path / "comm.log", wall=lambda: 0.0)
    for n in range(5000):
        log.write(f"line {n}")
    lines = read_lines(log)
    assert len(lines) == 5000 and lines[-1] == "line 4999"
    log.write("after close")  # dropped, not raised
    assert len(log.path.read_text().splitlines()) == 5000


# --- through SeccServer: TLS, shutdown, our own bug ------------------------------------------


class Exploding(EchoProtocol):
    def receive(self, payload_type: int, payload: bytes, now: float) -> None:
        raise LocalProtocolError("a handler left the table")


def _server(log: CommLog, pki: Pki | None = None, protocol: Any = EchoProtocol,
            **kw: Any) -> SeccServer:  # fmt: skip
    host = _loopback()
    ctx = tls.server_context(pki.v2g.chain_path, pki.v2g.leaf.key_path) if pki else None
    config = ServerConfig(host=host, port=_free_port(host), tls=ctx, offers=(sap.ISO2,), **kw)
    return SeccServer(config, {sap.ISO2.namespace: protocol}, commlog=log)


async def _until(check: Callable[[], bool]) -> None:
    """Progress, not time: yield to the loop until ``check()`` (bounded by the test timeout)."""
    for _ in range(2000):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("no progress")


def _through_server(pki: Pki, reason: reasons.StopReason, log: CommLog) -> SeccServer:
    protocol = Exploding if reason is reasons.INTERNAL else EchoProtocol
    timeout = {"setup_timeout": 0.2} if reason is reasons.TLS_TIMEOUT else {}
    server = _server(log, pki if reason in (reasons.TLS_TIMEOUT, reasons.TLS_FAILED) else None,
                     protocol, **timeout)  # fmt: skip

    async def main() -> None:
        await server.start()
        reader, writer = await asyncio.open_connection(server.config.host, server.config.port)
        if reason is reasons.TLS_FAILED:
            writer.write(b"GET / HTTP/1.0\r\n\r\n")  # no ClientHello
        elif reason in (reasons.SHUTDOWN, reasons.INTERNAL):
            writer.write(SAP_ISO2)
            await reader.readexactly(8)  # the SAP answer's header: a session is running
            if reason is reasons.INTERNAL:
                writer.write(frame(PayloadType.EXI, b"boom"))
        if reason is not reasons.SHUTDOWN:
            await _until(lambda: server.stats["accepted"] == 1 and not server._tasks - {
                t for t in server._tasks if t.get_coro().__name__ == "_accept_loop"})
        await server.close()
        writer.close()

    asyncio.run(main())
    return server


THROUGH_SERVER = (reasons.TLS_TIMEOUT, reasons.TLS_FAILED, reasons.SHUTDOWN, reasons.INTERNAL)


@pytest.mark.parametrize("reason", THROUGH_SERVER, ids=lambda r: r.name)
def test_reason_code_through_the_server(tmp_path: Path, pki: Pki,
                                        reason: reasons.StopReason) -> None:  # fmt: skip
    log = CommLog(tmp_path / "comm.log", wall=lambda: 0.0)
    server = _through_server(pki, reason, log)
    lines = read_lines(log)
    assert end_codes(lines) == [reason.hex], "\n".join(lines)
    assert not server.connections and not server._tasks


def test_every_reason_code_is_provoked() -> None:
    assert set(IN_PROCESS) | set(THROUGH_SERVER) == set(reasons.ALL)
    assert len({r.code for r in reasons.ALL}) == len(reasons.ALL)
    assert reasons.TLS_TIMEOUT.hex == "0x08"  # the code operators know


def test_the_log_needs_no_connection_object(tmp_path: Path) -> None:
    """A connection the server ends before any session (TLS) still gets one end line."""
    log = CommLog(tmp_path / "comm.log", wall=lambda: 0.0)
    clog: ConnectionLog = log.connection("fe80::9")
    clog.end(reasons.TLS_TIMEOUT, "20 s")
    clog.end(reasons.INTERNAL)  # the second end is ignored
    assert read_lines(log) == [
        '1970-01-01T00:00:00.000Z c1 fe80::9 - end SessionStop reason=0x08 TLS_TIMEOUT '
        'messages=0 detail="20 s"']


def test_no_socket_left(tmp_path: Path) -> None:
    """Sanity of the server fixture above: nothing listens after close."""
    log = CommLog(tmp_path / "comm.log")
    server = _server(log)

    async def main() -> None:
        await server.start()
        await server.close()

    asyncio.run(main())
    log.close()
    with socket.socket(socket.AF_INET6 if ":" in server.config.host else socket.AF_INET) as s:
        s.bind((server.config.host, server.config.port))  # free again


def test_the_readme_table_is_the_reasons_table() -> None:
    """host/secc/README.md documents the codes; the table must say what reasons.py says."""
    readme = (Path(__file__).resolve().parents[3] / "host" / "secc" / "README.md").read_text()
    rows = re.findall(r"^\| `(0x[0-9A-F]{2})` \| `(\w+)` \| (.+) \|$", readme, re.MULTILINE)
    assert rows == [(r.hex, r.name, r.text) for r in reasons.ALL]


def test_a_slow_tls_handshake_gets_its_403_line_and_the_session_goes_on(tmp_path: Path,
                                                                       pki: Pki) -> None:
    log = CommLog(tmp_path / "comm.log", wall=lambda: 0.0)
    server = _server(log, pki, slow_handshake=0.25)
    client = tls.client_context(pki.v2g.root.cert_path)
    # the client waits 0.3 s after the TCP connect: the handshake cannot be faster
    _run(server, lambda: _session(server, client, delay=0.3))
    lines = read_lines(log)
    assert re.fullmatch(r".* c1 \S+ - tls ISO-15118-403 handshake_ms=\d+ limit_ms=250", lines[0])
    assert lines[1].endswith(" in supportedAppProtocolReq")
    assert end_codes(lines) == ["0x00"]  # the echo machine finished: a normal end


def test_lines_queued_at_exit_are_written(tmp_path: Path) -> None:
    """A process that ends without closing its log (a station stopped by SIGTERM handler
    returning, say) still writes every queued line: close() runs at exit."""
    import subprocess
    import sys

    path = tmp_path / "comm.log"
    code = ("from host.v2g.commlog import CommLog\n"
            f"log = CommLog({str(path)!r})\n"
            "for n in range(3000):\n    log.write(f'line {n}')\n")  # fmt: skip
    root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)
    lines = path.read_text().splitlines()
    assert len(lines) == 3000 and lines[-1] == "line 2999"


class Faulty(EchoProtocol):
    """A machine whose handler has a bug other than LocalProtocolError (a KeyError, say)
    after the station was asked for power; ``lost`` records connection_lost."""

    lost: list[float] = []

    def receive(self, payload_type: int, payload: bytes, now: float) -> None:
        raise KeyError("a handler's bug")

    def connection_lost(self, now: float) -> None:
        Faulty.lost.append(now)
        self.finished = True
        self._events.append(("made safe", now))


def test_any_bug_in_a_handler_makes_the_station_safe_and_ends_internal(tmp_path: Path) -> None:
    """Not only LocalProtocolError: any exception out of a session's machine ends that
    session like a lost connection (its station made safe), with the INTERNAL end line, and
    the server goes on; before, the machine was never told and the task died with it."""
    Faulty.lost = []
    log = CommLog(tmp_path / "comm.log", wall=lambda: 0.0)
    server = _server(log, None, Faulty)
    seen: list[object] = []
    server.on_event = lambda _conn, event: seen.append(event)

    async def main() -> None:
        await server.start()
        reader, writer = await asyncio.open_connection(server.config.host, server.config.port)
        writer.write(SAP_ISO2)
        await reader.readexactly(8)
        writer.write(frame(PayloadType.EXI, b"boom"))
        await _until(lambda: server.stats["accepted"] == 1 and not server._tasks - {
            t for t in server._tasks if t.get_coro().__name__ == "_accept_loop"})
        await server.close()
        writer.close()

    asyncio.run(main())
    assert len(Faulty.lost) == 1
    assert any(isinstance(e, tuple) and e[0] == "made safe" for e in seen)
    assert end_codes(read_lines(log)) == [reasons.INTERNAL.hex]
    assert not server.connections and not server._tasks


def test_an_in_line_is_stamped_when_the_request_came_in(tmp_path: Path) -> None:
    """The time field of an ``in`` line is when the request's bytes were read, the ``out``
    line's when the answer was written (the module's example: in .140, out .141); both were
    stamped with the moment of writing, so every in line showed the answer's time."""
    log = CommLog(tmp_path / "comm.log", wall=lambda: 1796096400.25)
    c = Logged(log)
    c.feed(SAP_ISO2, 0.0)  # noted 2 ms later, as the answer is written
    c.feed(SETUP, 1.0)
    lines = read_lines(log)
    stamps = [(line.split(" ")[0], line.split(" ")[4]) for line in lines[:4]]
    came_in = _utc(1796096400.25 - 0.002)
    assert came_in.startswith("2026-12-01T03:40:00.24")
    assert stamps == [(came_in, "in"), ("2026-12-01T03:40:00.250Z", "out")] * 2
