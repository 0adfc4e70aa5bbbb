"""The modem simulator answers what a QCA7000 answers, and reports sounds it sees go out."""

from __future__ import annotations

import pytest

from host.bench.modem_sim import FAR_MODEM_MAC, SIM_VERSION, ModemSim
from host.slac import constants as c
from host.slac.messages import (
    CmAttenProfileInd,
    CmMnbcSoundInd,
    CmSetKeyCnf,
    CmSetKeyReq,
    Frame,
    VsLinkStatusCnf,
    VsLinkStatusReq,
    VsNwInfoReq,
    VsRsDevCnf,
    VsRsDevReq,
    VsSwVerCnf,
    VsSwVerReq,
    parse_frame,
    push_frame,
)
from tests.host.slac.helpers import EVSE_MAC, PEV_MAC

pytestmark = pytest.mark.unit
MODEM = c.QCA_LOCAL_MAC


def ask(sim: ModemSim, message, src: bytes = EVSE_MAC, outgoing: bool = False) -> list:
    out = sim.handle(push_frame(Frame(MODEM, src, message)), outgoing)
    return [parse_frame(data) for data in out]


def test_answers_set_key_version_reset_and_link_status() -> None:
    sim = ModemSim()
    (cnf,) = ask(sim, CmSetKeyReq(nid=b"n" * 7, new_key=b"k" * 16))
    assert cnf.dst == EVSE_MAC and cnf.src == MODEM and isinstance(cnf.message, CmSetKeyCnf)
    (ver,) = ask(sim, VsSwVerReq())
    assert ver.message == VsSwVerCnf(version_length=len(SIM_VERSION), version=SIM_VERSION)
    (link,) = ask(sim, VsLinkStatusReq())
    assert link.message == VsLinkStatusCnf(link_status=0)
    ask(sim, CmSetKeyReq(nid=b"n" * 7, new_key=b"k" * 16), src=PEV_MAC, outgoing=True)
    (link,) = ask(sim, VsLinkStatusReq())
    assert link.message.up
    (info,) = ask(sim, VsNwInfoReq())
    (net,) = info.message.networks()
    assert net.nid == b"n" * 7 and [s.mac for s in net.stations] == [FAR_MODEM_MAC]
    assert ask(sim, VsRsDevReq())[0].message == VsRsDevCnf()
    assert not ask(sim, VsLinkStatusReq())[0].message.up


def test_profile_for_each_outgoing_sound_only() -> None:
    sim = ModemSim(attenuation_db=27, attenuation_by_mac={b"\x02" * 6: 9})
    ask(sim, VsSwVerReq())  # learns its host
    sound = push_frame(Frame(c.BROADCAST_MAC, PEV_MAC, CmMnbcSoundInd(cnt=3, run_id=b"r" * 8)))
    assert sim.handle(sound, outgoing=False) == []
    (profile,) = [parse_frame(f) for f in sim.handle(sound, outgoing=True)]
    assert profile.dst == EVSE_MAC
    assert profile.message == CmAttenProfileInd(
        pev_mac=PEV_MAC, num_groups=58, aag=bytes([27]) * 58
    )


def test_set_key_answered_like_a_qca_modem_or_as_told() -> None:
    """A QCA7000/7005 confirms a key it took with 0x01 (HomePlug AV 1.0), not HPGP's 0x00."""
    key = CmSetKeyReq(nid=b"n" * 7, new_key=b"k" * 16)
    assert ask(ModemSim(), key)[0].message.result == 0x01
    assert ask(ModemSim(set_key_result=0x00), key)[0].message.result == 0x00
    refusing = ModemSim(set_key_result=0x02)
    assert ask(refusing, key)[0].message.result == 0x02 and refusing.nmk is None


def test_silent_modes_and_foreign_frames() -> None:
    sim = ModemSim(version=None, answer_set_key=False)
    assert ask(sim, VsSwVerReq()) == []
    assert ask(sim, CmSetKeyReq(nid=b"n" * 7, new_key=b"k" * 16)) == []
    assert sim.handle(b"garbage", outgoing=False) == []
    assert ask(sim, VsSwVerReq(), src=MODEM) == []  # another simulator's frame
