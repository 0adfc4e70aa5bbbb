"""EVSE machine with fake time: the happy path, every timeout, cross-talk, duplicates."""

from __future__ import annotations

import pytest

from host.slac import constants as c
from host.slac.errors import LocalProtocolError
from host.slac.events import (
    FailReason,
    KeySet,
    LinkLost,
    LinkReady,
    Matched,
    MatchFailed,
    MatchStarted,
)
from host.slac.evse import EvseSlac
from host.slac.messages import (
    CmAttenCharInd,
    CmAttenCharRsp,
    CmAttenProfileInd,
    CmMnbcSoundInd,
    CmSetKeyCnf,
    CmSetKeyReq,
    CmSlacMatchCnf,
    CmSlacMatchReq,
    CmSlacParmCnf,
    CmSlacParmReq,
    CmStartAttenCharInd,
    CmValidateCnf,
    CmValidateReq,
    VsLinkStatusCnf,
    VsLinkStatusReq,
)
from host.slac.states import EvseState, SessionState

from .helpers import EVSE_MAC, PEV_MAC, Driven, counter_rng

pytestmark = pytest.mark.unit

MODEM = c.QCA_LOCAL_MAC
RUN = b"R" * 8
OTHER_PEV = bytes.fromhex("020000000003")


def plugged(**kwargs) -> Driven:
    """An EVSE whose modem confirmed the fresh key: waiting for CM_SLAC_PARM.REQ."""
    d = Driven(EvseSlac(EVSE_MAC, rng=counter_rng(1), **kwargs))
    d.m.cp_state("B", True, 0.0)
    (req,) = d.messages()
    assert isinstance(req, CmSetKeyReq) and req.new_key == d.m.nmk and req.nid == d.m.nid
    d.feed(MODEM, CmSetKeyCnf())
    assert d.events() == [KeySet(d.m.nid)]
    assert d.m.state is EvseState.WAIT_PARM
    return d


def sounded(d: Driven, pev: bytes = PEV_MAC, run: bytes = RUN, db: int = 20, n: int = 10) -> None:
    d.feed(pev, CmSlacParmReq(run_id=run), dst=c.BROADCAST_MAC)
    d.feed(pev, CmStartAttenCharInd(forwarding_sta=pev, run_id=run), dst=c.BROADCAST_MAC)
    for i in range(n):
        d.feed(pev, CmMnbcSoundInd(cnt=9 - i, run_id=run), dst=c.BROADCAST_MAC)
        d.feed(MODEM, CmAttenProfileInd(pev_mac=pev, num_groups=58, aag=bytes([db]) * 58))


def characterised(d: Driven, pev: bytes = PEV_MAC, run: bytes = RUN, db: int = 20) -> None:
    sounded(d, pev, run, db)
    d.feed(pev, CmAttenCharRsp(source_address=pev, run_id=run))


def test_happy_path_message_by_message() -> None:
    d = plugged()
    d.feed(PEV_MAC, CmSlacParmReq(run_id=RUN), dst=c.BROADCAST_MAC, at=1.0)
    (cnf,) = d.sent()
    assert cnf.dst == PEV_MAC and cnf.message == CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=RUN)
    assert d.events() == [MatchStarted(PEV_MAC, RUN)]
    d.feed(PEV_MAC, CmStartAttenCharInd(forwarding_sta=PEV_MAC, run_id=RUN), dst=c.BROADCAST_MAC)
    for i in range(10):
        assert d.sent() == []
        d.feed(PEV_MAC, CmMnbcSoundInd(cnt=9 - i, run_id=RUN), dst=c.BROADCAST_MAC)
        aag = bytes([18 + i % 2 * 3]) * 58  # 18 and 21 dB alternate: the mean rounds to 20
        d.feed(MODEM, CmAttenProfileInd(pev_mac=PEV_MAC, num_groups=58, aag=aag))
    (char,) = d.messages()
    assert isinstance(char, CmAttenCharInd)
    assert (char.num_sounds, char.num_groups, char.aag) == (10, 58, bytes([20]) * 58)
    d.feed(PEV_MAC, CmAttenCharRsp(source_address=PEV_MAC, run_id=RUN))
    d.feed(PEV_MAC, CmSlacMatchReq(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=RUN))
    match_cnf, poll = d.messages()
    assert match_cnf == CmSlacMatchCnf(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=RUN,
                                       nid=d.m.nid, nmk=d.m.nmk)  # fmt: skip
    assert isinstance(poll, VsLinkStatusReq)
    assert d.events() == [Matched(PEV_MAC, RUN, d.m.nid, d.m.nmk, 20.0)]
    d.feed(MODEM, VsLinkStatusCnf(link_status=1))
    assert d.events() == [LinkReady(PEV_MAC, d.m.nid)]


