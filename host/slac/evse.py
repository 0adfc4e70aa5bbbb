"""EVSE side of SLAC (ISO 15118-3 §9 and Annex A.9), sans-I/O.

Input from the station: ``cp_state(state, pwm_5_percent, now)``. On B/C/D with 5 % PWM the
machine sets a fresh NMK/NID on its modem, waits up to TT_EVSE_SLAC_init for
CM_SLAC_PARM.REQ, characterises every EV that asks (one session per EV MAC, so cross-talk
from a neighbour's EV is measured too), and matches only the EV whose average attenuation
is the lowest and under the threshold. With ``validation`` (the station feeds every CP change
to ``cp_state``) it also validates on the EV's request by counting the EV's B->C toggles
(§A.9.4); without, it answers CM_VALIDATE.REQ "not required". Unplugging (A/E/F) leaves
the network with a new key ([V2G3-M09-17], as pyslac cites it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from . import constants as c
from .errors import LocalProtocolError
from .events import FailReason, LinkLost, LinkReady, Matched, MatchFailed, MatchStarted
from .machine import SlacMachine, nid_from_nmk
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
    Frame,
    average_attenuation,
    station_id,
)
from .states import (
    EVSE_MOVES,
    SESSION_MOVES,
    VALIDATION_MOVES,
    EvseState,
    PeerTimer,
    SessionState,
    Step,
    Timer,
    TimerKey,
    Trigger,
    Validation,
)


@dataclass
class _Session:
    """One EV's run (states.SESSION_MOVES) and its validation (states.VALIDATION_MOVES)."""

    run_id: bytes
    state: SessionState = SessionState.WAIT_START
    expected: int = c.C_EV_MATCH_MNBC
    profiles: list[bytes] = field(default_factory=list)
    aag: bytes = b""
    attenuation: float = float("inf")
    tries: int = 0
    validation: Validation = Validation.NONE
    toggles: int = 0

    def move(self, trigger: Trigger) -> None:
        self.state = SESSION_MOVES.after(self.state, trigger)

    def validation_move(self, trigger: Trigger) -> None:
        self.validation = VALIDATION_MOVES.after(self.validation, trigger)


