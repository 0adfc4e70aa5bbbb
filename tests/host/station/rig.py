"""The station policy on the link's test Pair (our LinkClient against our LinkServer
+ Controller on a FakeHal, in one process with fake time); the line between them
can be cut in either direction."""

from __future__ import annotations

from typing import Any

from firmware.app.controller import Controller
from firmware.app.linkserver import LinkServer
from firmware.link import messages as m
from host.station.policy import Settings, Station
from tests.firmware.vmcheck import FakeHal, board
from tests.host.link.test_protocol import Pair

CP_MV = {m.CP_A: 12000, m.CP_B: 9000, m.CP_C: 6000, m.CP_D: 3000}
CUT = 10**9  # frames to lose: all of them


class Rig(Pair):
    def __init__(self, settings: Settings | None = None, hal: FakeHal | None = None) -> None:
        super().__init__()
        if hal is not None:
            self.hal = hal
            self.boot()
        self.station = Station(settings or Settings())
        self.records: list[dict[str, Any]] = []
        self.commands: list[m.Message] = []  # what the station sent

    def boot(self) -> None:
        """(Re)start the firmware: a fresh controller and link server (a reset
        releases the contactor's coil)."""
        if self.hal.coil:
            self.hal.set_contactor(False)
        self.ctrl = Controller(self.hal, board(), self.ms())
        self.fw = LinkServer(self.ctrl, b"rig", 1, self.ms())
        self.fw.on_applied = self.applied.append

    def cut(self, to_fw: bool = True, to_host: bool = True) -> None:
        self.drop_to_fw = CUT if to_fw else 0
        self.drop_to_host = CUT if to_host else 0

    def mend(self) -> None:
        self.cut(False, False)

    def connect(self) -> None:
        self.host.connect(self.t)
        self.pump()

    def pump(self) -> None:
        """The Pair's exchange, with the station reading the events and sending."""
        for _ in range(20):
            sent = 0
            for command in self.station.commands_to_send():
                self.host.send(command, self.t)  # as LinkDriver.send: queued while down
                self.commands.append(command)
                sent += 1
            seen = len(self.events)
            super().pump()
            for e in self.events[seen:]:
                self.station.handle_event(e, self.t)
            timer = self.station.get_timer()
            if timer is not None and timer <= self.t:
                self.station.handle_timer(self.t)
            while (r := self.station.next_record()) is not None:
                self.records.append({"t": self.t, **r})
            if len(self.events) == seen and not sent:
                return

    def cp(self, state: int) -> None:
        self.hal.set_cp(CP_MV[state])

    def rec(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["event"] == event]

    def since(self, t: float, event: str) -> list[dict[str, Any]]:
        return [r for r in self.rec(event) if r["t"] >= t]


def charging(settings: Settings | None = None) -> Rig:
    """A rig whose EV is charging: link up, B offered, C with a lease, contactor closed."""
    rig = Rig(settings)
    rig.connect()
    rig.advance(0.2)
    rig.cp(m.CP_B)
    rig.advance(0.3)
    rig.cp(m.CP_C)
    rig.advance(0.5)
    assert rig.ctrl.contactor == 1 and rig.ctrl.lease_allow == 1, rig.records
    return rig
