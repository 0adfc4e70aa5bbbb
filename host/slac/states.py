"""SLAC states, the moves between them, and timer keys, as data (in the manner of h11's
``_state.py``).

Each machine has a table ``{state: {trigger: next state}}``. A trigger is the message type that
the state takes, a ``Timer`` that fires, or a ``Step`` naming what else happened (an input, a
decision). A message that is taken without a move, or whose outcome depends on its content,
maps to its own state; the outcomes then have Steps of their own. A machine changes state only
through ``Moves.after``, which refuses a move its table lacks (a bug of ours, so
LocalProtocolError), and ignores a message its state does not take.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from .errors import LocalProtocolError
from .messages import (
    CmAttenCharInd,
    CmAttenCharRsp,
    CmAttenProfileInd,
    CmMnbcSoundInd,
    CmSlacMatchCnf,
    CmSlacMatchReq,
    CmSlacParmCnf,
    CmSlacParmReq,
    CmStartAttenCharInd,
    CmValidateCnf,
    CmValidateReq,
    Message,
    VsLinkStatusCnf,
)


class Timer(StrEnum):
    """What a timer is for. The EVSE keeps one SESSION and one VALIDATION timer per EV (a
    ``PeerTimer``); every other timer is one per machine."""

    KEY = "key"  # the local modem's CM_SET_KEY.CNF (MODEM_TIMEOUT, then a retry)
    LINK_POLL = "link_poll"  # next VS_PL_LNK_STATUS.REQ while joining or linked
    JOIN = "join"  # TT_match_join
    INIT = "init"  # EVSE: TT_EVSE_SLAC_init, for the EV's CM_SLAC_PARM.REQ
    SESSION = "session"  # EVSE: the current step of one EV's run
    VALIDATION = "validation"  # EVSE: the end of one EV's toggle window
    STEP = "step"  # EV: the pending request's answer, or the next sounding message
    RESULTS = "results"  # EV: TT_EV_atten_results
    RESTART = "restart"  # EV: TT_matching_rate between a failed run and the next


@dataclass(frozen=True)
class PeerTimer:
    """A timer of one EV's run on the EVSE."""

    kind: Timer
    peer: bytes


TimerKey = Timer | PeerTimer


class Step(StrEnum):
    """Triggers that are not a message or a timer."""

    PLUGGED = "plugged"  # EVSE: CP B/C/D with 5 % PWM
    UNPLUGGED = "unplugged"  # EVSE: CP A/E/F
    KEY_SET = "key set"  # EVSE: the modem took the fresh key, no run yet
    KEY_SET_IN_RUN = "key set in a run"  # EVSE: ... and an EV's run has already begun
    RUNS_ENDED = "runs ended"  # EVSE: the last EV's run was dropped
    MATCHED = "matched"  # CM_SLAC_MATCH.CNF sent (EVSE) or received without joining (EV)
    CHARACTERISED = "characterised"  # EVSE session: the sounds are in, CM_ATTEN_CHAR.IND out
    START = "start"  # EV: start()
    COLLECTED = "collected"  # EV: the CM_SLAC_PARM.CNF window closed with answers
    SOUNDED = "sounded"  # EV: the last CM_MNBC_SOUND.IND went out
    VALIDATE = "validate"  # EV: an EVSE chosen, to be validated first
    READY = "ready"  # EV: the EVSE can count toggles
    CHOSEN = "chosen"  # EV: an EVSE chosen (and validated, or no validation): ask to match
    JOIN = "join"  # EV: matched, now set the EVSE's key on our modem / link: start joining
    LINK_UP = "link up"
    LINK_LOST = "link lost"
    RETRY = "retry"  # EV: the run failed, a new one after TT_matching_rate
    FAIL = "fail"  # the attempt ended without a link


class LinkState(StrEnum):
    DOWN = "down"
    JOINING = "joining"
    UP = "up"


