"""Our EVSE against our EV through the modem simulators: on a fake-time wire and on the
in-process channel (the transport `v2gate simulate` falls back to without root)."""

from __future__ import annotations

import asyncio

import pytest

from host.bench.modem_sim import ModemSim
from host.bench.slac_pair import channel_links, run_pair
from host.ev.slac import PevSlac
from host.slac.events import FailReason, LinkReady, Matched, MatchFailed, ToggleCp
from host.slac.evse import EvseSlac
from host.slac.messages import CmAttenCharInd, CmSlacMatchReq, CmSlacParmCnf, parse_frame
from tests.host.slac.helpers import EVSE_MAC, PEV_MAC, Node, Wire, counter_rng, pair

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("set_key_result", [0x01, 0x00])  # a QCA modem's success, HPGP's
def test_roundtrip_on_fake_time_reaches_link_ready_on_both_sides(set_key_result: int) -> None:
    wire, evse, pev = pair(attenuation_db=23, set_key_result=set_key_result)
    evse.machine.cp_state("B", True, 0.0)
    pev.machine.start(0.0)
    wire.run(until=20.0)
    assert [type(e) for e in evse.events][-2:] == [Matched, LinkReady]
    assert [type(e) for e in pev.events][-1] is LinkReady
    matched = next(e for e in pev.events if isinstance(e, Matched))
    assert (matched.peer_mac, matched.attenuation_db) == (EVSE_MAC, 23.0)
    assert matched.nid == evse.machine.nid and matched.nmk == evse.machine.nmk


def test_lost_atten_char_is_repeated_and_the_run_still_matches() -> None:
    wire, evse, pev = pair()
    dropped = []

    def drop_first_atten_char(frame: bytes) -> bool:
        if not dropped and isinstance(parse_frame(frame).message, CmAttenCharInd):
            dropped.append(frame)
            return True
        return False

    wire.drop = drop_first_atten_char
    evse.machine.cp_state("B", True, 0.0)
    pev.machine.start(0.0)
    wire.run(until=20.0)
    assert dropped and isinstance(pev.events[-1], LinkReady)


def test_ev_too_far_gets_no_match() -> None:
    """Both sides refuse 60 dB; the EV does not even ask (its own threshold)."""
    wire, evse, pev = pair(attenuation_db=60)
    evse.machine.cp_state("B", True, 0.0)
    pev.machine.start(0.0)
    wire.run(until=20.0)
    assert not any(isinstance(e, Matched) for e in evse.events + pev.events)
    assert pev.events[-1] == MatchFailed(FailReason.NO_EVSE_UNDER_THRESHOLD)
    assert not any(isinstance(parse_frame(f).message, CmSlacMatchReq) for _, _, f in wire.log)


def test_ev_without_a_threshold_is_refused_by_the_evse() -> None:
    wire, evse, pev = pair(attenuation_db=60, pev_kwargs={"attenuation_threshold_db": 1e9})
    evse.machine.cp_state("B", True, 0.0)
    pev.machine.start(0.0)
    wire.run(until=20.0)
    assert not any(isinstance(e, Matched) for e in evse.events + pev.events)
    assert pev.events[-1] == MatchFailed(FailReason.NO_MATCH_CNF)
    assert MatchFailed(FailReason.ATTENUATION_TOO_HIGH, retrying=True) in evse.events
    assert PEV_MAC not in evse.machine.sessions


def test_cross_talk_a_neighbour_answers_first_our_charger_late_and_closer() -> None:
    """Two chargers on one wire, each with its own modem: the neighbour's answers the EV's
    CM_SLAC_PARM.REQ at once, ours 150 ms later (within TT_match_response) and hears the EV
    at 12 dB against the neighbour's 30. The EV must match ours, the neighbour nobody."""
    neighbour_mac = bytes.fromhex("020000000009")
    ours = Node(0, EvseSlac(EVSE_MAC, rng=counter_rng(1), confirm_link=False))
    theirs = Node(0, EvseSlac(neighbour_mac, rng=counter_rng(2), confirm_link=False))
    pev = Node(1, PevSlac(PEV_MAC, rng=counter_rng(100), join=False, matching_repetition=0.0))
    wire = Wire(ours, theirs, pev, Node(1, sim=ModemSim(attenuation_db=12), host=ours),
                Node(1, sim=ModemSim(attenuation_db=30), host=theirs),
                Node(0, sim=ModemSim(), host=pev))  # fmt: skip

    def late(sender: Node, frame: bytes) -> float:
        answer = isinstance(parse_frame(frame).message, CmSlacParmCnf)
        return 0.15 if sender is ours and answer else 0.0

    wire.delay = late
    for evse in (ours, theirs):
        evse.machine.cp_state("B", True, 0.0)
    wire.run(until=0.1)  # both keys set
    pev.machine.start(wire.now)
    wire.run(until=3.0)
    (matched,) = [e for e in pev.events if isinstance(e, Matched)]
    assert matched.peer_mac == EVSE_MAC and matched.attenuation_db == 12.0
    assert [e.peer_mac for e in ours.events if isinstance(e, Matched)] == [PEV_MAC]
    assert not any(isinstance(e, Matched) for e in theirs.events)
    sent = [parse_frame(f) for _, _, f in wire.log]
    assert [f.src for f in sent if isinstance(f.message, CmSlacParmCnf)] == [EVSE_MAC,
                                                                          neighbour_mac]  # fmt: skip
    assert theirs.machine.sessions[PEV_MAC].state == "wait_match"  # the EV sounded both


def run_with_cp(wire, evse, pev, cable: bool, until: float = 20.0) -> None:
    """Run the wire; when the EV toggles S2, the EVSE sees it only if ``cable`` connects them."""
    evse.machine.cp_state("B", True, 0.0)
    pev.machine.start(0.0)
    seen = 0
    while wire.now < until:
        wire.run(until=wire.now + 0.05)
        for event in pev.events[seen:]:
            if isinstance(event, ToggleCp) and cable:
                t0 = wire.now
                for i in range(2 * event.toggles):
                    wire.run(until=t0 + (i + 1) * event.state_s)
                    evse.machine.cp_state("CB"[i % 2], True, wire.now)
        seen = len(pev.events)


def test_validation_on_fake_time_matches_when_the_evse_sees_the_toggles() -> None:
    wire, evse, pev = pair(validate=True)
    run_with_cp(wire, evse, pev, cable=True)
    assert [type(e) for e in pev.events].count(ToggleCp) == 1
    assert isinstance(pev.events[-1], LinkReady) and isinstance(evse.events[-1], LinkReady)


def test_validation_fails_when_the_chosen_evse_is_not_on_our_cable() -> None:
    wire, evse, pev = pair(validate=True)
    run_with_cp(wire, evse, pev, cable=False, until=3.0)
    assert MatchFailed(FailReason.VALIDATION_FAILED, retrying=True) in pev.events
    assert not any(isinstance(e, Matched) for e in evse.events + pev.events)


def test_in_process_channel_pair_with_validation() -> None:
    async def main():
        links = channel_links()
        try:
            return await run_pair(links, validate=True, timeout=10.0)
        finally:
            links.close()

    result = asyncio.run(main())
    assert result.matched and result.transport == "in-process"
    assert any(isinstance(e, ToggleCp) for e in result.pev_events)


def test_in_process_channel_pair() -> None:
    async def main():
        links = channel_links()
        try:
            return await run_pair(links)
        finally:
            links.close()

    result = asyncio.run(main())
    assert result.matched and result.transport == "in-process"
    assert result.attenuation_db == 20.0 and result.match_s is not None
