"""EV (PEV) side of SLAC (ISO 15118-3 §9 and Annex A.9), sans-I/O, for the bench and the
EV simulator.

``start(now)`` broadcasts CM_SLAC_PARM.REQ; every EVSE that answers within TT_match_response
of it is sounded at once (3 CM_START_ATTEN_CHAR.IND, 10 CM_MNBC_SOUND.IND, one every
TP_EV_batch_msg_interval); of the EVSEs whose CM_ATTEN_CHAR.IND reports an average attenuation
under the threshold, the lowest gets the CM_SLAC_MATCH.REQ - on a crowded site the neighbours'
EVSEs answer too, and the first answer is not necessarily ours. With ``validate`` the EV
validates its choice first (two CM_VALIDATE exchanges
around 1-3 CP toggles, reported as ``ToggleCp`` for whoever drives S2). With ``join`` the
EV then sets the EVSE's NMK/NID on its own modem and waits for the link (TT_match_join).
A failed run is followed by a new one (new run id) every TT_matching_rate for up to
``matching_repetition`` (TT_matching_repetition) from the first.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection

from host.slac import constants as c
from host.slac.errors import LocalProtocolError
from host.slac.events import FailReason, LinkReady, Matched, MatchFailed, MatchStarted, ToggleCp
from host.slac.machine import SlacMachine
from host.slac.messages import (
    CmAttenCharInd,
    CmAttenCharRsp,
    CmMnbcSoundInd,
    CmSlacMatchCnf,
    CmSlacMatchReq,
    CmSlacParmCnf,
    CmSlacParmReq,
    CmStartAttenCharInd,
    CmValidateCnf,
    CmValidateReq,
    Frame,
    average_attenuation,
    station_id,
)
from host.slac.states import PEV_MOVES, PevState, Step, Timer, TimerKey, Trigger

# failures that a new run may mend; the modem's own failures end the attempt
_RUN_FAILURES = {FailReason.NO_PARM_CNF, FailReason.NO_ATTEN_CHAR, FailReason.NO_MATCH_CNF,
                 FailReason.NO_EVSE_UNDER_THRESHOLD, FailReason.NO_VALIDATE_CNF,
                 FailReason.VALIDATION_NOT_READY, FailReason.VALIDATION_FAILED}  # fmt: skip


class PevSlac(SlacMachine):
    """EV SLAC machine; ``state`` is a PevState, moved by states.PEV_MOVES."""

    def __init__(self, mac: bytes, *, join: bool = True,
                 sound_interval: float = c.TP_EV_BATCH_MSG_INTERVAL,
                 parm_window: float = c.TT_MATCH_RESPONSE,
                 attenuation_threshold_db: float = c.DEFAULT_ATTENUATION_THRESHOLD_DB,
                 pev_id: bytes | str = b"",
                 matching_repetition: float = c.TT_MATCHING_REPETITION,
                 validate: bool = False, confirm_link: bool = True,
                 modem_mac: bytes = c.QCA_LOCAL_MAC,
                 set_key_success: Collection[int] = c.SET_KEY_SUCCESS_RESULTS,
                 rng: Callable[[int], bytes] = os.urandom) -> None:  # fmt: skip
        super().__init__(mac, modem_mac=modem_mac, rng=rng, set_key_success=set_key_success)
        self.join = join
        self.sound_interval = sound_interval
        # how long after each CM_SLAC_PARM.REQ the EV takes CNFs: every EVSE that hears it
        # answers within TT_match_response (ISO 15118-3 A.9.1), a neighbour's perhaps first
        self.parm_window = parm_window
        self.threshold = attenuation_threshold_db  # an EVSE heard above it is never chosen
        self.pev_id = station_id(pev_id)  # PEV_ID of CM_SLAC_MATCH.REQ (Table A.7)
        self.matching_repetition = matching_repetition
        self.validate = validate
        self.confirm_link = confirm_link  # poll the (Qualcomm) link status after the key is set
        self.toggles = 0  # CP toggles of the current validation
        self._first_start = 0.0
        self.state = PevState.IDLE
        self.run_id = b""
        self.evses: dict[bytes, CmSlacParmCnf] = {}
        self.results: dict[bytes, float] = {}
        self.chosen = b""
        self.match: Matched | None = None
        self._tries = 0
        self._sent = 0  # sounding messages sent so far
        self._handlers.update({
            CmSlacParmCnf: self._on_parm_cnf,
            CmAttenCharInd: self._on_atten_char,
            CmSlacMatchCnf: self._on_match_cnf,
            CmValidateCnf: self._on_validate_cnf,
        })  # fmt: skip

    def start(self, now: float) -> None:
        """Begin matching (the EV saw 5 % PWM); again only once the last attempt ended."""
        if not PEV_MOVES.takes(self.state, Step.START):
            raise LocalProtocolError(f"start() while {self.state}: one matching at a time")
        self._first_start = now
        self._new_run(Step.START, now)

    def _move(self, trigger: Trigger) -> None:
        self.state = PEV_MOVES.after(self.state, trigger)

    def _new_run(self, trigger: Trigger, now: float) -> None:
        self.run_id = self.rng(c.RUN_ID_LEN)
        self.evses, self.results, self.chosen, self.match = {}, {}, b"", None
        self._timers.clear()
        self._stop_link()  # a new matching leaves the network of the last one
        self._tries = 0
        self._move(trigger)
        self._send_parm_req(now)

    def _send_parm_req(self, now: float) -> None:
        self._tries += 1
        self._send(c.BROADCAST_MAC, CmSlacParmReq(run_id=self.run_id))
        self._timers[Timer.STEP] = now + self.parm_window

    def _fail(self, reason: FailReason, now: float) -> None:
        self._timers.clear()
        again = now + c.TT_MATCHING_RATE
        if reason in _RUN_FAILURES and again - self._first_start < self.matching_repetition:
            self._move(Step.RETRY)
            self._timers[Timer.RESTART] = again
            self._emit(MatchFailed(reason, retrying=True))
        else:
            self._move(Step.FAIL)
            self._emit(MatchFailed(reason))

    def _on_match_failed(self, reason: FailReason, now: float) -> None:
        self._fail(reason, now)

    def _on_link_up(self, now: float) -> None:
        self._move(Step.LINK_UP)

    def _on_link_lost(self, now: float) -> None:
        self._move(Step.LINK_LOST)

    # --- timers ---------------------------------------------------------------------------

    def _on_timer(self, key: TimerKey, now: float) -> None:
        if key is Timer.STEP:
            self._step(now)
        elif key is Timer.RESULTS:
            self._decide(now)
        elif key is Timer.RESTART:
            self._new_run(Timer.RESTART, now)
        else:
            super()._on_timer(key, now)

    def _step(self, now: float) -> None:
        if self.state is PevState.WAIT_PARM_CNF:
            if self.evses:
                self._move(Step.COLLECTED)
                self._sent = 0
                self._timers[Timer.RESULTS] = now + c.TT_EV_ATTEN_RESULTS
                self._sound(now)
            elif self._tries <= c.C_EV_MATCH_RETRY:
                self._send_parm_req(now)
            else:
                self._fail(FailReason.NO_PARM_CNF, now)
        elif self.state is PevState.SOUNDING:
            self._sound(now)
        elif self.state is PevState.WAIT_MATCH_CNF:
            if self._tries <= c.C_EV_MATCH_RETRY:
                self._send_match_req(now)
            else:
                self._fail(FailReason.NO_MATCH_CNF, now)
        elif self.state in (PevState.VALIDATE_READY, PevState.VALIDATE_COUNT):
            if self._tries <= c.C_EV_MATCH_RETRY:
                self._send_validate_req(now)
            else:
                self._fail(FailReason.NO_VALIDATE_CNF, now)

    def _sound(self, now: float) -> None:
        """The next message of the sounding batch (ISO 15118-3 §A.9.2.2)."""
        starts, sounds = c.C_EV_START_ATTEN_CHAR_INDS, c.C_EV_MATCH_MNBC
        if self._sent < starts:
            self._send(c.BROADCAST_MAC, CmStartAttenCharInd(forwarding_sta=self.mac,
                                                            run_id=self.run_id))  # fmt: skip
        else:
            left = starts + sounds - self._sent - 1
            self._send(c.BROADCAST_MAC, CmMnbcSoundInd(cnt=left, run_id=self.run_id,
                                                       rnd=self.rng(16)))  # fmt: skip
        self._sent += 1
        if self._sent < starts + sounds:
            self._timers[Timer.STEP] = now + self.sound_interval
        else:
            self._move(Step.SOUNDED)
            if len(self.results) == len(self.evses):
                self._decide(now)

    def _decide(self, now: float) -> None:
        """Pick, of the EVSEs under the threshold, the lowest average attenuation (§A.9.3)."""
        if not PEV_MOVES.takes(self.state, Step.VALIDATE):  # still choosing: sounding or waiting
            return
        self._timers.pop(Timer.RESULTS, None)
        if not self.results:
            return self._fail(FailReason.NO_ATTEN_CHAR, now)
        near = {evse: db for evse, db in self.results.items() if db <= self.threshold}
        if not near:
            return self._fail(FailReason.NO_EVSE_UNDER_THRESHOLD, now)
        self.chosen = min(near, key=near.__getitem__)
        if self.validate:
            self._move(Step.VALIDATE)
            self._tries = 0
            self._send_validate_req(now)
        else:
            self._start_match(now)

    def _start_match(self, now: float) -> None:
        self._move(Step.CHOSEN)
        self._tries = 0
        self._send_match_req(now)

    def _send_validate_req(self, now: float) -> None:
        """Step 1 asks (Timer 0); step 2 announces the toggle window, then we toggle. A
        repeated step 2 toggles again: the EVSE may not have started counting."""
        self._tries += 1
        timer, wait = 0, c.TT_MATCH_RESPONSE
        if self.state is PevState.VALIDATE_COUNT:
            window = self.toggles * 2 * c.TP_EV_VALD_STATE_DURATION + c.TP_EV_VALD_STATE_DURATION
            timer = math.ceil(window / c.VALD_TIMER_UNIT - 1e-6) - 1  # a window that covers them
            wait += (timer + 1) * c.VALD_TIMER_UNIT
        self._send(self.chosen, CmValidateReq(timer=timer, result=c.VALIDATE_READY))
        self._timers[Timer.STEP] = now + wait
        if self.state is PevState.VALIDATE_COUNT:
            self._emit(ToggleCp(self.chosen, self.toggles, c.TP_EV_VALD_STATE_DURATION))

    def _send_match_req(self, now: float) -> None:
        self._tries += 1
        self._send(self.chosen, CmSlacMatchReq(pev_mac=self.mac, evse_mac=self.chosen,
                                               run_id=self.run_id, pev_id=self.pev_id))  # fmt: skip
        self._timers[Timer.STEP] = now + c.TT_MATCH_RESPONSE

    # --- messages from the EVSEs ----------------------------------------------------------

    def _on_parm_cnf(self, frame: Frame, now: float) -> None:
        m = frame.message
        assert isinstance(m, CmSlacParmCnf)
        if (not PEV_MOVES.takes(self.state, CmSlacParmCnf) or m.run_id != self.run_id
                or frame.src in self.evses):  # fmt: skip
            return self._ignore()
        self.evses[frame.src] = m
        self._emit(MatchStarted(frame.src, self.run_id))

    def _on_atten_char(self, frame: Frame, now: float) -> None:
        m = frame.message
        assert isinstance(m, CmAttenCharInd)
        if m.run_id != self.run_id or frame.src not in self.evses or self.state is PevState.IDLE:
            return self._ignore()
        # answer repeats too: the EVSE repeats the IND when our RSP got lost
        self._send(frame.src, CmAttenCharRsp(source_address=self.mac, run_id=self.run_id))
        if frame.src in self.results or not PEV_MOVES.takes(self.state, CmAttenCharInd):
            return self._ignore()
        self.results[frame.src] = average_attenuation(m.aag)
        if self.state is PevState.WAIT_RESULTS and len(self.results) == len(self.evses):
            self._decide(now)

    def _on_validate_cnf(self, frame: Frame, now: float) -> None:
        m = frame.message
        assert isinstance(m, CmValidateCnf)
        if frame.src != self.chosen or not PEV_MOVES.takes(self.state, CmValidateCnf):
            return self._ignore()
        counting = self.state is PevState.VALIDATE_COUNT
        if counting and m.result not in (c.VALIDATE_SUCCESS, c.VALIDATE_FAILURE):
            return self._ignore()  # a late answer to a repeated step 1
        self._timers.pop(Timer.STEP, None)
        if counting:
            if m.result == c.VALIDATE_SUCCESS and m.toggle_num == self.toggles:
                return self._start_match(now)
            return self._fail(FailReason.VALIDATION_FAILED, now)
        if m.result == c.VALIDATE_NOT_REQUIRED:
            return self._start_match(now)
        if m.result != c.VALIDATE_READY:
            reason = (FailReason.VALIDATION_NOT_READY if m.result == c.VALIDATE_NOT_READY
                      else FailReason.VALIDATION_FAILED)  # fmt: skip
            return self._fail(reason, now)
        # a random count, so a neighbour's EVSE that happens to see toggles cannot pass
        self.toggles = 1 + self.rng(1)[0] % c.C_EV_VALD_NB_TOGGLES_MAX
        self._move(Step.READY)
        self._tries = 0
        self._send_validate_req(now)

    def _on_match_cnf(self, frame: Frame, now: float) -> None:
        m = frame.message
        assert isinstance(m, CmSlacMatchCnf)
        if (not PEV_MOVES.takes(self.state, CmSlacMatchCnf) or frame.src != self.chosen
                or m.run_id != self.run_id):  # fmt: skip
            return self._ignore()
        self._timers.pop(Timer.STEP, None)
        self.match = Matched(frame.src, self.run_id, m.nid, m.nmk, self.results[frame.src])
        self._emit(self.match)
        if self.join:
            self._move(Step.JOIN)
            self._set_key(m.nid, m.nmk, now)
        else:
            self._move(Step.MATCHED)

    def _on_key_set(self, nid: bytes, now: float) -> None:
        if self.state is PevState.JOINING and self.match is not None:
            if self.confirm_link:
                self._start_join(self.match.peer_mac, nid, now)
            else:  # a modem with no link status to ask: the key is all we can know
                self._move(Step.LINK_UP)
                self._emit(LinkReady(self.match.peer_mac, nid))