def test_no_cp_state_b_no_slac() -> None:
    d = Driven(EvseSlac(EVSE_MAC, rng=counter_rng(1)))
    d.m.cp_state("B", False, 0.0)  # no 5 % duty: basic charging, no HLC
    assert d.sent() == [] and d.m.get_timer() is None
    d.feed(PEV_MAC, CmSlacParmReq(run_id=RUN), dst=c.BROADCAST_MAC)
    assert d.sent() == [] and d.m.ignored == 1


def test_modem_not_answering_set_key() -> None:
    d2 = Driven(EvseSlac(EVSE_MAC, rng=counter_rng(1)))
    d2.m.cp_state("B", True, 0.0)
    sends = len(d2.sent())
    for k in range(1, 4):
        d2.at(k * c.MODEM_TIMEOUT)
        sends += len(d2.sent())
    assert sends == 1 + c.MODEM_RETRIES
    assert d2.events() == [MatchFailed(FailReason.MODEM_NO_SET_KEY_CNF)]
    assert d2.m.state is EvseState.FAILED


@pytest.mark.parametrize("result", [0x00, 0x01])  # HPGP's success, and what QCA modems send
def test_modem_confirming_the_key_with_either_success_code(result: int) -> None:
    d = Driven(EvseSlac(EVSE_MAC, rng=counter_rng(1)))
    d.m.cp_state("B", True, 0.0)
    d.feed(MODEM, CmSetKeyCnf(result=result))
    assert d.events() == [KeySet(d.m.nid)] and d.m.state is EvseState.WAIT_PARM


@pytest.mark.parametrize(("result", "success"), [(0x02, {0, 1}), (0xFF, {0, 1}), (0x01, {0})])
def test_modem_refusing_the_key(result: int, success: set[int]) -> None:
    """Any other code is a refusal, and so is 0x01 once narrowed to the HPGP reading."""
    d = Driven(EvseSlac(EVSE_MAC, rng=counter_rng(1), set_key_success=success))
    d.m.cp_state("B", True, 0.0)
    d.feed(MODEM, CmSetKeyCnf(result=result))
    assert d.events() == [MatchFailed(FailReason.MODEM_REFUSED_KEY)]
    assert d.m.state is EvseState.FAILED


def test_slac_init_timeout() -> None:
    d = plugged(slac_init_timeout=20.0)
    d.at(19.999)
    assert d.events() == []
    d.at(20.0)
    assert d.events() == [MatchFailed(FailReason.SLAC_INIT_TIMEOUT)]
    assert d.m.get_timer() is None


def test_no_start_atten_char_drops_the_run_and_waits_again() -> None:
    d = plugged()
    d.feed(PEV_MAC, CmSlacParmReq(run_id=RUN), dst=c.BROADCAST_MAC, at=1.0)
    d.events()
    d.at(1.0 + c.TT_MATCH_SEQUENCE)
    assert d.events() == [MatchFailed(FailReason.NO_START_ATTEN_CHAR, retrying=True)]
    assert d.m.state is EvseState.WAIT_PARM
    d.feed(PEV_MAC, CmSlacParmReq(run_id=b"S" * 8), dst=c.BROADCAST_MAC)  # the EV's retry
    assert d.events() == [MatchStarted(PEV_MAC, b"S" * 8)]


