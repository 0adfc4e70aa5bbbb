"""EV machine with fake time: sounding, choice of EVSE, every timeout, duplicates, joining."""

from __future__ import annotations

import pytest

from host.ev.slac import PevSlac
from host.slac import constants as c
from host.slac.errors import LocalProtocolError
from host.slac.events import (
    FailReason,
    KeySet,
    LinkReady,
    Matched,
    MatchFailed,
    MatchStarted,
    ToggleCp,
)
from host.slac.messages import (
    CmAttenCharInd,
    CmAttenCharRsp,
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
from host.slac.states import PevState, Timer
from tests.host.slac.helpers import EVSE_MAC, PEV_MAC, Driven, counter_rng

pytestmark = pytest.mark.unit

MODEM = c.QCA_LOCAL_MAC
OTHER_EVSE = bytes.fromhex("020000000009")
NID, NMK = b"N" * 7, b"K" * 16


def started(**kwargs) -> tuple[Driven, bytes]:
    kwargs.setdefault("matching_repetition", 0.0)  # one run, unless a test repeats
    d = Driven(PevSlac(PEV_MAC, rng=counter_rng(5), **kwargs))
    d.m.start(0.0)
    (req,) = d.sent()
    assert req.dst == c.BROADCAST_MAC and isinstance(req.message, CmSlacParmReq)
    return d, req.message.run_id


def atten(d: Driven, run: bytes, evse: bytes = EVSE_MAC, db: int = 20) -> None:
    d.feed(evse, CmAttenCharInd(source_address=PEV_MAC, run_id=run, num_sounds=10,
                                num_groups=58, aag=bytes([db]) * 58))  # fmt: skip


def sound_all(d: Driven) -> list:
    """Fire the sounding timers; returns the messages sent, with their times."""
    out = []
    while d.m.state is PevState.SOUNDING:
        d.at(d.m._timers[Timer.STEP])
        out += [(d.now, m) for m in d.messages()]
    return out


def test_sounding_batch_and_match() -> None:
    d, run = started(join=False)
    d.feed(EVSE_MAC, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=run), at=0.01)
    assert d.events() == [MatchStarted(EVSE_MAC, run)]
    d.at(c.TT_MATCH_RESPONSE - 0.001)  # other EVSEs may still answer: no sounding yet
    assert d.sent() == []
    d.at(c.TT_MATCH_RESPONSE)
    batch = [(d.now, m) for m in d.messages()] + sound_all(d)
    kinds = [type(m) for _, m in batch]
    assert kinds == [CmStartAttenCharInd] * 3 + [CmMnbcSoundInd] * 10
    assert [m.cnt for _, m in batch[3:]] == list(range(9, -1, -1))
    gaps = {round(b[0] - a[0], 6) for a, b in zip(batch, batch[1:], strict=False)}
    assert gaps == {c.TP_EV_BATCH_MSG_INTERVAL}
    atten(d, run, db=17)
    rsp, req = d.sent()
    assert rsp.message == CmAttenCharRsp(source_address=PEV_MAC, run_id=run)
    assert req.dst == EVSE_MAC and req.message == CmSlacMatchReq(pev_mac=PEV_MAC, evse_mac=EVSE_MAC,
                                                                 run_id=run)  # fmt: skip
    d.feed(
        EVSE_MAC, CmSlacMatchCnf(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=run, nid=NID, nmk=NMK)
    )
    assert d.events() == [Matched(EVSE_MAC, run, NID, NMK, 17.0)]
    assert d.m.state is PevState.MATCHED and d.m.get_timer() is None


def test_no_parm_cnf_after_retries() -> None:
    d, _ = started()
    events = d.resends(CmSlacParmReq, c.C_EV_MATCH_RETRY, c.TT_MATCH_RESPONSE)
    assert events == [MatchFailed(FailReason.NO_PARM_CNF)]


def test_wrong_run_id_and_duplicates_are_ignored() -> None:
    d, run = started(join=False)
    d.feed(EVSE_MAC, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=b"W" * 8))
    assert d.events() == [] and d.m.evses == {}
    d.feed(EVSE_MAC, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=run))
    d.feed(EVSE_MAC, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=run))
    assert len(d.events()) == 1
    d.at(c.TT_MATCH_RESPONSE)
    d.sent()
    sound_all(d)
    atten(d, b"W" * 8)
    assert d.sent() == []
    atten(d, run)
    atten(d, run)  # the EVSE repeated: our RSP got lost; answer again, count once
    kinds = [type(m) for m in d.messages()]
    assert kinds == [CmAttenCharRsp, CmSlacMatchReq, CmAttenCharRsp]
    d.feed(
        OTHER_EVSE,
        CmSlacMatchCnf(pev_mac=PEV_MAC, evse_mac=OTHER_EVSE, run_id=run, nid=NID, nmk=NMK),
    )
    assert d.events() == []


