"""Model-based test of command ordering (issue #10 item 1): LinkClient <-> a channel that
loses, duplicates, reorders, corrupts and replays whole frames (Acks included) <->
LinkServer driving the real Controller, all under fake time.

Invariants: no command is ever applied after a newer one of its ordering class (the
firmware reports each application through LinkServer.on_applied); no command is
reported acknowledged that the firmware never applied (old Acks and Status replayed
to a restarted host whose frame numbers repeat the old one's); and once the
channel is clean and the client has settled, the firmware's state is the newest
command it applied of each class, which is never older than the newest one
acknowledged, and equals a fresh command of each class sent then.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from firmware.app import faults
from firmware.app.controller import Controller
from firmware.app.linkserver import LinkServer
from firmware.link import frame
from firmware.link import messages as m
from host.link import events as ev
from host.link.protocol import LinkClient
from tests.firmware.vmcheck import FakeHal, board

TO_FW = 0
TO_HOST = 1
KINDS = ("pilot", "lease", "link_timeout", "telemetry")
# a COBS frame's second byte is the payload's first (its type, never 0)
NOT_COMMANDS = (m.Heartbeat.TYPE, m.HostHello.TYPE)
ANSWERS = (m.Ack.TYPE, m.Nack.TYPE, m.Status.TYPE)


def _decoded(wire: bytes) -> tuple[int, m.Message] | None:
    r = frame.FrameReader()
    r.feed(wire)
    payload = r.next_payload()
    try:
        return None if payload is None else m.decode(payload)
    except m.LinkDecodeError:
        return None


class LinkModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ms = 0
        self.ctrl = Controller(FakeHal(), board(), 0)
        self.fw = LinkServer(self.ctrl, b"model", 1, 0)
        self.fw.on_applied = self._applied
        self.starts = [0x1234]  # each host's first frame number
        self.host = LinkClient(seq=self.starts[0])
        self.since = self.since_fw = 0  # history of this host's time begins here
        self.queues: tuple[list[bytes], list[bytes]] = ([], [])
        self.history: tuple[list[bytes], list[bytes]] = ([], [])
        self.made = 0  # commands made, numbering them in the order the host sent them
        self.index: dict[tuple, tuple[int, int]] = {}  # command -> (class, number)
        self.newest_sent: dict[int, m.Message] = {}
        self.newest_acked: dict[int, int] = {}  # class -> number
        self.newest_applied: dict[int, tuple[int, m.Message]] = {}
        self.ever_applied: set[tuple] = set()
        self.fw.data_to_send()
        self.host.connect(0.0)
        self._collect()

    # ------------------------------------------------------------ plumbing

    def _key(self, msg: m.Message) -> tuple:
        return (msg.TYPE,) + msg.values()

    def _applied(self, msg: m.Message) -> None:
        klass, number = self.index[self._key(msg)]
        before = self.newest_applied.get(klass, (0, msg))[0]
        # a command may be applied again in a new epoch (it is still the newest of its
        # class then), never after a newer one
        assert number >= before, f"{msg!r} applied after a newer command of its class"
        self.newest_applied[klass] = (number, msg)
        self.ever_applied.add(self._key(msg))

    def _collect(self) -> None:
        for chunk in self.host.data_to_send():
            self.queues[TO_FW].append(chunk)
            self.history[TO_FW].append(chunk)
        for chunk in self.fw.data_to_send():
            self.queues[TO_HOST].append(chunk)
            self.history[TO_HOST].append(chunk)
        while (e := self.host.next_event()) is not None:
            if isinstance(e, ev.CommandAcked):
                assert self._key(e.command) in self.ever_applied, f"{e.command!r} acked, never applied"
                klass, number = self.index[self._key(e.command)]
                self.newest_acked[klass] = max(self.newest_acked.get(klass, 0), number)
            assert not isinstance(e, ev.CommandRejected), e  # every command is valid

    def _deliver(self, direction: int, chunk: bytes) -> None:
        if direction == TO_FW:
            self.fw.receive(chunk, self.ms)
        else:
            self.host.receive(chunk, self.ms / 1000)
        self._collect()

    def _advance(self, ms: int) -> None:
        for _ in range(ms):
            self.ms += 1
            if self.ms % 10 == 0:
                self.ctrl.tick(self.ms)
                self.fw.poll(self.ms)
            timer = self.host.get_timer()
            if timer is not None and timer <= self.ms / 1000:
                self.host.handle_timer(self.ms / 1000)
            self._collect()

    def _make(self, kind: str, allow: bool) -> m.Message:
        self.made += 1
        n = self.made
        msg: m.Message
        if kind == "pilot":
            msg = m.SetPilot(m.PILOT_PWM, 500 + n)
        elif kind == "lease":
            msg = m.PowerLease(int(allow), 0, n % 800 if allow else 0, 10000)
        elif kind == "link_timeout":
            msg = m.SetConfig(m.CFG_LINK_TIMEOUT, 1000 + n)
        else:
            msg = m.SetConfig(m.CFG_TELEMETRY_PERIOD, 100 + n)
        klass = m.order_class(msg)
        key = self._key(msg)
        if key in self.index:  # a withdrawn lease looks like the last one: make it differ
            msg = m.PowerLease(0, 0, 0, 5000 + n)
            key = self._key(msg)
        self.index[key] = (klass, n)
        self.newest_sent[klass] = msg
        return msg

    # ------------------------------------------------------------ rules

    @rule(kind=st.sampled_from(KINDS), allow=st.booleans(), clean_ms=st.sampled_from((0, 0, 5)))
    def send(self, kind: str, allow: bool, clean_ms: int) -> None:
        self.host.send(self._make(kind, allow), self.ms / 1000)
        self._collect()
        self._settle(clean_ms)

    @rule(ms=st.sampled_from((1, 5, 20, 60, 150)))
    def wait(self, ms: int) -> None:
        self._advance(ms)

    @precondition(lambda self: self.queues[TO_FW] or self.queues[TO_HOST])
    @rule(direction=st.sampled_from((TO_FW, TO_HOST)), n=st.integers(1, 4))
    def deliver(self, direction: int, n: int) -> None:
        q = self.queues[direction]
        for _ in range(min(n, len(q))):
            self._deliver(direction, q.pop(0))

    @rule(direction=st.sampled_from((TO_FW, TO_HOST)))
    def drop(self, direction: int) -> None:
        if self.queues[direction]:
            self.queues[direction].pop(0)  # from the firmware, this loses Acks too

    @rule(direction=st.sampled_from((TO_FW, TO_HOST)))
    def duplicate(self, direction: int) -> None:
        if self.queues[direction]:
            self._deliver(direction, self.queues[direction][0])

    @rule(direction=st.sampled_from((TO_FW, TO_HOST)), i=st.integers(0, 10))
    def reorder(self, direction: int, i: int) -> None:
        q = self.queues[direction]
        if q:
            self._deliver(direction, q.pop(min(i, len(q) - 1)))

    @rule(direction=st.sampled_from((TO_FW, TO_HOST)), i=st.integers(0, 10_000))
    def replay(self, direction: int, i: int) -> None:
        old = self.history[direction]
        if old:
            self._deliver(direction, old[i % len(old)])

    @rule(i=st.integers(0, 10_000), n=st.integers(1, 3))
    def replay_answers(self, i: int, n: int) -> None:
        """Old Acks, Nacks and Status (with what follows them) from the firmware,
        maybe from before a host restart: they must answer nothing of the new host's."""
        old = [w for w in self.history[TO_HOST] if w[1] in ANSWERS]
        for k in range(n if old else 0):
            self._deliver(TO_HOST, old[(i + k) % len(old)])

    @rule()
    def replay_answers_by_number(self) -> None:
        """The worst such replay: old Acks (and the frame after each, its Status) whose
        frame number is that of a command this host has put on the line since it
        started, as after a restart whose frame numbers repeat an earlier host's."""
        mine = set()
        for wire in self.history[TO_FW][self.since:]:
            got = _decoded(wire)
            if got is not None and got[1].ORDERED:
                mine.add((got[1].TYPE, got[0]))
        old = self.history[TO_HOST][: self.since_fw]
        for i, wire in enumerate(old):
            got = _decoded(wire)
            if got is not None and isinstance(got[1], m.Ack) and (got[1].acked_type, got[1].acked_seq) in mine:
                self._deliver(TO_HOST, wire)
                if i + 1 < len(old):
                    self._deliver(TO_HOST, old[i + 1])

    @rule(i=st.integers(0, 10_000))
    def replay_a_command(self, i: int) -> None:
        """The replays that matter most: an old command, not a heartbeat or a Hello."""
        old = [w for w in self.history[TO_FW] if w[1] not in NOT_COMMANDS]
        if old:
            self._deliver(TO_FW, old[i % len(old)])

    @rule(direction=st.sampled_from((TO_FW, TO_HOST)), bit=st.integers(0, 255))
    def corrupt(self, direction: int, bit: int) -> None:
        q = self.queues[direction]
        if q:
            wire = bytearray(q.pop(0))
            wire[(bit // 8) % len(wire)] ^= 1 << (bit % 8)
            self._deliver(direction, bytes(wire))

    @rule()
    def clean_for_a_while(self) -> None:
        self._settle(300)

    @rule(ms=st.sampled_from((600, 1700)))
    def blackout(self, ms: int) -> None:
        """Nothing gets through: the firmware goes fail-safe, the client declares the
        link down and keeps saying Hello, a new epoch opens when the line is back."""
        for _ in range(ms):
            self._advance(1)
            self.queues[TO_FW].clear()
            self.queues[TO_HOST].clear()

    @rule(seq=st.integers(0, 0xFFFF), again=st.booleans())
    def restart_host(self, seq: int, again: bool) -> None:
        """A new host process, its counters anywhere, or (again) where an earlier one's
        started, so that its frames carry the same numbers as that one's; the old one's
        frames linger on the line and in replays. Its unanswered commands are gone with it."""
        if again:
            seq = self.starts[seq % len(self.starts)]
        self.starts.append(seq)
        self.since = len(self.history[TO_FW])
        self.since_fw = len(self.history[TO_HOST])
        self.host = LinkClient(seq=seq)
        self.host.connect(self.ms / 1000)
        self._collect()
        self._settle(5)

    # ------------------------------------------------------------ checks

    def _settle(self, ms: int) -> None:
        """A clean line: everything delivered at once, in order, for `ms`."""
        for _ in range(ms):
            for direction in (TO_FW, TO_HOST):
                q = self.queues[direction]
                while q:
                    self._deliver(direction, q.pop(0))
            self._advance(1)

    @invariant()
    def nothing_newer_was_overtaken(self) -> None:
        for klass, number in self.newest_acked.items():
            applied = self.newest_applied.get(klass)
            assert applied is not None and applied[0] >= number, (klass, number, applied)

    def _state_is(self, msg: m.Message) -> None:
        c = self.ctrl
        if isinstance(msg, m.SetPilot):
            assert (c.want_mode, c.want_duty) == (msg.mode, msg.duty)
        elif isinstance(msg, m.PowerLease):
            if (c.lease_allow, c.lease_da) != (msg.allow, msg.current_da):
                # only the firmware's own fail-safe or the lease's expiry may take it away
                assert msg.allow and c.lease_allow == 0, (msg, c.lease_allow)
                assert c.latched & (faults.LINK_TIMEOUT | faults.LEASE_EXPIRED), c.latched
        elif isinstance(msg, m.SetConfig) and msg.key == m.CFG_LINK_TIMEOUT:
            assert c.link_timeout_ms == msg.value
        elif isinstance(msg, m.SetConfig):
            assert self.fw.telemetry_ms == msg.value

    def teardown(self) -> None:
        self._settle(2000)  # the line goes clean; the client comes back and settles
        assert self.host.connected
        for klass, (_, msg) in self.newest_applied.items():
            self._state_is(msg)
            sent = self.newest_sent[klass]
            if self.newest_acked.get(klass, 0) == self.index[self._key(sent)][1]:
                assert msg == sent  # the newest sent was acknowledged: it is the state
        for kind in KINDS:  # and a fresh command of each class goes through
            msg = self._make(kind, True)
            self.host.send(msg, self.ms / 1000)
            self._collect()
        self._settle(300)
        for klass, sent in self.newest_sent.items():
            assert self.newest_acked.get(klass) == self.index[self._key(sent)][1], sent
            assert self.newest_applied[klass][1] == sent
            self._state_is(sent)


LinkModel.TestCase.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
test_link_model = LinkModel.TestCase
