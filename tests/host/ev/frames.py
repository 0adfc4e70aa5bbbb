"""What the EVCC unit tests play as the SECC (V2GTP frames built by hand, for DIN or -2), and
the loopback run of our EVCCs against a SeccServer."""

from __future__ import annotations

import asyncio
from typing import Any

from host.ev.evcc.driver import run_connection
from host.exi import codec
from host.v2g import sap
from host.v2g.v2gtp import PayloadType, V2gtpReader, frame


def sap_ok(protocol: sap.AppProtocol) -> bytes:
    negotiation = sap.Negotiation(sap.Code.OK_SuccessfulNegotiation, 1, protocol, None)
    return frame(PayloadType.EXI, sap.push_response(negotiation))


def res_frame(schema: Any, body: Any, sid: bytes) -> bytes:
    message = schema.V2G_Message(Header=schema.MessageHeaderType(SessionID=sid),
                                 Body=schema.BodyType(BodyElement=body))
    return frame(PayloadType.EXI, codec.encode(message, schema.NAMESPACE))


def sent_payloads(ev: Any) -> list[Any]:
    """The EXI payloads of the frames ``ev`` has to send."""
    reader = V2gtpReader()
    for data in ev.data_to_send():
        reader.feed(data)
    out = []
    while (m := reader.maybe_read_message()) is not None:
        out.append(m.payload)
    return out


async def run_through(server: Any, evccs: list[Any], host: str, port: int,
                      on_event: Any = None) -> None:  # fmt: skip
    """Starts ``server``, runs each EVCC's connection to its end in turn, and closes it."""
    await server.start()
    try:
        for ev in evccs:
            await asyncio.wait_for(run_connection(ev, host, port, on_event=on_event), 30.0)
            for _ in range(100):  # the server notes the close after our last read
                if not server.connections:
                    break
                await asyncio.sleep(0.01)
    finally:
        await server.close()
