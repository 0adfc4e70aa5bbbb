"""Sans-I/O pair harness: machines and modem simulators on a simulated veth, fake time."""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

from host.bench.modem_sim import ModemSim
from host.ev.slac import PevSlac
from host.slac.events import Event
from host.slac.evse import EvseSlac

EVSE_MAC = bytes.fromhex("020000000001")
PEV_MAC = bytes.fromhex("020000000002")


def counter_rng(seed: int = 0):
    """Deterministic stand-in for os.urandom."""
    state = [seed]

    def rng(n: int) -> bytes:
        state[0] += 1
        return bytes((state[0] + i) % 256 for i in range(n))

    return rng


@dataclass(eq=False)
class Node:
    """A host machine or a modem simulator, on end 0 (EVSE side) or 1 (EV side). A simulator
    with a ``host`` is that host's own modem: it hears no other host's requests and answers
    only its host (for several hosts on one end, each with its modem)."""

    end: int
    machine: EvseSlac | PevSlac | None = None
    sim: ModemSim | None = None
    host: Node | None = None
    events: list[Event] = field(default_factory=list)
    sim_out: list[bytes] = field(default_factory=list)

    def take(self) -> list[bytes]:
        if self.machine is not None:
            return self.machine.data_to_send()
        out, self.sim_out = self.sim_out, []
        return out


class Wire:
    """What a veth pair does: a frame reaches every node on the other end as incoming and
    the simulators on its own end as outgoing. ``drop`` filters frames in flight;
    ``delay(sender, frame)`` holds one back for that many seconds."""

    def __init__(self, *nodes: Node) -> None:
        self.nodes = list(nodes)
        self.now = 0.0
        self.log: list[tuple[float, int, bytes]] = []
        self.drop = lambda frame: False
        self.delay = lambda sender, frame: 0.0
        self._late: list[tuple[float, int, Node, bytes]] = []
        self._order = itertools.count()

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for sender in self.nodes:
                for frame in sender.take():
                    moved = True
                    self.log.append((self.now, sender.end, frame))
                    if self.drop(frame):
                        continue
                    lag = self.delay(sender, frame)
                    if lag > 0:
                        heapq.heappush(self._late, (self.now + lag, next(self._order), sender, frame))
                    else:
                        self._deliver(sender, frame)
            for node in self.nodes:
                if node.machine is not None:
                    while (event := node.machine.next_event()) is not None:
                        node.events.append(event)

    def _deliver(self, sender: Node, frame: bytes) -> None:
        for node in self.nodes:
            if node is sender or (sender.host is not None and node is not sender.host):
                continue
            incoming = node.end != sender.end
            if node.host is not None and incoming and sender is not node.host:
                continue  # another host's request to its own modem
            if node.machine is not None and incoming:
                node.machine.receive(frame, self.now)
            elif node.sim is not None:
                node.sim_out += node.sim.handle(frame, outgoing=not incoming)

    def run(self, until: float) -> None:
        """Advance fake time from timer to timer up to ``until``."""
        self.pump()
        while True:
            timers = [
                t for n in self.nodes if n.machine and (t := n.machine.get_timer()) is not None
            ] + [late[0] for late in self._late[:1]]
            if not timers or min(timers) > until:
                self.now = max(self.now, until)
                return
            self.now = max(self.now, min(timers))
            while self._late and self._late[0][0] <= self.now:
                _, _, sender, frame = heapq.heappop(self._late)
                self._deliver(sender, frame)
            for node in self.nodes:
                if node.machine is not None:
                    node.machine.handle_timer(self.now)
            self.pump()


def pair(attenuation_db: int = 20, validate: bool = False, set_key_result: int | None = None,
         pev_kwargs: dict | None = None, **evse_kwargs) -> tuple[Wire, Node, Node]:  # fmt: skip
    evse = Node(0, EvseSlac(EVSE_MAC, rng=counter_rng(1), validation=validate, **evse_kwargs))
    pev = Node(1, PevSlac(PEV_MAC, rng=counter_rng(100), validate=validate, **(pev_kwargs or {})))
    sim = {} if set_key_result is None else {"set_key_result": set_key_result}
    wire = Wire(evse, pev, Node(1, sim=ModemSim(attenuation_db=attenuation_db, **sim)),
                Node(0, sim=ModemSim(attenuation_db=attenuation_db, **sim)))  # fmt: skip
    return wire, evse, pev


class Driven:
    """One machine driven frame by frame: feed messages in, read frames and events out."""

    def __init__(self, machine: EvseSlac | PevSlac) -> None:
        self.m = machine
        self.now = 0.0

    def feed(self, src: bytes, message, dst: bytes | None = None, at: float | None = None) -> None:
        from host.slac.messages import Frame, push_frame

        if at is not None:
            self.now = at
        self.m.receive(push_frame(Frame(dst or self.m.mac, src, message)), self.now)

    def at(self, now: float) -> None:
        """Fire the timers due by ``now``."""
        self.now = now
        self.m.handle_timer(now)

    def sent(self) -> list:
        from host.slac.messages import parse_frame

        return [parse_frame(data) for data in self.m.data_to_send()]

    def messages(self) -> list:
        return [frame.message for frame in self.sent()]

    def resends(self, kind: type, retries: int, timeout: float) -> list[Event]:
        """Steps through `retries` timeouts from now, each resending exactly one `kind`,
        then through the last one; returns the events that brought."""
        t = self.now
        for k in range(1, retries + 1):
            self.at(t + k * timeout)
            assert [type(m) for m in self.messages()] == [kind]
        self.at(t + (retries + 1) * timeout)
        return self.events()

    def events(self) -> list[Event]:
        out = []
        while (event := self.m.next_event()) is not None:
            out.append(event)
        return out