class EvseSlac(SlacMachine):
    """EVSE SLAC machine; ``state`` is an EvseState, moved by states.EVSE_MOVES."""

    _any_dst = (CmAttenProfileInd,)

    def __init__(self, mac: bytes, *, attenuation_threshold_db: float = c.DEFAULT_ATTENUATION_THRESHOLD_DB,
                 slac_init_timeout: float = c.TT_EVSE_SLAC_INIT, confirm_link: bool = True,
                 validation: bool = False, evse_id: bytes | str = b"",
                 modem_mac: bytes = c.QCA_LOCAL_MAC,
                 set_key_success: Collection[int] = c.SET_KEY_SUCCESS_RESULTS,
                 rng: Callable[[int], bytes] = os.urandom) -> None:  # fmt: skip
        super().__init__(mac, modem_mac=modem_mac, rng=rng, set_key_success=set_key_success)
        self.threshold = attenuation_threshold_db
        self.slac_init_timeout = slac_init_timeout
        self.confirm_link = confirm_link
        self.validation = validation
        self.evse_id = station_id(evse_id)  # EVSE_ID of CM_SLAC_MATCH.CNF (Table A.7)
        self.cp = "A"
        # the EV validating over our CP, from our READY to its result: one CP, one EV at a time
        self._validating = b""
        self.state = EvseState.IDLE
        self.nid = b""
        self.nmk = b""
        self.sessions: dict[bytes, _Session] = {}
        self._handlers.update({
            CmSlacParmReq: self._on_parm_req,
            CmStartAttenCharInd: self._on_start_atten_char,
            CmMnbcSoundInd: self._on_sound,
            CmAttenProfileInd: self._on_atten_profile,
            CmAttenCharRsp: self._on_atten_char_rsp,
            CmValidateReq: self._on_validate_req,
            CmSlacMatchReq: self._on_match_req,
        })  # fmt: skip

    # --- input from the station ------------------------------------------------------------

    def cp_state(self, state: str, pwm_5_percent: bool, now: float) -> None:
        """IEC 61851-1 CP state (A-F) and whether the 5 % duty (HLC) is on."""
        if state not in ("A", "B", "C", "D", "E", "F"):
            raise LocalProtocolError(f"CP state {state!r} is not one of A-F (IEC 61851-1)")
        plugged = state in ("B", "C", "D")
        holder = self.sessions.get(self._validating)
        if holder is not None and holder.validation is Validation.COUNTING:
            if self.cp == "B" and state in ("C", "D"):
                holder.toggles += 1
        self.cp = state
        if plugged and pwm_5_percent and EVSE_MOVES.takes(self.state, Step.PLUGGED):
            self._new_key(now)
            self._move(Step.PLUGGED)
            self._timers[Timer.INIT] = now + self.slac_init_timeout
        elif not plugged and EVSE_MOVES.takes(self.state, Step.UNPLUGGED):
            was_matched = self.state is EvseState.MATCHED
            self._reset()
            self._move(Step.UNPLUGGED)
            if was_matched:
                self._emit(LinkLost("D-LINK_TERMINATE: CP state " + state))
            else:
                self._emit(MatchFailed(FailReason.UNPLUGGED))
            self._new_key(now)  # leave the logical network for good [V2G3-M09-17]

    def _new_key(self, now: float) -> None:
        self.nmk = self.rng(c.NMK_LEN)
        self.nid = nid_from_nmk(self.nmk)
        self._set_key(self.nid, self.nmk, now)

    def _move(self, trigger: Trigger) -> None:
        self.state = EVSE_MOVES.after(self.state, trigger)

    def _reset(self) -> None:
        """Forget every run, timer and pending key; the caller moves the state."""
        self.sessions.clear()
        self._timers.clear()
        self._validating = b""
        self._key = None
        self._stop_link()

    def _on_key_set(self, nid: bytes, now: float) -> None:
        if self.state is EvseState.SET_KEY:
            self._move(Step.KEY_SET_IN_RUN if self.sessions else Step.KEY_SET)

    def _on_match_failed(self, reason: FailReason, now: float) -> None:
        if reason in (FailReason.MODEM_NO_SET_KEY_CNF, FailReason.MODEM_REFUSED_KEY,
                      FailReason.JOIN_TIMEOUT):  # fmt: skip
            self._reset()
            self._move(Step.FAIL)
        self._emit(MatchFailed(reason))

    def _on_link_lost(self, now: float) -> None:
        self._reset()
        self._move(Step.FAIL)

    # --- timers ---------------------------------------------------------------------------

    def _on_timer(self, key: TimerKey, now: float) -> None:
        if key is Timer.INIT:
            if EVSE_MOVES.takes(self.state, Timer.INIT):
                self._reset()
                self._move(Timer.INIT)
                self._emit(MatchFailed(FailReason.SLAC_INIT_TIMEOUT))
        elif isinstance(key, PeerTimer) and key.kind is Timer.SESSION:
            self._session_timeout(key.peer, now)
        elif isinstance(key, PeerTimer) and key.kind is Timer.VALIDATION:
            self._validated(key.peer)
        else:
            super()._on_timer(key, now)

    def _session_timeout(self, pev: bytes, now: float) -> None:
        s = self.sessions[pev]
        if s.state is SessionState.SOUNDING:
            self._characterise(pev, s, now)
        elif s.state is SessionState.WAIT_RSP and s.tries <= c.C_SEQU_RETRY:
            self._send_atten_char(pev, s, now)
        else:
            reason = {SessionState.WAIT_START: FailReason.NO_START_ATTEN_CHAR,
                      SessionState.WAIT_RSP: FailReason.NO_ATTEN_CHAR_RSP}.get(
                          s.state, FailReason.NO_MATCH_REQ)  # fmt: skip
            self._drop(pev, reason)

    def _drop(self, pev: bytes, reason: FailReason) -> None:
        self.sessions.pop(pev, None)
        self._timers.pop(PeerTimer(Timer.SESSION, pev), None)
        self._timers.pop(PeerTimer(Timer.VALIDATION, pev), None)
        if self._validating == pev:
            self._validating = b""
        if self.state is EvseState.MATCHING and not self.sessions:
            self._move(Step.RUNS_ENDED)
        self._emit(MatchFailed(reason, retrying=True))

    # --- the SLAC exchange ----------------------------------------------------------------

    def _current(self, frame: Frame, run_id: bytes) -> _Session | None:
        """The sender's run, if it has this run id and its state takes this message."""
        s = self.sessions.get(frame.src)
        if s is None or s.run_id != run_id or not SESSION_MOVES.takes(s.state, type(frame.message)):
            self._ignore()
            return None
        return s

    def _on_parm_req(self, frame: Frame, now: float) -> None:
        m = frame.message
        assert isinstance(m, CmSlacParmReq)
        if (
            not EVSE_MOVES.takes(self.state, CmSlacParmReq)
            or m.application_type != c.APPLICATION_TYPE_PEV_EVSE
            or m.security_type != c.SECURITY_TYPE_NONE  # no cipher suites here (Table A.2)
        ):
            return self._ignore()
        pev = frame.src
        s = self.sessions.get(pev)
        if s is None or s.run_id != m.run_id:  # a repeat of the same run only gets the CNF again
            self.sessions[pev] = s = _Session(m.run_id)
            self._timers[PeerTimer(Timer.SESSION, pev)] = now + c.TT_MATCH_SEQUENCE
            self._emit(MatchStarted(pev, m.run_id))
        self._move(CmSlacParmReq)
        self._send(pev, CmSlacParmCnf(forwarding_sta=pev, run_id=m.run_id))

    def _on_start_atten_char(self, frame: Frame, now: float) -> None:
        m = frame.message
        assert isinstance(m, CmStartAttenCharInd)
        s = self._current(frame, m.run_id)
        if s is not None:
            self._start_sounding(frame.src, s, m, m.num_sounds, m.time_out * c.TIME_OUT_UNIT, now)

    def _start_sounding(self, pev: bytes, s: _Session, m: CmStartAttenCharInd | CmMnbcSoundInd,
                        expected: int, window: float, now: float) -> None:  # fmt: skip
        s.move(type(m))
        s.expected = max(1, expected)
        self._timers[PeerTimer(Timer.SESSION, pev)] = now + window

    def _on_sound(self, frame: Frame, now: float) -> None:
        m = frame.message
        assert isinstance(m, CmMnbcSoundInd)
        s = self.sessions.get(frame.src)
        if s is not None and s.run_id == m.run_id and s.state is SessionState.WAIT_START:
            # every CM_START_ATTEN_CHAR.IND was lost: the sounds themselves open the window
            self._start_sounding(frame.src, s, m, m.cnt + 1, c.TT_EVSE_MATCH_MNBC, now)
        # otherwise the modem's CM_ATTEN_PROFILE.IND for this sound is what counts

    def _on_atten_profile(self, frame: Frame, now: float) -> None:
        m = frame.message
        assert isinstance(m, CmAttenProfileInd)
        s = self.sessions.get(m.pev_mac)
        if s is None or not SESSION_MOVES.takes(s.state, CmAttenProfileInd) or m.num_groups == 0:
            return self._ignore()
        s.profiles.append(m.aag)
        if len(s.profiles) >= s.expected:
            self._characterise(m.pev_mac, s, now)

    def _characterise(self, pev: bytes, s: _Session, now: float) -> None:
        """Average the profiles group by group (ISO 15118-3 §A.9.2.3), answer CM_ATTEN_CHAR."""
        if not s.profiles:
            return self._drop(pev, FailReason.NO_SOUNDS)
        groups = min(len(p) for p in s.profiles)
        n = len(s.profiles)
        s.aag = bytes((sum(p[g] for p in s.profiles) * 2 + n) // (2 * n) for g in range(groups))
        s.attenuation = average_attenuation(s.aag)
        s.move(Step.CHARACTERISED)
        self._send_atten_char(pev, s, now)

    def _send_atten_char(self, pev: bytes, s: _Session, now: float) -> None:
        s.tries += 1
        self._send(pev, CmAttenCharInd(source_address=pev, run_id=s.run_id,
                                       num_sounds=len(s.profiles), num_groups=len(s.aag),
                                       aag=s.aag))  # fmt: skip
        self._timers[PeerTimer(Timer.SESSION, pev)] = now + c.TT_MATCH_RESPONSE

    def _on_atten_char_rsp(self, frame: Frame, now: float) -> None:
        m = frame.message
        assert isinstance(m, CmAttenCharRsp)
        s = self._current(frame, m.run_id)
        if s is None:
            return
        if m.result != 0:
            return self._drop(frame.src, FailReason.ATTEN_CHAR_REFUSED)
        s.move(CmAttenCharRsp)
        self._timers[PeerTimer(Timer.SESSION, frame.src)] = now + c.TT_EVSE_MATCH_SESSION

    def _on_validate_req(self, frame: Frame, now: float) -> None:
        """Two exchanges (§A.9.4): Timer 0 asks whether we can validate; then Timer = the
        window in which the EV toggles its CP, answered when the window closes with the
        number of B->C toggles this EVSE saw."""
        m = frame.message
        assert isinstance(m, CmValidateReq)
        pev = frame.src
        s = self.sessions.get(pev)
        if s is None or not SESSION_MOVES.takes(s.state, CmValidateReq):
            return self._ignore()
        if not self.validation or m.signal_type != c.VALIDATE_SIGNAL_S2_TOGGLES:
            return self._send(pev, CmValidateCnf(result=c.VALIDATE_NOT_REQUIRED))
        busy = self._validating not in (b"", pev)
        if m.timer == 0 and VALIDATION_MOVES.takes(s.validation, Step.READY):  # step 1, again
            if not busy:  # the CP is ours until the result (or the session ends)
                s.validation_move(Step.READY)
                self._validating = pev
            result = c.VALIDATE_NOT_READY if busy else c.VALIDATE_READY
            return self._send(pev, CmValidateCnf(result=result))
        if m.timer and s.validation is Validation.READY and not busy:  # step 2: count toggles
            if m.timer + 1 > round(c.TT_EVSE_VALD_TOGGLE / c.VALD_TIMER_UNIT):
                s.validation_move(Step.FAIL)
                self._validating = b""
                return self._send(pev, CmValidateCnf(result=c.VALIDATE_FAILURE))
            s.validation_move(CmValidateReq)
            s.toggles = 0
            self._timers[PeerTimer(Timer.VALIDATION, pev)] = now + (m.timer + 1) * c.VALD_TIMER_UNIT
        elif m.timer and s.validation is Validation.DONE:  # our answer got lost: the same again
            self._send_validated(pev, s)
        else:
            self._ignore()

    def _validated(self, pev: bytes) -> None:
        s = self.sessions.get(pev)
        if self._validating == pev:
            self._validating = b""
        if s is not None and s.validation is Validation.COUNTING:
            s.validation_move(Timer.VALIDATION)
            self._send_validated(pev, s)

    def _send_validated(self, pev: bytes, s: _Session) -> None:
        self._send(pev, CmValidateCnf(result=c.VALIDATE_SUCCESS, toggle_num=s.toggles))

    def _on_match_req(self, frame: Frame, now: float) -> None:
        m = frame.message
        assert isinstance(m, CmSlacMatchReq)
        pev = frame.src
        s = self._current(frame, m.run_id)
        if s is None:
            return
        first = s.state is not SessionState.MATCHED  # a repeat: our CNF got lost, send it again
        if first and s.attenuation > self.threshold:
            return self._drop(pev, FailReason.ATTENUATION_TOO_HIGH)
        if first and any(
            o.attenuation < s.attenuation for k, o in self.sessions.items() if k != pev
        ):
            return self._ignore()  # cross-talk: a closer EV is in this EVSE's run
        # Table A.7: the CNF names both ends - the EV's PEV_ID as it sent it, our EVSE_ID
        self._send(pev, CmSlacMatchCnf(pev_mac=pev, evse_mac=self.mac, run_id=s.run_id,
                                       nid=self.nid, nmk=self.nmk, pev_id=m.pev_id,
                                       evse_id=self.evse_id))  # fmt: skip
        if first:
            self._match(pev, s, now)

    def _match(self, pev: bytes, s: _Session, now: float) -> None:
        s.move(CmSlacMatchReq)
        self._move(Step.MATCHED)
        self.sessions = {pev: s}
        self._validating = b""
        self._timers = {k: v for k, v in self._timers.items() if k is Timer.KEY}
        self._emit(Matched(pev, s.run_id, self.nid, self.nmk, s.attenuation))
        if self.confirm_link:
            self._start_join(pev, self.nid, now)
        else:
            self._emit(LinkReady(pev, self.nid))