def test_sounding_window_ends_with_the_sounds_that_came() -> None:
    d = plugged()
    d.feed(PEV_MAC, CmSlacParmReq(run_id=RUN), dst=c.BROADCAST_MAC, at=1.0)
    d.feed(PEV_MAC, CmStartAttenCharInd(forwarding_sta=PEV_MAC, run_id=RUN), dst=c.BROADCAST_MAC)
    for _ in range(4):
        d.feed(MODEM, CmAttenProfileInd(pev_mac=PEV_MAC, num_groups=58, aag=bytes([30]) * 58))
    d.sent()
    d.at(1.0 + c.TT_EVSE_MATCH_MNBC)
    (char,) = d.messages()
    assert isinstance(char, CmAttenCharInd) and char.num_sounds == 4


def test_no_sounds_at_all() -> None:
    d = plugged()
    d.feed(PEV_MAC, CmSlacParmReq(run_id=RUN), dst=c.BROADCAST_MAC, at=1.0)
    d.feed(PEV_MAC, CmStartAttenCharInd(forwarding_sta=PEV_MAC, run_id=RUN), dst=c.BROADCAST_MAC)
    d.sent(), d.events()
    d.at(1.0 + c.TT_EVSE_MATCH_MNBC)
    assert d.sent() == []
    assert d.events() == [MatchFailed(FailReason.NO_SOUNDS, retrying=True)]


def test_atten_char_repeated_then_given_up() -> None:
    d = plugged()
    sounded(d)
    assert [type(m) for m in d.messages()] == [CmSlacParmCnf, CmAttenCharInd]
    d.events()
    events = d.resends(CmAttenCharInd, c.C_SEQU_RETRY, c.TT_MATCH_RESPONSE)
    assert d.messages() == []
    assert events == [MatchFailed(FailReason.NO_ATTEN_CHAR_RSP, retrying=True)]


def test_no_match_req() -> None:
    d = plugged()
    characterised(d)
    d.events()
    d.at(d.now + c.TT_EVSE_MATCH_SESSION)
    assert d.events() == [MatchFailed(FailReason.NO_MATCH_REQ, retrying=True)]


def test_wrong_run_id_is_ignored_everywhere() -> None:
    d = plugged()
    d.feed(PEV_MAC, CmSlacParmReq(run_id=RUN), dst=c.BROADCAST_MAC)
    d.sent()
    wrong = b"W" * 8
    d.feed(PEV_MAC, CmStartAttenCharInd(forwarding_sta=PEV_MAC, run_id=wrong), dst=c.BROADCAST_MAC)
    assert d.m.sessions[PEV_MAC].state is SessionState.WAIT_START
    characterised_before = d.m.ignored
    d.feed(PEV_MAC, CmSlacMatchReq(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=wrong))
    d.feed(PEV_MAC, CmAttenCharRsp(source_address=PEV_MAC, run_id=wrong))
    assert d.sent() == [] and d.m.ignored == characterised_before + 2


def test_attenuation_above_threshold_gets_no_match() -> None:
    d = plugged(attenuation_threshold_db=30)
    characterised(d, db=35)
    d.sent(), d.events()
    d.feed(PEV_MAC, CmSlacMatchReq(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=RUN))
    assert d.sent() == []
    assert d.events() == [MatchFailed(FailReason.ATTENUATION_TOO_HIGH, retrying=True)]


