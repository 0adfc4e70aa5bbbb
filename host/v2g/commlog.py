"""The communication log: one line per V2G message in and out, and one ``end`` line per
connection with the reason code of host.v2g.reasons.

    2026-12-01T03:50:00.123Z c17 fe80::2 - in supportedAppProtocolReq
    2026-12-01T03:50:00.124Z c17 fe80::2 - out supportedAppProtocolRes code=OK_Succe... latency_ms=0.9
    2026-12-01T03:50:00.140Z c17 fe80::2 3f0c2a1b9e8d7c6b in CurrentDemandReq EVTargetVoltage=400 ...
    2026-12-01T03:50:00.141Z c17 fe80::2 3f0c2a1b9e8d7c6b out CurrentDemandRes code=OK ... latency_ms=1.2
    2026-12-01T03:50:09.000Z c17 fe80::2 3f0c2a1b9e8d7c6b end SessionStop reason=0x00 SESSION_STOP ...

Fields: UTC wall time, connection number, the EV's address, the SessionID ("-" before
SessionSetupRes), direction, message name, key fields, and for ``out`` the latency from the
request's bytes read to the response's bytes written. The session driver hands its events
to a ``ConnectionLog`` (``CommLog.connection``); that is all a protocol needs to be logged.

Writing never blocks the event loop: lines go to a queue that a thread writes to a
``WatchedFileHandler`` (logrotate may move the file: it is reopened). ``close()`` (also run
at exit) writes every queued line before it returns.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import queue
import time
from enum import Enum
from logging.handlers import QueueListener, WatchedFileHandler
from pathlib import Path
from typing import Any

from host.secc.core import RequestAnswered, SessionEnded, SessionStarted

from . import reasons
from .reasons import StopReason
from .session import ConnectionClosed, ProtocolNegotiated

GATEWAY_PATH = Path("/var/log/v2g/communication.log")
PROJECT_PATH = Path(__file__).resolve().parents[2] / "var" / "log" / "communication.log"

# fields worth a line, looked for in the body and in the status / meter parts below
KEY_FIELDS = ("EVCCID", "EVSEID", "SelectedPaymentOption", "ServiceID",
              "RequestedEnergyTransferMode", "EVRequestedEnergyTransferType",
              "EVSEProcessing", "ChargeProgress", "ReadyToChargeState", "SAScheduleTupleID",
              "ChargingSession", "EVTargetVoltage", "EVTargetCurrent", "EVSEPresentVoltage",
              "EVSEPresentCurrent", "EVRESSSOC", "EVReady", "EVErrorCode",
              "EVSEIsolationStatus", "EVSEStatusCode", "EVSENotification",
              "MeterReading",
              # -20 (RationalNumbers, the SoC in DisplayParameters, the -20 meter)
              "EVPresentVoltage", "PresentSOC", "EVSETargetActivePower",
              "ChargedEnergyReadingWh", "BPT_DischargedEnergyReadingWh")  # fmt: skip
PARTS = ("DC_EVStatus", "DC_EVSEStatus", "AC_EVSEStatus", "EVSEStatus", "MeterInfo",
         "DisplayParameters", "CLReqControlMode", "CLResControlMode")


def default_path() -> Path:
    """/var/log/v2g/communication.log on a gateway (root), else the project's var/log."""
    return GATEWAY_PATH if os.geteuid() == 0 else PROJECT_PATH


def _value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "Multiplier") and hasattr(value, "Value"):  # PhysicalValueType
        return f"{value.Value * 10.0 ** value.Multiplier:g}"
    if hasattr(value, "Exponent") and hasattr(value, "Value"):  # -20 RationalNumberType
        return f"{value.Value * 10.0 ** value.Exponent:g}"
    if isinstance(value, bool | int | float | str):
        return str(value)
    return None  # a structure: not a key field