def test_two_evses_the_lower_attenuation_is_chosen() -> None:
    d, run = started(join=False)
    d.feed(OTHER_EVSE, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=run), at=0.01)
    d.feed(EVSE_MAC, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=run), at=0.02)
    d.at(c.TT_MATCH_RESPONSE)
    d.sent()
    sound_all(d)
    atten(d, run, OTHER_EVSE, db=33)
    assert [type(m) for m in d.messages()] == [CmAttenCharRsp]  # still waiting for the other
    atten(d, run, EVSE_MAC, db=14)
    rsp, req = d.sent()
    assert req.dst == EVSE_MAC and isinstance(req.message, CmSlacMatchReq)


def test_no_atten_char() -> None:
    d, run = started()
    d.feed(EVSE_MAC, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=run))
    d.at(c.TT_MATCH_RESPONSE)
    start = d.now
    sound_all(d)
    d.at(start + c.TT_EV_ATTEN_RESULTS)
    assert d.events()[-1] == MatchFailed(FailReason.NO_ATTEN_CHAR)


def test_one_of_two_evses_silent_decides_at_the_deadline() -> None:
    d, run = started(join=False)
    d.feed(OTHER_EVSE, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=run))
    d.feed(EVSE_MAC, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=run))
    d.at(c.TT_MATCH_RESPONSE)
    start = d.now
    sound_all(d)
    atten(d, run, EVSE_MAC)
    d.sent()
    d.at(start + c.TT_EV_ATTEN_RESULTS)
    (req,) = d.sent()
    assert req.dst == EVSE_MAC


def answered(db: int = 20, **kwargs) -> tuple[Driven, bytes]:
    """One EVSE answered the parameters and reported ``db``: the EV has decided."""
    d, run = started(**kwargs)
    d.feed(EVSE_MAC, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=run))
    d.at(c.TT_MATCH_RESPONSE)
    sound_all(d)
    atten(d, run, db=db)
    return d, run


def test_cross_talk_our_late_answer_within_the_window_is_chosen() -> None:
    """A neighbour's EVSE, heard through the grid, answers first; ours answers 150 ms after
    the request - late, but within TT_match_response - and is heard closer: it must win."""
    d, run = started(join=False)
    d.feed(OTHER_EVSE, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=run), at=0.005)
    d.at(0.1)
    assert d.sent() == []  # still collecting
    d.feed(EVSE_MAC, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=run), at=0.15)
    assert d.events() == [MatchStarted(OTHER_EVSE, run), MatchStarted(EVSE_MAC, run)]
    d.at(c.TT_MATCH_RESPONSE)
    d.sent()
    sound_all(d)
    atten(d, run, OTHER_EVSE, db=26)
    atten(d, run, EVSE_MAC, db=11)
    rsp, rsp2, req = d.sent()
    assert req.dst == EVSE_MAC and req.message.evse_mac == EVSE_MAC
    d.feed(EVSE_MAC, CmSlacMatchCnf(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=run, nid=NID,
                                    nmk=NMK))  # fmt: skip
    assert d.events() == [Matched(EVSE_MAC, run, NID, NMK, 11.0)]


def test_an_answer_after_the_window_is_not_a_candidate() -> None:
    d, run = started(join=False)
    d.feed(OTHER_EVSE, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=run), at=0.01)
    d.at(c.TT_MATCH_RESPONSE)
    d.feed(EVSE_MAC, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=run), at=0.21)
    assert list(d.m.evses) == [OTHER_EVSE] and d.m.ignored == 1


def test_only_a_too_attenuated_evse_is_not_matched() -> None:
    """The default threshold: an EVSE heard at 45 dB is a neighbour's, not a cable's."""
    d, run = answered(db=45)
    rsp, *more = d.sent()
    assert isinstance(rsp.message, CmAttenCharRsp) and more == []  # no CM_SLAC_MATCH.REQ
    assert d.events()[-1] == MatchFailed(FailReason.NO_EVSE_UNDER_THRESHOLD)
    assert "above the attenuation threshold" in FailReason.NO_EVSE_UNDER_THRESHOLD.value


def test_attenuation_threshold_is_a_setting() -> None:
    d, run = answered(db=35, attenuation_threshold_db=30)
    assert d.events()[-1] == MatchFailed(FailReason.NO_EVSE_UNDER_THRESHOLD)
    d, run = answered(db=45, attenuation_threshold_db=50)
    assert isinstance(d.sent()[-1].message, CmSlacMatchReq)