def test_match_cnf_names_both_ends() -> None:
    """ISO 15118-3 Table A.7: the CNF echoes the EV's PEV_ID and carries our EVSE_ID."""
    d = plugged(evse_id="DE*V2G*E0001")
    characterised(d)
    d.sent()
    d.feed(PEV_MAC, CmSlacMatchReq(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=RUN,
                                   pev_id=b"WAUZZZ4G7EN012345"))  # fmt: skip
    cnf = d.messages()[0]
    assert isinstance(cnf, CmSlacMatchCnf)
    assert cnf.pev_id == b"WAUZZZ4G7EN012345"
    assert cnf.evse_id == b"DE*V2G*E0001" + bytes(5) and len(cnf.evse_id) == 17


def test_evse_id_longer_than_the_field_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="18 octets; the SLAC field holds 17"):
        EvseSlac(EVSE_MAC, evse_id="DE*V2G*E0000000001")


def test_cross_talk_the_closer_ev_wins() -> None:
    d = plugged()
    characterised(d, PEV_MAC, RUN, db=12)  # ours, on our cable
    characterised(d, OTHER_PEV, b"N" * 8, db=31)  # the neighbour's, heard through the grid
    d.sent(), d.events()
    d.feed(OTHER_PEV, CmSlacMatchReq(pev_mac=OTHER_PEV, evse_mac=EVSE_MAC, run_id=b"N" * 8))
    assert d.sent() == [] and d.events() == []
    d.feed(PEV_MAC, CmSlacMatchReq(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=RUN))
    assert isinstance(d.sent()[0].message, CmSlacMatchCnf)
    assert [type(e) for e in d.events()] == [Matched]
    assert list(d.m.sessions) == [PEV_MAC]


def test_duplicates_and_late_messages() -> None:
    d = plugged()
    d.feed(PEV_MAC, CmSlacParmReq(run_id=RUN), dst=c.BROADCAST_MAC)
    d.feed(PEV_MAC, CmSlacParmReq(run_id=RUN), dst=c.BROADCAST_MAC)  # EV repeated: CNF lost
    assert [type(m) for m in d.messages()] == [CmSlacParmCnf, CmSlacParmCnf]
    assert d.events() == [MatchStarted(PEV_MAC, RUN)]
    d.m.sessions.clear()
    d.m.state = EvseState.WAIT_PARM
    characterised(d)
    d.feed(MODEM, CmAttenProfileInd(pev_mac=PEV_MAC, num_groups=58, aag=bytes(58)))  # late
    d.feed(PEV_MAC, CmSlacMatchReq(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=RUN))
    d.feed(PEV_MAC, CmSlacMatchReq(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=RUN))  # repeat
    cnfs = [m for m in d.messages() if isinstance(m, CmSlacMatchCnf)]
    assert len(cnfs) == 2 and cnfs[0] == cnfs[1]
    assert [type(e) for e in d.events()].count(Matched) == 1


def test_frames_for_others_and_garbage_are_ignored() -> None:
    d = plugged()
    d.feed(PEV_MAC, CmSlacParmReq(run_id=RUN), dst=OTHER_PEV)  # unicast to someone else
    d.m.receive(b"\x00" * 10, 0.0)
    d.m.receive(b"\xff" * 12 + b"\x08\x00" + bytes(46), 0.0)
    assert d.sent() == [] and d.m.ignored == 3


def test_validation_is_answered_not_required() -> None:
    d = plugged()  # a station that does not feed every CP change cannot count toggles
    characterised(d)
    d.sent()
    d.feed(PEV_MAC, CmValidateReq())
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_NOT_REQUIRED)]


def toggle(d: Driven, start: float, times: int, state_s: float = 0.3, end: str = "B") -> None:
    for i in range(times):
        d.m.cp_state("C", True, start + (2 * i + 1) * state_s)
        d.m.cp_state(end if i == times - 1 else "B", True, start + (2 * i + 2) * state_s)


