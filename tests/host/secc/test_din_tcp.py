"""The DIN SECC behind SeccServer on loopback, played by a raw client: a FAILED answer is
on the wire before the server closes, and an EV hanging up mid-session makes the station
safe. (The whole session over TCP with our EVCC: tests/host/ev/test_evcc_din.py.)"""

from __future__ import annotations

import asyncio

from host.bench.dcplant import DcPlant
from host.exi import codec
from host.exi.schemas import din as d
from host.secc.controller import SimEvseController
from host.secc.core import EndReason, SessionEnded
from host.secc.din import din_factory
from host.v2g import sap
from host.v2g.server import SeccServer, ServerConfig
from host.v2g.v2gtp import PayloadType, frame
from tests.host.v2g.test_server import _free_port, _loopback, _read_message


def _frame(body, sid: bytes = bytes(8)) -> bytes:
    message = d.V2G_Message(Header=d.MessageHeaderType(SessionID=sid),
                            Body=d.BodyType(BodyElement=body))
    return frame(PayloadType.EXI, codec.encode(message, d.NAMESPACE))


def _serve(client) -> tuple[list[object], SimEvseController, object]:
    host = _loopback()
    controller = SimEvseController(DcPlant())
    events: list[object] = []
    server = SeccServer(ServerConfig(host=host, port=_free_port(host), offers=(sap.DIN,)),
                        {sap.DIN.namespace: din_factory(lambda _c: controller)},
                        on_event=lambda _conn, e: events.append(e))  # fmt: skip

    async def main():
        await server.start()
        try:
            reader, writer = await asyncio.open_connection(host, server.config.port)
            writer.write(frame(PayloadType.EXI, sap.push_request([(sap.DIN, 1, 1)])))
            await _read_message(reader)
            result = await asyncio.wait_for(client(reader, writer), 30)
            for _ in range(200):  # the server notes the close after its last write
                if not server.connections:
                    break
                await asyncio.sleep(0.01)
            return result
        finally:
            await server.close()

    return events, controller, asyncio.run(main())


def test_out_of_sequence_answer_arrives_before_the_close():
    async def client(reader, writer):
        writer.write(_frame(d.SessionSetupReq(EVCCID=b"\x02\0\0\0\0\1")))
        sid = codec.decode(d.NAMESPACE, (await _read_message(reader))[1]).Header.SessionID
        writer.write(_frame(d.CableCheckReq(DC_EVStatus=d.DC_EVStatus(
            EVReady=True, EVErrorCode=d.DC_EVErrorCodeType.NO_ERROR, EVRESSSOC=30)), sid))
        _type, payload = await _read_message(reader)
        tail = await reader.read()
        writer.close()
        return codec.decode(d.NAMESPACE, payload).Body.BodyElement, tail

    events, controller, (res, tail) = _serve(client)
    assert isinstance(res, d.CableCheckRes)
    assert res.ResponseCode is d.responseCodeType.FAILED_SequenceError
    assert tail == b""  # then the server closed
    assert [e.reason for e in events if isinstance(e, SessionEnded)] == [
        EndReason.SEQUENCE_ERROR]
    assert controller.ended == EndReason.SEQUENCE_ERROR.value


def test_ev_hanging_up_ends_the_session_as_connection_lost():
    async def client(reader, writer):
        writer.write(_frame(d.SessionSetupReq(EVCCID=b"\x02\0\0\0\0\1")))
        await _read_message(reader)
        writer.close()
        await writer.wait_closed()

    events, controller, _ = _serve(client)
    assert [e.reason for e in events if isinstance(e, SessionEnded)] == [
        EndReason.CONNECTION_LOST]
    assert controller.ended == EndReason.CONNECTION_LOST.value
