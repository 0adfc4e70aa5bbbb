"""The station policy on our link client, against our firmware (LinkServer +
Controller on a FakeHal), all in one process with fake time; the line between them
can be cut in either direction."""

from __future__ import annotations

from typing import Any

from firmware.app.controller import Controller
from firmware.app.linkserver import LinkServer
from firmware.link import messages as m
from host.link import events as ev
from host.link.protocol import LinkClient
from host.station.policy import Settings, Station
from tests.firmware.vmcheck import FakeHal, board

CP_MV = {m.CP_A: 12000, m.CP_B: 9000, m.CP_C: 6000, m.CP_D: 3000}
REHELLO_S = 0.5  # as LinkDriver's reopen_s


class Rig:
    def __init__(self, settings: Settings | None = None, hal: FakeHal | None = None) -> None:
        self.t = 0.0
        self.hal = hal or FakeHal()
        self.boot()
        self.client = LinkClient()
        self.station = Station(settings or Settings())
        self.records: list[dict[str, Any]] = []
        self.sent: list[m.Message] = []
        self.cut_to_fw = False
        self.cut_to_host = False
        self._rehello_at = REHELLO_S

    def boot(self) -> None:
        """(Re)start the firmware: a fresh controller and link server (a reset
        releases the contactor's coil)."""
        if self.hal.coil:
            self.hal.set_contactor(False)
        self.ctrl = Controller(self.hal, board(), self.ms())
        self.fw = LinkServer(self.ctrl, b"rig", 1, self.ms())

    def ms(self) -> int:
        return int(round(self.t * 1000))

    def connect(self) -> None:
        self.client.connect(self.t)
        self.pump()

    def pump(self) -> None:
        for _ in range(20):
            moved = False
            for command in self.station.commands_to_send():
                if self.client.connected:  # as LinkDriver.send
                    self.client.send(command, self.t)
                    self.sent.append(command)
            for chunk in self.client.data_to_send():
                moved = True
                if not self.cut_to_fw:
                    self.fw.receive(chunk, self.ms())
            self.fw.poll(self.ms())
            for chunk in self.fw.data_to_send():
                moved = True
                if not self.cut_to_host:
                    self.client.receive(chunk, self.t)
            while (e := self.client.next_event()) is not None:
                moved = True
                self.station.handle_event(e, self.t)
            while (r := self.station.next_record()) is not None:
                self.records.append({"t": self.t, **r})
            if not moved:
                return

    def advance(self, seconds: float, step: float = 0.01) -> None:
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.t = round(self.t + step, 6)
            self.ctrl.tick(self.ms())
            timer = self.client.get_timer()
            if timer is not None and timer <= self.t:
                self.client.handle_timer(self.t)
            timer = self.station.get_timer()
            if timer is not None and timer <= self.t:
                self.station.handle_timer(self.t)
            if self.t >= self._rehello_at:  # LinkDriver's watch: Hello again while down
                self._rehello_at = self.t + REHELLO_S
                if not self.client.connected:
                    self.client.connect(self.t)
            self.pump()

    def cp(self, state: int) -> None:
        self.hal.set_cp(CP_MV[state])

    def of(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["event"] == event]

    def since(self, t: float, event: str) -> list[dict[str, Any]]:
        return [r for r in self.of(event) if r["t"] >= t]


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


def kinds(events: list[ev.Event]) -> list[str]:
    return [type(e).__name__ for e in events]