def test_validation_counts_the_ev_toggles_in_its_window() -> None:
    d = plugged(validation=True)
    characterised(d)
    d.sent()
    toggle(d, 0.0, 1)  # before the window: not counted
    d.feed(PEV_MAC, CmValidateReq(timer=0), at=1.0)
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_READY)]
    d.feed(PEV_MAC, CmValidateReq(timer=0))  # a repeat: the same answer
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_READY)]
    d.feed(PEV_MAC, CmValidateReq(timer=20), at=2.0)  # window (20 + 1) x 100 ms
    toggle(d, 2.0, 2, end="D")  # B->C, B->C... and D counts as C (ventilation)
    d.m.cp_state("C", True, 3.3)  # D->C is no new toggle
    d.at(4.09)
    assert d.sent() == []
    d.at(4.1)
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_SUCCESS, toggle_num=2)]
    d.m.cp_state("B", True, 4.2)
    d.m.cp_state("C", True, 4.5)  # after the window: not counted
    d.feed(PEV_MAC, CmValidateReq(timer=20), at=5.0)  # our answer got lost: the same again
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_SUCCESS, toggle_num=2)]
    d.feed(PEV_MAC, CmSlacMatchReq(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=RUN))
    assert isinstance(d.messages()[0], CmSlacMatchCnf)


def test_validation_one_ev_at_a_time_and_out_of_order_requests() -> None:
    d = plugged(validation=True)
    characterised(d)
    characterised(d, pev=OTHER_PEV)
    d.sent()
    d.feed(PEV_MAC, CmValidateReq(timer=5))  # step 2 before step 1
    assert d.sent() == [] and d.m.ignored >= 1
    d.feed(PEV_MAC, CmValidateReq(timer=0))
    d.feed(PEV_MAC, CmValidateReq(timer=9))
    d.sent()
    d.feed(OTHER_PEV, CmValidateReq(timer=0))  # the CP is busy with the first EV
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_NOT_READY)]
    d.feed(PEV_MAC, CmValidateReq(timer=9))  # while counting: no second window
    assert d.sent() == []
    d.at(1.0)
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_SUCCESS, toggle_num=0)]
    d.feed(OTHER_PEV, CmValidateReq(timer=0))  # free again
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_READY)]


def test_validation_refuses_a_window_longer_than_tt_evse_vald_toggle() -> None:
    d = plugged(validation=True)
    characterised(d)
    d.sent()
    d.feed(PEV_MAC, CmValidateReq(timer=0))
    d.feed(PEV_MAC, CmValidateReq(timer=35))  # 3.6 s
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_READY),
                            CmValidateCnf(result=c.VALIDATE_FAILURE)]  # fmt: skip


def test_validation_only_between_atten_char_and_match() -> None:
    d = plugged(validation=True)
    d.feed(PEV_MAC, CmValidateReq(timer=0))  # no run at all
    sounded(d)
    d.sent()
    d.feed(PEV_MAC, CmValidateReq(timer=0))  # CM_ATTEN_CHAR.RSP not yet in
    assert d.sent() == [] and d.m.ignored == 2
    d.feed(PEV_MAC, CmAttenCharRsp(source_address=PEV_MAC, run_id=RUN))
    d.feed(PEV_MAC, CmValidateReq(timer=0, signal_type=1))  # a signal we cannot read
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_NOT_REQUIRED)]


def test_unplug_while_counting_ends_the_validation() -> None:
    d = plugged(validation=True)
    characterised(d)
    d.feed(PEV_MAC, CmValidateReq(timer=0))
    d.feed(PEV_MAC, CmValidateReq(timer=9))
    d.sent(), d.events()
    d.m.cp_state("A", False, 0.5)
    assert d.events() == [MatchFailed(FailReason.UNPLUGGED)]
    d.at(2.0)
    assert not any(isinstance(m, CmValidateCnf) for m in d.messages())


def matched(**kwargs) -> Driven:
    d = plugged(**kwargs)
    characterised(d)
    d.feed(PEV_MAC, CmSlacMatchReq(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=RUN))
    d.sent(), d.events()
    return d


