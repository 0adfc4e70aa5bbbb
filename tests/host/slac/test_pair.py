"""Our EVSE against our EV through the modem simulators: on a fake-time wire and on the
in-process channel (the transport `v2gate simulate` falls back to without root)."""

from __future__ import annotations

import asyncio

import pytest

from host.slac.events import FailReason, LinkReady, Matched, MatchFailed
from host.slac.messages import CmAttenCharInd, parse_frame
from host.slac.pair import channel_links, run_pair

from .helpers import EVSE_MAC, PEV_MAC, pair

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
