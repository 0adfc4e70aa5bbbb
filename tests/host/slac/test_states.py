"""The SLAC transition tables are whole, the machines move only along them, and every timer
key is typed."""

from __future__ import annotations

from enum import StrEnum

import pytest

from host.ev.slac import PevSlac
from host.slac import constants as c
from host.slac.errors import LocalProtocolError
from host.slac.events import ToggleCp
from host.slac.evse import EvseSlac
from host.slac.messages import CmSlacMatchCnf, CmSlacParmReq, Message
from host.slac.states import (
    EVSE_MOVES,
    LINK_MOVES,
    PEV_MOVES,
    SESSION_MOVES,
    VALIDATION_MOVES,
    EvseState,
    LinkState,
    Moves,
    PeerTimer,
    PevState,
    SessionState,
    Step,
    Timer,
    Validation,
)

from .helpers import EVSE_MAC, PEV_MAC, Driven, counter_rng, pair

pytestmark = pytest.mark.unit

TABLES = [
    (LINK_MOVES, LinkState, LinkState.DOWN),
    (EVSE_MOVES, EvseState, EvseState.IDLE),
    (SESSION_MOVES, SessionState, SessionState.WAIT_START),
    (VALIDATION_MOVES, Validation, Validation.NONE),
    (PEV_MOVES, PevState, PevState.IDLE),
]


@pytest.mark.parametrize(("moves", "states", "initial"), TABLES, ids=lambda t: getattr(t, "name", ""))
def test_every_state_has_a_row_and_is_reachable(moves: Moves, states: type[StrEnum],
                                                initial: StrEnum) -> None:  # fmt: skip
    assert set(moves.table) == set(states)
    for row in moves.table.values():
        for trigger, target in row.items():
            assert isinstance(target, states)
            assert isinstance(trigger, Step | Timer) or issubclass(trigger, Message)
    seen, todo = {initial}, [initial]
    while todo:
        for target in moves.table[todo.pop()].values():
            if target not in seen:
                seen.add(target)
                todo.append(target)
    assert seen == set(states)


def test_a_move_the_table_lacks_is_our_bug() -> None:
    with pytest.raises(LocalProtocolError, match="EV: no move for CmSlacMatchCnf in state 'idle'"):
        PEV_MOVES.after(PevState.IDLE, CmSlacMatchCnf)
    with pytest.raises(LocalProtocolError, match="EVSE: no move for 'plugged' in state 'matched'"):
        EVSE_MOVES.after(EvseState.MATCHED, Step.PLUGGED)
    assert EVSE_MOVES.after(EvseState.WAIT_PARM, CmSlacParmReq) is EvseState.MATCHING


def test_a_message_the_state_does_not_take_is_ignored() -> None:
    d = Driven(PevSlac(PEV_MAC, rng=counter_rng()))
    d.feed(EVSE_MAC, CmSlacMatchCnf(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=b"r" * 8,
                                    nid=b"n" * 7, nmk=b"k" * 16))  # fmt: skip
    assert d.m.ignored == 1 and d.m.state is PevState.IDLE and d.sent() == []


def test_timer_keys_are_typed_through_a_whole_run() -> None:
    """Every key, at every point of a validated match, is a Timer or an EV's PeerTimer."""
    wire, evse, pev = pair(validate=True)
    evse.machine.cp_state("B", True, 0.0)
    assert set(evse.machine._timers) == {Timer.KEY, Timer.INIT}
    pev.machine.start(0.0)
    kinds: set[object] = set()
    seen = 0
    while wire.now < 5.0 and pev.machine.state is not PevState.LINKED:
        wire.run(until=wire.now + 0.01)
        for event in pev.events[seen:]:
            if isinstance(event, ToggleCp):  # the EV's S2, seen by the EVSE's CP input
                for i in range(2 * event.toggles):
                    wire.run(until=wire.now + event.state_s)
                    evse.machine.cp_state("CB"[i % 2], True, wire.now)
        for machine in (evse.machine, pev.machine):
            for key in machine._timers:
                assert isinstance(key, Timer | PeerTimer), key
                kinds.add(key if isinstance(key, Timer) else (key.kind, key.peer))
        seen = len(pev.events)
    assert pev.machine.state is PevState.LINKED and evse.machine.state is EvseState.MATCHED
    assert {(Timer.SESSION, PEV_MAC), (Timer.VALIDATION, PEV_MAC), Timer.STEP,
            Timer.RESULTS, Timer.JOIN, Timer.LINK_POLL} <= kinds  # fmt: skip


def test_session_timer_is_per_ev() -> None:
    d = Driven(EvseSlac(EVSE_MAC, rng=counter_rng()))
    d.m.cp_state("B", True, 0.0)
    d.feed(PEV_MAC, CmSlacParmReq(run_id=b"r" * 8), dst=c.BROADCAST_MAC)
    d.feed(b"\x02" * 6, CmSlacParmReq(run_id=b"s" * 8), dst=c.BROADCAST_MAC)
    assert {k for k in d.m._timers if isinstance(k, PeerTimer)} == {
        PeerTimer(Timer.SESSION, PEV_MAC), PeerTimer(Timer.SESSION, b"\x02" * 6)}
