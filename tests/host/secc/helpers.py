"""Pair and script helpers for the SECC tests, all on a fake clock.

``run_pair`` moves bytes between our EVCC and a V2gConnection hosting our SECC until both
are quiet, then jumps the clock to the earliest timer (h11 / aioquic style roundtrips).
``Script`` plays the EV by hand: one DIN request in, the decoded response out."""

from __future__ import annotations

from typing import Any

from host.bench.dcplant import DcPlant
from host.exi import codec
from host.exi.schemas import din as d
from host.secc.controller import SimEvseController
from host.secc.din import DinSecc, din_factory
from host.v2g.protocol import SessionContext
from host.v2g.sap import DIN
from host.v2g.session import V2gConnection


class Pair:
    def __init__(self, evcc: Any, controller: SimEvseController, now: float = 0.0) -> None:
        self.evcc = evcc
        self.controller = controller
        self.now = now
        self.conn = V2gConnection([DIN], {DIN.namespace: din_factory(lambda _c: controller)},
                                  now)
        self.secc_events: list[object] = []
        self.ev_events: list[object] = []
        evcc.start(now)

    def run(self, until: float = 10_000.0, stop_at: Any = None) -> None:
        """Until the EVCC is done, the connection closes, ``stop_at(self)`` is true, or the
        clock passes ``until``."""
        while True:
            self.flush()
            if self.evcc.done or self.conn.closed or (stop_at and stop_at(self)):
                return
            timers = [t for t in (self.evcc.get_timer(), self.conn.get_timer()) if t is not None]
            if not timers or min(timers) > until:
                return
            self.now = max(self.now, min(timers))
            self.evcc.handle_timer(self.now)
            self.conn.handle_timer(self.now)

    def flush(self) -> None:
        moved = True
        while moved:
            moved = False
            for data in self.evcc.data_to_send():
                self.conn.receive(data, self.now)
                moved = True
            for data in self.conn.data_to_send():
                self.evcc.receive(data, self.now)
                moved = True
            while (event := self.conn.next_event()) is not None:
                self.secc_events.append(event)
            while (event := self.evcc.next_event()) is not None:
                self.ev_events.append(event)


def context(connected_at: float = 0.0) -> SessionContext:
    return SessionContext(DIN, 1, False, "fe80::2", connected_at, connected_at)


def make_secc(plant: DcPlant | None = None, **controller_kw: Any,
              ) -> tuple[DinSecc, SimEvseController]:  # fmt: skip
    controller = SimEvseController(plant or DcPlant(isolation_time=1.0), **controller_kw)
    secc = DinSecc(context(), controller, new_session_id=lambda: bytes.fromhex("0102030405060708"))
    return secc, controller


class Script:
    """The EV by hand: ``send(body, now)`` returns the decoded response body or None."""

    def __init__(self, secc: DinSecc) -> None:
        self.secc = secc
        self.session_id = bytes(8)
        self.events: list[object] = []

    def send(self, body: Any, now: float, session_id: bytes | None = None) -> Any:
        sid = self.session_id if session_id is None else session_id
        message = d.V2G_Message(Header=d.MessageHeaderType(SessionID=sid),
                                Body=d.BodyType(BodyElement=body))
        self.secc.receive(0x8001, codec.encode(message, d.NAMESPACE), now)
        while (event := self.secc.next_event()) is not None:
            self.events.append(event)
        out = self.secc.data_to_send()
        if not out:
            return None
        assert len(out) == 1
        response = codec.decode(d.NAMESPACE, out[0][1])
        if isinstance(response.Body.BodyElement, d.SessionSetupRes):
            self.session_id = response.Header.SessionID
        return response.Body.BodyElement