def test_join_timeout() -> None:
    d = matched()
    t = d.now
    while (timer := d.m.get_timer()) is not None and timer < t + c.TT_MATCH_JOIN:
        d.at(timer)
        assert all(isinstance(m, VsLinkStatusReq) for m in d.messages())
        d.feed(MODEM, VsLinkStatusCnf(link_status=0))
    d.at(t + c.TT_MATCH_JOIN)
    assert d.events() == [MatchFailed(FailReason.JOIN_TIMEOUT)]


def test_link_lost_after_link_ready() -> None:
    d = matched()
    d.feed(MODEM, VsLinkStatusCnf(link_status=1))
    assert [type(e) for e in d.events()] == [LinkReady]
    d.at(d.now + 1.0)
    assert d.messages() == [VsLinkStatusReq()]
    d.feed(MODEM, VsLinkStatusCnf(link_status=0))
    assert [type(e) for e in d.events()] == [LinkLost]


def test_unplug_after_match_terminates_and_rekeys() -> None:
    d = matched(confirm_link=False)
    old = d.m.nmk
    d.m.cp_state("A", False, d.now)
    assert d.events() == [LinkLost("D-LINK_TERMINATE: CP state A")]
    (req,) = d.messages()
    assert isinstance(req, CmSetKeyReq) and req.new_key != old
    assert d.m.state is EvseState.IDLE


def test_unplug_during_matching() -> None:
    d = plugged()
    sounded(d)
    d.events()
    d.m.cp_state("A", False, d.now)
    assert d.events() == [MatchFailed(FailReason.UNPLUGGED)]
    assert d.m.sessions == {}


def test_api_misuse_and_unsupported_security() -> None:
    d = plugged()
    with pytest.raises(LocalProtocolError):
        d.m.cp_state("X", True, 0.0)
    d.feed(PEV_MAC, CmSlacParmReq(run_id=RUN, security_type=1), dst=c.BROADCAST_MAC)
    assert d.sent() == [] and d.m.sessions == {}


def test_validation_cp_is_held_from_ready_so_a_neighbour_cannot_count_our_toggles() -> None:
    """Two EVs in the run, both ask (step 1) before either announces its toggles: the second
    must be refused, or its step 2 would take over the count of the first EV's toggles."""
    d = plugged(validation=True)
    characterised(d)
    characterised(d, pev=OTHER_PEV)
    d.sent()
    d.feed(PEV_MAC, CmValidateReq(timer=0), at=1.0)
    d.feed(OTHER_PEV, CmValidateReq(timer=0))
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_READY),
                            CmValidateCnf(result=c.VALIDATE_NOT_READY)]  # fmt: skip
    d.feed(PEV_MAC, CmValidateReq(timer=20), at=1.1)
    toggle(d, 1.1, 1)
    d.feed(OTHER_PEV, CmValidateReq(timer=20), at=1.8)  # the neighbour's step 2: ignored
    toggle(d, 1.8, 1)
    d.at(3.2)
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_SUCCESS, toggle_num=2)]
    d.feed(OTHER_PEV, CmValidateReq(timer=0), at=3.3)  # the CP is free again
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_READY)]


def test_validation_holder_dropped_frees_the_cp() -> None:
    d = plugged(validation=True)
    characterised(d)
    characterised(d, pev=OTHER_PEV)
    d.feed(PEV_MAC, CmValidateReq(timer=0), at=1.0)
    d.sent()
    d.at(1.0 + c.TT_EVSE_MATCH_SESSION)  # neither sends CM_SLAC_MATCH.REQ: both sessions end
    assert d.m.sessions == {}
    characterised(d, pev=OTHER_PEV, run=b"S" * 8)
    d.sent()
    d.feed(OTHER_PEV, CmValidateReq(timer=0))
    assert d.messages() == [CmValidateCnf(result=c.VALIDATE_READY)]