class EvseState(StrEnum):
    IDLE = "idle"
    SET_KEY = "set_key"
    WAIT_PARM = "wait_parm"
    MATCHING = "matching"
    MATCHED = "matched"
    FAILED = "failed"


class SessionState(StrEnum):
    """One EV's run on the EVSE."""

    WAIT_START = "wait_start"
    SOUNDING = "sounding"
    WAIT_RSP = "wait_rsp"
    WAIT_MATCH = "wait_match"
    MATCHED = "matched"


class Validation(StrEnum):
    """One EV's validation on the EVSE (ISO 15118-3 §A.9.4)."""

    NONE = ""
    READY = "ready"  # step 1 answered READY: the CP is held for this EV
    COUNTING = "counting"  # step 2 came: counting B->C toggles until the window closes
    DONE = "done"  # the result went out


class PevState(StrEnum):
    IDLE = "idle"
    WAIT_PARM_CNF = "wait_parm_cnf"
    SOUNDING = "sounding"
    WAIT_RESULTS = "wait_results"
    VALIDATE_READY = "validate_ready"
    VALIDATE_COUNT = "validate_count"
    WAIT_MATCH_CNF = "wait_match_cnf"
    JOINING = "joining"
    LINKED = "linked"
    MATCHED = "matched"  # matched, and not joining (join=False)
    PAUSE = "pause"  # between a failed run and the next
    FAILED = "failed"


Trigger = type[Message] | Timer | Step
S = TypeVar("S", bound=StrEnum)


class Moves(Generic[S]):
    """A transition table: ``takes(state, trigger)`` and ``after(state, trigger)``."""

    def __init__(self, name: str, table: dict[S, dict[Trigger, S]]) -> None:
        self.name = name
        self.table = table

    def takes(self, state: S, trigger: Trigger) -> bool:
        return trigger in self.table.get(state, {})

    def after(self, state: S, trigger: Trigger) -> S:
        try:
            return self.table[state][trigger]
        except KeyError:
            what = trigger.__name__ if isinstance(trigger, type) else repr(str(trigger))
            raise LocalProtocolError(f"{self.name}: no move for {what} in state {str(state)!r}") from None


def _each(states: tuple[S, ...], moves: dict[Trigger, S]) -> dict[S, dict[Trigger, S]]:
    return {state: dict(moves) for state in states}


LINK_MOVES: Moves[LinkState] = Moves("link", {
    LinkState.DOWN: {Step.JOIN: LinkState.JOINING},
    LinkState.JOINING: {VsLinkStatusCnf: LinkState.JOINING, Step.LINK_UP: LinkState.UP,
                        Timer.JOIN: LinkState.DOWN, Step.FAIL: LinkState.DOWN},
    LinkState.UP: {VsLinkStatusCnf: LinkState.UP, Step.LINK_LOST: LinkState.DOWN,
                   Step.FAIL: LinkState.DOWN},
})  # fmt: skip

_E = EvseState
EVSE_MOVES: Moves[EvseState] = Moves("EVSE", {
    _E.IDLE: {Step.PLUGGED: _E.SET_KEY, Step.FAIL: _E.FAILED},  # FAIL: the re-key on unplug
    _E.FAILED: {Step.PLUGGED: _E.SET_KEY},
    _E.SET_KEY: {CmSlacParmReq: _E.SET_KEY, Step.KEY_SET: _E.WAIT_PARM,
                 Step.KEY_SET_IN_RUN: _E.MATCHING, Timer.INIT: _E.FAILED,
                 # a fast EV may reach CM_SLAC_MATCH.REQ before a slow modem confirms the key
                 Step.MATCHED: _E.MATCHED, Step.UNPLUGGED: _E.IDLE, Step.FAIL: _E.FAILED},
    _E.WAIT_PARM: {CmSlacParmReq: _E.MATCHING, Timer.INIT: _E.FAILED, Step.UNPLUGGED: _E.IDLE,
                   Step.FAIL: _E.FAILED},
    _E.MATCHING: {CmSlacParmReq: _E.MATCHING, Step.RUNS_ENDED: _E.WAIT_PARM,
                  Step.MATCHED: _E.MATCHED, Timer.INIT: _E.FAILED, Step.UNPLUGGED: _E.IDLE,
                  Step.FAIL: _E.FAILED},
    _E.MATCHED: {Step.UNPLUGGED: _E.IDLE, Step.FAIL: _E.FAILED},
})  # fmt: skip