def test_pev_id_goes_in_the_match_request() -> None:
    d, run = answered(pev_id="WAUZZZ4G7EN012345")  # 17 octets, e.g. a VIN
    req = d.sent()[-1].message
    assert isinstance(req, CmSlacMatchReq) and req.pev_id == b"WAUZZZ4G7EN012345"


def test_no_match_cnf_after_retries() -> None:
    d, run = answered()
    d.sent()
    events = d.resends(CmSlacMatchReq, c.C_EV_MATCH_RETRY, c.TT_MATCH_RESPONSE)
    assert events[-1] == MatchFailed(FailReason.NO_MATCH_CNF)


def joining(**kwargs) -> tuple[Driven, bytes]:
    d, run = answered(**kwargs)
    d.sent()
    d.feed(
        EVSE_MAC, CmSlacMatchCnf(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=run, nid=NID, nmk=NMK)
    )
    return d, run


def test_join_sets_the_evse_key_and_waits_for_the_link() -> None:
    d, run = joining()
    (req,) = d.sent()
    assert req.dst == MODEM and req.message == CmSetKeyReq(nid=NID, new_key=NMK)
    d.feed(MODEM, CmSetKeyCnf())
    assert d.messages() == [VsLinkStatusReq()]
    d.feed(MODEM, VsLinkStatusCnf(link_status=0))
    d.at(d.now + c.LINK_POLL_INTERVAL)
    assert d.messages() == [VsLinkStatusReq()]
    d.feed(MODEM, VsLinkStatusCnf(link_status=1))
    assert [type(e) for e in d.events()][-3:] == [Matched, KeySet, LinkReady]
    assert d.m.state is PevState.LINKED


@pytest.mark.parametrize("result", [0x00, 0x01])  # HPGP's success, and what QCA modems send
def test_join_takes_either_success_code_of_set_key(result: int) -> None:
    d, run = joining()
    d.sent()
    d.feed(MODEM, CmSetKeyCnf(result=result))
    assert d.events()[-1] == KeySet(NID) and d.messages() == [VsLinkStatusReq()]
    assert d.m.state is PevState.JOINING


@pytest.mark.parametrize(("result", "success"), [(0x02, {0, 1}), (0x01, {0})])
def test_join_refused_key(result: int, success: set[int]) -> None:
    d, run = joining(set_key_success=success)
    d.sent()
    d.feed(MODEM, CmSetKeyCnf(result=result))
    assert d.events()[-1] == MatchFailed(FailReason.MODEM_REFUSED_KEY)
    assert d.m.state is PevState.FAILED and d.sent() == []


def test_linked_then_started_again_joins_again() -> None:
    d, run = joining()
    d.feed(MODEM, CmSetKeyCnf())
    d.feed(MODEM, VsLinkStatusCnf(link_status=1))
    assert d.m.state is PevState.LINKED
    d.sent(), d.events()
    d.m.start(d.now)  # e.g. the EVSE restarted its SLAC: a new matching from scratch
    (req,) = d.messages()
    assert isinstance(req, CmSlacParmReq) and Timer.LINK_POLL not in d.m._timers
    d.feed(EVSE_MAC, CmSlacParmCnf(forwarding_sta=PEV_MAC, run_id=req.run_id))
    d.at(d.now + c.TT_MATCH_RESPONSE)
    sound_all(d)
    atten(d, req.run_id)
    d.feed(EVSE_MAC, CmSlacMatchCnf(pev_mac=PEV_MAC, evse_mac=EVSE_MAC, run_id=req.run_id,
                                    nid=NID, nmk=NMK))  # fmt: skip
    d.feed(MODEM, CmSetKeyCnf())
    d.feed(MODEM, VsLinkStatusCnf(link_status=1))
    assert d.m.state is PevState.LINKED and isinstance(d.events()[-1], LinkReady)


def test_join_timeout() -> None:
    d, run = joining()
    d.feed(MODEM, CmSetKeyCnf())
    t = d.now
    d.at(t + c.TT_MATCH_JOIN - 0.001)
    d.events()
    d.at(t + c.TT_MATCH_JOIN)
    assert d.events() == [MatchFailed(FailReason.JOIN_TIMEOUT)]
    assert d.m.state is PevState.FAILED


def test_failed_runs_repeat_within_tt_matching_repetition() -> None:
    d, first_run = started(matching_repetition=c.TT_MATCHING_REPETITION)
    runs, t = {first_run}, 0.0
    while d.m.state != "failed":
        t = d.m.get_timer()
        d.at(t)
        runs |= {m.run_id for m in d.messages() if isinstance(m, CmSlacParmReq)}
    events = d.events()
    assert all(e.retrying for e in events[:-1]) and events[-1] == MatchFailed(
        FailReason.NO_PARM_CNF
    )
    run_time = (c.C_EV_MATCH_RETRY + 1) * c.TT_MATCH_RESPONSE
    # one run a second (0.6 s of repeated requests, 0.4 s pause): ten runs in ten seconds
    assert (
        len(runs)
        == len(events)
        == round(c.TT_MATCHING_REPETITION / (run_time + c.TT_MATCHING_RATE))
    )
    assert t <= c.TT_MATCHING_REPETITION


