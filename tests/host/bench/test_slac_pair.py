"""Our EVSE against our EV through the modem simulators: on a fake-time wire and on the
in-process channel (the transport `v2gate simulate` falls back to without root)."""

from __future__ import annotations

import asyncio

import pytest

from host.bench.slac_pair import channel_links, run_pair
from host.slac.events import FailReason, LinkReady, Matched, MatchFailed, ToggleCp
from host.slac.messages import CmAttenCharInd, parse_frame
from tests.host.slac.helpers import EVSE_MAC, PEV_MAC, pair

pytestmark = pytest.mark.unit


def test_roundtrip_on_fake_time_reaches_link_ready_on_both_sides() -> None:
    wire, evse, pev = pair(attenuation_db=23)
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
    wire, evse, pev = pair(attenuation_db=60)
    evse.machine.cp_state("B", True, 0.0)
    pev.machine.start(0.0)
    wire.run(until=20.0)
    assert not any(isinstance(e, Matched) for e in evse.events + pev.events)
    assert pev.events[-1] == MatchFailed(FailReason.NO_MATCH_CNF)
    assert MatchFailed(FailReason.ATTENUATION_TOO_HIGH, retrying=True) in evse.events
    assert PEV_MAC not in evse.machine.sessions


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
