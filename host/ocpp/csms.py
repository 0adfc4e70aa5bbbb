"""A small CSMS on the `ocpp` package, run as its own process for tests and simulation:

    python -m host.ocpp.csms --port P [--log FILE] [--heartbeat-interval S] [--versions LIST]
                             [--boot-status Accepted|Pending|Rejected] [--password PW]
                             [--cert PEM --key PEM [--client-ca PEM]] [--send FILE]

It writes every frame it receives to ``--log`` (one JSON line, fsynced) before answering,
so a test can kill it at any moment and still know what it acknowledged. It prints
``listening on PORT`` once it accepts connections.

The `ocpp` package answers an action without a handler with the codes swapped on 2.0.1
(NotImplemented for a known action) and not at all on 2.1; this CSMS answers those itself,
as OCPP-J Part 4 §4.3 says: NotImplemented for an unknown action, NotSupported for a known one.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import ssl
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, unpack
from ocpp.routing import after, on
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v201 import ChargePoint as ChargePoint201
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from . import rpc


class Recorder:
    """Append-only log of received frames, each fsynced before the frame is answered."""

    def __init__(self, path: str | None) -> None:
        self.file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def write(self, station: str, frame: str | bytes) -> None:
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        self._line({"t": time.time(), "station": station, "frame": text})

    def connected(self, station: str, offered: str | None, chosen: str | None) -> None:
        self._line({"t": time.time(), "station": station, "offered": offered, "chosen": chosen})

    def _line(self, record: dict) -> None:
        if self.file is None:
            return
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Handlers:
    """Answers for what a station sends; shared by the 2.0.1 and 2.1 classes."""

    options: argparse.Namespace
    recorder: Recorder
    _call_result: Any
    _ocpp_version: str
    route_map: dict
    id: str

    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        return self._call_result.BootNotification(
            current_time=_now(), interval=self.options.heartbeat_interval,
            status=self.options.boot_status)  # fmt: skip

    @after("BootNotification")
    async def after_boot(self, **_: Any) -> None:
        # scripted mode: raw frames sent as they are, hostile ones included
        for frame in self.options.script:
            await self._send(frame)  # type: ignore[attr-defined]

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> Any:
        return self._call_result.Heartbeat(current_time=_now())

    @on("TransactionEvent")
    def on_transaction_event(self, **_: Any) -> Any:
        return self._call_result.TransactionEvent()

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return self._call_result.StatusNotification()

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> Any:
        return self._call_result.MeterValues()

    @on("Authorize")
    def on_authorize(self, **_: Any) -> Any:
        return self._call_result.Authorize(id_token_info={"status": "Accepted"})

    @on("NotifyReport")
    def on_notify_report(self, **_: Any) -> Any:
        return self._call_result.NotifyReport()

    @on("NotifyEvent")
    def on_notify_event(self, **_: Any) -> Any:
        return self._call_result.NotifyEvent()

    @on("SecurityEventNotification")
    def on_security_event(self, **_: Any) -> Any:
        return self._call_result.SecurityEventNotification()

    async def route_message(self, raw_msg: str | bytes) -> None:
        self.recorder.write(self.id, raw_msg)
        try:
            msg = unpack(raw_msg)
        except OCPPError:  # the package answers (or drops) what it cannot unpack
            msg = None
        if isinstance(msg, Call) and msg.action not in self.route_map:
            known = msg.action in rpc.known_actions(self._ocpp_version)
            code = "NotSupported" if known else "NotImplemented"
            await self._send(rpc.push_error(msg.unique_id, code, f"{msg.action} not handled"))  # type: ignore[attr-defined]
            return
        await super().route_message(raw_msg)  # type: ignore[misc]


class Csms201(Handlers, ChargePoint201):
    pass


class Csms21(Handlers, ChargePoint21):
    pass


def check_basic_auth(password: str | None):
    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if password is None:
            return None
        station = request.path.rstrip("/").rsplit("/", 1)[-1]
        expected = "Basic " + base64.b64encode(f"{station}:{password}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "wrong station or password\n")
        return None

    return process_request


async def serve_csms(options: argparse.Namespace) -> None:
    recorder = Recorder(options.log)

    async def handler(ws: ServerConnection) -> None:
        station = ws.request.path.rstrip("/").rsplit("/", 1)[-1] if ws.request else "?"
        offered = ws.request.headers.get("Sec-WebSocket-Protocol") if ws.request else None
        recorder.connected(station, offered, ws.subprotocol)
        if ws.subprotocol not in rpc.SUBPROTOCOLS:
            await ws.close()  # Part 4 §3.3: no agreed version, close
            return
        cls = Csms21 if ws.subprotocol == "ocpp2.1" else Csms201
        cp = cls(station, ws)
        cp.options = options
        cp.recorder = recorder
        try:
            await cp.start()
        except ConnectionClosed:
            pass

    ctx = None
    if options.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(options.cert, options.key)
        if options.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(options.client_ca)
        if options.tls12:  # the client certificate is then checked inside the handshake
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    versions = options.versions.split(",")

    def select(connection: ServerConnection, offered: Sequence[str]) -> str | None:
        # Part 4 §3.3: without a common version, complete the handshake with no
        # Sec-WebSocket-Protocol and close (websockets would answer HTTP 400)
        return next((v for v in versions if v in offered), None)

    async with serve(handler, options.host, options.port, ssl=ctx,
                     subprotocols=versions,  # type: ignore[arg-type]
                     select_subprotocol=select,  # type: ignore[arg-type]
                     process_request=check_basic_auth(options.password),
                     max_size=options.max_size) as server:  # fmt: skip
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening on {port}", flush=True)
        await server.serve_forever()


class UsageError(Exception):
    """Options that cannot work together, or a script that cannot be read."""


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


_port.__name__ = "port"  # argparse names the type in its message: "invalid port value"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=9000, help="0: any free port (printed)")
    p.add_argument("--log", help="append every received frame here, fsynced")
    p.add_argument("--heartbeat-interval", type=int, default=300)
    p.add_argument("--boot-status", default="Accepted", choices=["Accepted", "Pending", "Rejected"])
    p.add_argument("--password", help="require HTTP Basic auth with this password")
    p.add_argument("--cert", help="serve wss with this certificate chain (PEM)")
    p.add_argument("--key", help="the certificate's private key (PEM)")
    p.add_argument("--client-ca", help="require client certificates issued by this CA")
    p.add_argument("--tls12", action="store_true", help="offer TLS 1.2 at most (default: 1.3)")
    p.add_argument("--max-size", type=int, default=1 << 20)
    p.add_argument("--versions", default=",".join(rpc.SUBPROTOCOLS),
                   help="subprotocols to accept, in order of preference")  # fmt: skip
    p.add_argument("--send", metavar="FILE",
                   help="scripted mode: after each BootNotification, send FILE's lines as frames")  # fmt: skip


def prepare(options: argparse.Namespace) -> None:
    """Check what argparse cannot and read the script; UsageError says what to fix.
    A file that cannot be opened raises OSError (the CLI names the file)."""
    if bool(options.cert) != bool(options.key):
        raise UsageError("--cert and --key go together")
    if options.client_ca and not options.cert:
        raise UsageError("--client-ca needs --cert and --key (client certificates need wss)")
    # any ocppX.Y may be offered (a test refuses ocpp1.6 stations that way)
    bad = [v for v in options.versions.split(",") if not v.startswith("ocpp")]
    if bad:
        raise UsageError(f"--versions: {','.join(bad)} is not an OCPP subprotocol (e.g. ocpp2.0.1)")
    if options.heartbeat_interval < 0:
        raise UsageError("--heartbeat-interval must be 0 or more seconds")
    options.script = []
    if options.send:
        with open(options.send, encoding="utf-8") as f:
            options.script = [line.rstrip("\n") for line in f if line.strip()]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m host.ocpp.csms", description=__doc__.split("\n")[0])
    add_arguments(p)
    options = p.parse_args(argv)
    try:
        prepare(options)
    except UsageError as e:
        p.error(str(e))
    try:
        asyncio.run(serve_csms(options))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
