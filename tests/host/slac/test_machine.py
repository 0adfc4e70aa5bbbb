"""What both machines share: the NID derivation and the filtering of received frames."""

from __future__ import annotations

import pytest

from host.slac import constants as c
from host.slac.evse import EvseSlac
from host.slac.machine import nid_from_nmk
from host.slac.messages import CmAttenProfileInd, CmSlacParmReq
from host.slac.states import SessionState

from .helpers import EVSE_MAC, PEV_MAC, Driven, counter_rng

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("nmk", "nid"),
    [
        # pyslac 0.8.3 enums: QUALCOMM_NMK and the QUALCOMM_NID it pairs with it
        ("b59319d7e8157ba001b018669ccee30d", "026bcba5354e08"),
        # pyslac 0.8.3 utils.generate_nid(bytes(range(16)))
        ("000102030405060708090a0b0c0d0e0f", "4d30a0f8455d0b"),
    ],
)
def test_nid_from_nmk_matches_pyslac(nmk: str, nid: str) -> None:
    assert nid_from_nmk(bytes.fromhex(nmk)).hex() == nid


def test_own_frames_and_unicast_to_others_are_dropped() -> None:
    d = Driven(EvseSlac(EVSE_MAC, rng=counter_rng()))
    d.m.cp_state("B", True, 0.0)
    d.sent()
    d.feed(EVSE_MAC, CmSlacParmReq(run_id=b"r" * 8), dst=c.BROADCAST_MAC)  # our own echo
    d.feed(PEV_MAC, CmSlacParmReq(run_id=b"r" * 8), dst=b"\x02" * 6)
    assert d.sent() == [] and d.m.ignored == 2


def test_attenuation_profiles_count_whatever_their_destination() -> None:
    """A modem may address CM_ATTEN_PROFILE.IND to its host or to anyone: it is ours."""
    d = Driven(EvseSlac(EVSE_MAC, rng=counter_rng()))
    d.m.cp_state("B", True, 0.0)
    d.feed(PEV_MAC, CmSlacParmReq(run_id=b"r" * 8), dst=c.BROADCAST_MAC)
    d.m.sessions[PEV_MAC].state = SessionState.SOUNDING
    d.feed(c.QCA_LOCAL_MAC, CmAttenProfileInd(pev_mac=PEV_MAC, num_groups=1, aag=b"\x07"),
           dst=b"\x02" * 6)  # fmt: skip
    assert d.m.sessions[PEV_MAC].profiles == [b"\x07"]
