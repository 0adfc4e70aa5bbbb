"""The session core on a toy protocol (no EXI): what every protocol machine inherits —
sequence table as data, SessionID before sequence, FAILED ends the session, the setup and
sequence timers, a protocol's own timers, and refusing a handler that leaves the table."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from enum import Enum, auto

import pytest

from host.secc.core import EndReason, Reply, SessionCore, SessionEnded, Step
from host.v2g.errors import LocalProtocolError, RemoteProtocolError
from host.v2g.protocol import SessionContext
from host.v2g.sap import ISO2


@dataclass
class Setup:
    pass


@dataclass
class Work:
    fail: bool = False
    wander: bool = False


@dataclass
class Stop:
    pass


@dataclass
class Other:  # a request of the protocol that this machine never expects
    pass


@dataclass
class Res:
    name: str
    ResponseCode: str


class St(Enum):
    SETUP = auto()
    WORK = auto()
    DONE = auto()


class Toy(SessionCore):
    TABLE = {(St.SETUP, Setup): Step("setup", frozenset({St.WORK})),
             (St.WORK, Work): Step("work", frozenset({St.WORK})),
             (St.WORK, Stop): Step("stop", frozenset({St.DONE}))}  # fmt: skip
    INITIAL = St.SETUP
    FINAL = St.DONE
    SETUP_REQUEST = Setup
    REQUEST_TYPES = (Setup, Work, Stop, Other)
    SEQUENCE_TIMEOUT = 60.0
    SETUP_TIMEOUT = 20.0

    ended: list[EndReason]

    def decode(self, payload: bytes):
        if payload == b"junk":
            raise RemoteProtocolError("junk", "bad")
        return pickle.loads(payload)

    def encode(self, session_id: bytes, response: Res) -> bytes:
        return pickle.dumps((session_id, response))

    def failure(self, request, code_name: str, now: float) -> Res:
        return Res(type(request).__name__, code_name)

    def on_end(self, reason: EndReason, now: float) -> None:
        self.ended = [*getattr(self, "ended", []), reason]

    def setup(self, req: Setup, now: float) -> Reply:
        self.start_session(req, now)
        self.timers["work_deadline"] = now + 5.0  # a protocol's own timer
        return Reply(Res("Setup", "OK"), St.WORK)

    def work(self, req: Work, now: float) -> Reply:
        if req.wander:
            return Reply(Res("Work", "OK"), St.DONE)
        return Reply(Res("Work", "FAILED_Something" if req.fail else "OK"), St.WORK)

    def stop(self, req: Stop, now: float) -> Reply:
        return Reply(Res("Stop", "OK"), St.DONE)


SID = b"\x07" * 8


def _toy(connected_at: float = 0.0) -> Toy:
    return Toy(SessionContext(ISO2, 1, False, "", connected_at, connected_at + 1),
               new_session_id=lambda: SID)


def _send(toy: Toy, request, now: float, sid: bytes = SID):
    toy.receive(0x8001, pickle.dumps((sid, request)), now)
    out = toy.data_to_send()
    return [(t, pickle.loads(p)) for t, p in out]


def test_a_session_through_the_table():
    toy = _toy()
    assert _send(toy, Setup(), 1.0, sid=bytes(8)) == [(0x8001, (SID, Res("Setup", "OK")))]
    assert _send(toy, Work(), 2.0)[0][1][1].ResponseCode == "OK"
    assert _send(toy, Stop(), 3.0)[0][1][1].name == "Stop"
    assert toy.finished and toy.end == SessionEnded(EndReason.STOPPED, "", 3.0)
    assert toy.ended == [EndReason.STOPPED]  # on_end exactly once
    assert toy.get_timer() is None


def test_unknown_session_is_judged_before_the_sequence():
    toy = _toy()
    _send(toy, Setup(), 1.0)
    # a Setup again, and with a foreign id: out of sequence rather than unknown
    ((_, (_, res)),) = _send(toy, Setup(), 2.0, sid=b"\x01" * 8)
    assert res.ResponseCode == "FAILED_SequenceError"
    toy = _toy()
    _send(toy, Setup(), 1.0)
    # out of sequence and from a foreign session: the session is what is wrong
    ((_, (_, res)),) = _send(toy, Other(), 2.0, sid=b"\x01" * 8)
    assert res.ResponseCode == "FAILED_UnknownSession"
    assert toy.end.reason is EndReason.UNKNOWN_SESSION
    toy = _toy()
    _send(toy, Setup(), 1.0)
    ((_, (_, res)),) = _send(toy, Other(), 2.0)
    assert res.ResponseCode == "FAILED_SequenceError"


def test_any_failed_code_ends_the_session_after_the_answer():
    toy = _toy()
    _send(toy, Setup(), 1.0)
    ((_, (_, res)),) = _send(toy, Work(fail=True), 2.0)
    assert res.ResponseCode == "FAILED_Something"
    assert toy.end.reason is EndReason.FAILED
    assert _send(toy, Work(), 3.0) == []


def test_a_handler_that_leaves_the_table_is_our_bug():
    toy = _toy()
    _send(toy, Setup(), 1.0)
    with pytest.raises(LocalProtocolError):
        _send(toy, Work(wander=True), 2.0)
    assert toy.finished and toy.ended == [EndReason.FAILED]  # the station was made safe


def test_setup_deadline_continues_from_the_tcp_accept():
    toy = _toy(connected_at=100.0)
    assert toy.get_timer() == 120.0
    toy.handle_timer(119.99)
    assert not toy.finished
    toy.handle_timer(120.0)
    assert toy.end.reason is EndReason.SETUP_TIMEOUT


def test_protocol_timer_and_sequence_timer_each_end_the_session():
    toy = _toy()
    _send(toy, Setup(), 1.0)
    assert toy.get_timer() == 6.0  # the protocol's own timer comes before the sequence one
    toy.handle_timer(6.0)
    assert toy.end == SessionEnded(EndReason.ONGOING_TIMEOUT, "work_deadline", 6.0)
    toy = _toy()
    _send(toy, Setup(), 1.0)
    del toy.timers["work_deadline"]
    _send(toy, Work(), 2.0)
    toy.handle_timer(61.99)
    assert not toy.finished
    toy.handle_timer(62.0)
    assert toy.end.reason is EndReason.SEQUENCE_TIMEOUT


def test_undecodable_and_non_requests_end_without_an_answer():
    toy = _toy()
    toy.receive(0x8001, b"junk", 1.0)
    assert toy.end.reason is EndReason.UNDECODABLE and toy.data_to_send() == []
    toy = _toy()
    toy.receive(0x8001, pickle.dumps((SID, Res("x", "OK"))), 1.0)
    assert toy.end.reason is EndReason.UNDECODABLE and toy.data_to_send() == []


def test_connection_lost_ends_once():
    toy = _toy()
    _send(toy, Setup(), 1.0)
    toy.connection_lost(2.0)
    toy.connection_lost(3.0)
    assert toy.ended == [EndReason.CONNECTION_LOST]
