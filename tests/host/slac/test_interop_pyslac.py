"""Root: our EV against pyslac's EVSE (PyPI, own virtualenv) over a veth pair."""

from __future__ import annotations

import asyncio

import pytest

from host.bench.veth import VethPair
from host.slac.events import Matched
from tools.peers import pev_against_pyslac

pytestmark = pytest.mark.interop


def test_our_ev_matches_pyslac_evse(veth: VethPair, pyslac_python) -> None:
    result, lines = asyncio.run(pev_against_pyslac(veth, pyslac_python))
    print(f"pyslac EVSE: match in {result.match_s * 1000:.1f} ms; its output: {lines}")
    assert lines[0]["ready"] and lines[-1].get("matched"), lines
    assert result.matched, result.reason  # our EV joined the network with pyslac's key
    assert result.nid.hex() == lines[-1]["nid"] == lines[0]["nid"]
    assert lines[-1]["pev_mac"] == result.pev_mac.hex()
    matched = next(e for e in result.pev_events if isinstance(e, Matched))
    assert matched.peer_mac.hex() == lines[0]["evse_mac"]