def test_one_matching_at_a_time() -> None:
    d, _ = started()
    with pytest.raises(LocalProtocolError):
        d.m.start(0.1)


def test_own_modem_not_confirming_the_evse_key() -> None:
    d, _ = joining()
    d.sent()
    events = d.resends(CmSetKeyReq, c.MODEM_RETRIES, c.MODEM_TIMEOUT)
    assert events[-1] == MatchFailed(FailReason.MODEM_NO_SET_KEY_CNF)
    assert d.m.state is PevState.FAILED


def validating() -> tuple[Driven, int]:
    """The EV asked to validate, the EVSE is ready: returns the toggles the EV announced."""
    d, run = answered(validate=True)
    rsp, ask = d.sent()
    assert isinstance(rsp.message, CmAttenCharRsp) and ask.dst == EVSE_MAC and ask.message == CmValidateReq(timer=0)
    d.events()
    d.feed(EVSE_MAC, CmValidateCnf(result=c.VALIDATE_READY))
    (req,) = d.messages()
    (toggle,) = d.events()
    assert isinstance(toggle, ToggleCp) and toggle.peer_mac == EVSE_MAC
    assert 1 <= toggle.toggles <= 3 and 0.2 <= toggle.state_s <= 0.4
    window = (req.timer + 1) * 0.1
    assert 2 * toggle.toggles * toggle.state_s < window <= c.TT_EVSE_VALD_TOGGLE
    return d, toggle.toggles


def test_validation_then_match() -> None:
    d, n = validating()
    d.feed(EVSE_MAC, CmValidateCnf(result=c.VALIDATE_SUCCESS, toggle_num=n))
    assert [type(m) for m in d.messages()] == [CmSlacMatchReq]


def test_validation_wrong_count_means_not_our_evse() -> None:
    d, n = validating()
    d.feed(OTHER_EVSE, CmValidateCnf(result=c.VALIDATE_SUCCESS, toggle_num=n))  # not asked
    assert d.sent() == [] and d.m.state is PevState.VALIDATE_COUNT
    d.feed(EVSE_MAC, CmValidateCnf(result=c.VALIDATE_SUCCESS, toggle_num=n + 1))
    assert d.sent() == [] and d.events() == [MatchFailed(FailReason.VALIDATION_FAILED)]


@pytest.mark.parametrize("result, reason", [
    (c.VALIDATE_NOT_READY, FailReason.VALIDATION_NOT_READY),
    (c.VALIDATE_FAILURE, FailReason.VALIDATION_FAILED),
])  # fmt: skip
def test_validation_refused(result, reason) -> None:
    d, run = answered(validate=True)
    d.sent(), d.events()
    d.feed(EVSE_MAC, CmValidateCnf(result=result))
    assert d.events() == [MatchFailed(reason)]


def test_validation_not_required_goes_straight_to_match() -> None:
    d, run = answered(validate=True)
    d.sent()
    d.feed(EVSE_MAC, CmValidateCnf(result=c.VALIDATE_NOT_REQUIRED))
    assert [type(m) for m in d.messages()] == [CmSlacMatchReq]


def test_validation_unanswered_is_repeated_with_the_toggles_then_given_up() -> None:
    d, n = validating()
    req = d.m._timers[Timer.STEP]
    for _ in range(c.C_EV_MATCH_RETRY):
        d.at(d.m._timers[Timer.STEP])
        assert [type(m) for m in d.messages()] == [CmValidateReq]
        assert d.events() == [ToggleCp(EVSE_MAC, n, c.TP_EV_VALD_STATE_DURATION)]
    d.at(d.m._timers[Timer.STEP])
    assert d.now > req and d.events() == [MatchFailed(FailReason.NO_VALIDATE_CNF)]


def test_validation_late_ready_after_a_repeated_step_1_is_not_a_failure() -> None:
    d, n = validating()
    d.feed(EVSE_MAC, CmValidateCnf(result=c.VALIDATE_READY))  # answer to our repeated step 1
    assert d.m.state is PevState.VALIDATE_COUNT and d.events() == [] and d.sent() == []
    d.feed(EVSE_MAC, CmValidateCnf(result=c.VALIDATE_SUCCESS, toggle_num=n))
    assert [type(m) for m in d.messages()] == [CmSlacMatchReq]