def key_fields(body: Any) -> str:
    """``name=value`` for the key fields of a decoded message body."""
    found = []
    for obj in (body, *(getattr(body, part, None) for part in PARTS)):
        if obj is None:
            continue
        for name in KEY_FIELDS:
            shown = _value(getattr(obj, name, None))
            if shown is not None:
                found.append(f"{name}={shown}")
    return " ".join(found)


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class CommLog:
    """The log file and its writer thread; ``connection(peer)`` for each connection."""

    def __init__(self, path: Path | str | None = None, *,
                 wall: Any = time.time) -> None:  # fmt: skip
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.wall = wall
        self._numbers = itertools.count(1)
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._handler = WatchedFileHandler(self.path, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._listener: QueueListener | None = QueueListener(self._queue, self._handler)
        self._listener.start()
        atexit.register(self.close)

    def write(self, line: str) -> None:
        """Queue one line (never blocks); dropped only after ``close()``."""
        if self._listener is not None:
            self._queue.put(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))

    def close(self) -> None:
        """Write what is queued, then close the file."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()  # drains the queue first
            self._handler.close()
            atexit.unregister(self.close)

    def connection(self, peer: str) -> ConnectionLog:
        return ConnectionLog(self, f"c{next(self._numbers)}", peer)


class ConnectionLog:
    """What one connection said: ``received(now)`` when bytes came in, ``note(event, now)``
    for each event of the connection once its answer is written, ``end(reason)`` when the
    server closes it before a session existed (TLS)."""

    def __init__(self, log: CommLog, number: str, peer: str) -> None:
        self.log = log
        self.prefix = f"{number} {peer or '-'}"
        self.session_id = "-"
        self.received_at: float | None = None
        self.messages = 0
        self.last_code = ""
        self.paused = False
        self.session_end: SessionEnded | None = None
        self.stop: StopReason | None = None  # set once the end line is written

    def _line(self, direction: str, text: str, ago: float = 0.0) -> None:
        """``ago``: how long before now it happened (an ``in`` line: the request's read)."""
        self.log.write(f"{_utc(self.log.wall() - ago)} {self.prefix} {self.session_id} "
                       f"{direction} {text}".rstrip())  # fmt: skip

    def _latency(self, at: float | None, now: float) -> str:
        return "" if at is None else f" latency_ms={(now - at) * 1000:.1f}"

    def received(self, now: float) -> None:
        self.received_at = now

    def note(self, event: object, now: float) -> None:
        if self.stop is not None:
            return
        if isinstance(event, SessionStarted):
            self.session_id = event.session_id.hex()
        elif isinstance(event, ProtocolNegotiated):
            n = event.negotiation
            chosen = f" protocol={n.chosen.name}" if n.chosen is not None else ""
            self.messages += 2
            self._line("in", "supportedAppProtocolReq",
                       0.0 if self.received_at is None else now - self.received_at)
            self._line("out", f"supportedAppProtocolRes code={n.code.value}{chosen}"
                       f"{self._latency(self.received_at, now)}")  # fmt: skip
        elif isinstance(event, RequestAnswered):
            self.messages += 2
            self.last_code = event.response_code
            session = getattr(event.request_body, "ChargingSession", None)
            self.paused = isinstance(session, Enum) and session.value == "Pause"
            response = type(event.response_body).__name__
            self._line("in", f"{event.request} {key_fields(event.request_body)}", now - event.at)
            self._line("out", f"{response} code={event.response_code} "
                       f"{key_fields(event.response_body)}{self._latency(event.at, now)}"
                       .replace("  ", " "))  # fmt: skip
        elif isinstance(event, SessionEnded):
            self.session_end = event
        elif isinstance(event, ConnectionClosed):
            end = self.session_end
            reason = reasons.classify(event.reason, None if end is None else end.reason,
                                      self.last_code, self.paused)  # fmt: skip
            detail = end.detail if end is not None and end.detail else event.detail
            self.end(reason, detail)

    def line(self, kind: str, text: str) -> None:
        """A line of its own about the connection (``tls`` for a slow handshake, say)."""
        if self.stop is None:
            self._line(kind, text)

    def end(self, reason: StopReason, detail: str = "") -> None:
        """The end line (once): the reason code, its name, what was said and how many
        messages went in and out."""
        if self.stop is not None:
            return
        self.stop = reason
        said = f' detail="{detail}"' if detail else ""
        code = f" code={self.last_code}" if self.last_code.startswith("FAILED") else ""
        self._line("end", f"SessionStop reason={reason.hex} {reason.name}{code}"
                   f" messages={self.messages}{said}")  # fmt: skip