_S = SessionState
SESSION_MOVES: Moves[SessionState] = Moves("EVSE session", {
    # the sounds open the window by themselves when every CM_START_ATTEN_CHAR.IND was lost
    _S.WAIT_START: {CmStartAttenCharInd: _S.SOUNDING, CmMnbcSoundInd: _S.SOUNDING},
    _S.SOUNDING: {CmAttenProfileInd: _S.SOUNDING, Step.CHARACTERISED: _S.WAIT_RSP},
    _S.WAIT_RSP: {CmAttenCharRsp: _S.WAIT_MATCH, CmSlacMatchReq: _S.MATCHED},
    _S.WAIT_MATCH: {CmValidateReq: _S.WAIT_MATCH, CmSlacMatchReq: _S.MATCHED},
    _S.MATCHED: {CmSlacMatchReq: _S.MATCHED},  # a repeat: our CNF got lost
})  # fmt: skip

_V = Validation
VALIDATION_MOVES: Moves[Validation] = Moves("validation", {
    _V.NONE: {Step.READY: _V.READY},
    _V.READY: {Step.READY: _V.READY, CmValidateReq: _V.COUNTING, Step.FAIL: _V.DONE},
    _V.COUNTING: {Timer.VALIDATION: _V.DONE},
    _V.DONE: {},
})  # fmt: skip

_P = PevState
_ENDS: dict[Trigger, PevState] = {Step.RETRY: _P.PAUSE, Step.FAIL: _P.FAILED}
_CHOICE: dict[Trigger, PevState] = {Step.VALIDATE: _P.VALIDATE_READY,
                                    Step.CHOSEN: _P.WAIT_MATCH_CNF}  # fmt: skip
PEV_MOVES: Moves[PevState] = Moves("EV", {
    **_each((_P.IDLE, _P.FAILED, _P.MATCHED), {Step.START: _P.WAIT_PARM_CNF}),
    _P.PAUSE: {Timer.RESTART: _P.WAIT_PARM_CNF},
    _P.WAIT_PARM_CNF: {CmSlacParmCnf: _P.WAIT_PARM_CNF, Step.COLLECTED: _P.SOUNDING, **_ENDS},
    _P.SOUNDING: {**_CHOICE, CmAttenCharInd: _P.SOUNDING, Step.SOUNDED: _P.WAIT_RESULTS, **_ENDS},
    _P.WAIT_RESULTS: {**_CHOICE, CmAttenCharInd: _P.WAIT_RESULTS, **_ENDS},
    _P.VALIDATE_READY: {CmValidateCnf: _P.VALIDATE_READY, Step.READY: _P.VALIDATE_COUNT,
                        Step.CHOSEN: _P.WAIT_MATCH_CNF, **_ENDS},
    _P.VALIDATE_COUNT: {CmValidateCnf: _P.VALIDATE_COUNT, Step.CHOSEN: _P.WAIT_MATCH_CNF,
                        **_ENDS},
    _P.WAIT_MATCH_CNF: {CmSlacMatchCnf: _P.WAIT_MATCH_CNF, Step.JOIN: _P.JOINING,
                        Step.MATCHED: _P.MATCHED, **_ENDS},
    _P.JOINING: {Step.LINK_UP: _P.LINKED, Step.FAIL: _P.FAILED},
    _P.LINKED: {Step.START: _P.WAIT_PARM_CNF, Step.LINK_LOST: _P.FAILED},
})  # fmt: skip
