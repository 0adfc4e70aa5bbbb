"""What the EVSE and EV machines share: the sans-I/O surface, timers, and the local modem.

Both sides talk to their own modem the same way: CM_SET_KEY (confirmed, with retries) and,
once matched, polling the Qualcomm link status until the modem has joined the logical
network (ISO 15118-3 §9.6, TT_match_join), then watching it while the link is up.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Collection

from . import constants as c
from .errors import RemoteProtocolError
from .events import Event, FailReason, KeySet, LinkLost, LinkReady, MatchFailed
from .messages import (
    CmSetKeyCnf,
    CmSetKeyReq,
    Frame,
    Message,
    VsLinkStatusCnf,
    VsLinkStatusReq,
    parse_frame,
    push_frame,
)
from .states import LINK_MOVES, LinkState, Step, Timer, TimerKey

LINK_MONITOR_INTERVAL = 1.0  # local choice: link-status poll period once the link is up


def nid_from_nmk(nmk: bytes, security_level: int = 0) -> bytes:
    """NID for an NMK: HPGP §4.4.3.1 as open-plc-utils' HPAVKeyNID computes it (5 SHA-256
    rounds, 52 bits of digest, security level in bits 4-5 of the last byte)."""
    digest = nmk
    for _ in range(5):
        digest = hashlib.sha256(digest).digest()
    return digest[:6] + bytes([(digest[6] >> 4) | (security_level << 4)])


class SlacMachine:
    """Sans-I/O core: ``receive(data, now)``, ``handle_timer(now)``, ``get_timer()``,
    ``next_event()``, ``data_to_send()``. Subclasses register handlers per message type."""

    # messages taken whatever their destination address (the local modem's reports)
    _any_dst: tuple[type[Message], ...] = ()

    def __init__(self, mac: bytes, *, modem_mac: bytes = c.QCA_LOCAL_MAC,
                 rng: Callable[[int], bytes],
                 set_key_success: Collection[int] = c.SET_KEY_SUCCESS_RESULTS) -> None:  # fmt: skip
        self.mac = mac
        # CM_SET_KEY.CNF results taken as success: 0x00 (HPGP) and 0x01 (QCA firmware) unless
        # narrowed to what one's modem is known to send
        self.set_key_success = frozenset(set_key_success)
        self.modem_mac = modem_mac
        self.rng = rng
        self.ignored = 0  # frames dropped as malformed, misaddressed, late or duplicate
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self._timers: dict[TimerKey, float] = {}
        self._handlers: dict[type[Message], Callable[[Frame, float], None]] = {
            CmSetKeyCnf: self._on_set_key_cnf,
            VsLinkStatusCnf: self._on_link_status_cnf,
        }
        self._key: tuple[bytes, bytes] | None = None  # (nid, nmk) being set
        self._key_tries = 0
        self._link = LinkState.DOWN
        self._link_peer = b""
        self._link_nid = b""

    # --- the sans-I/O surface --------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        try:
            frame = parse_frame(data)
        except RemoteProtocolError:
            self.ignored += 1
            return
        handler = self._handlers.get(type(frame.message))
        addressed = frame.dst in (self.mac, c.BROADCAST_MAC) or type(frame.message) in self._any_dst
        if handler is None or frame.src == self.mac or not addressed:
            self.ignored += 1
            return
        handler(frame, now)

    def handle_timer(self, now: float) -> None:
        for key, deadline in sorted(self._timers.items(), key=lambda item: item[1]):
            if deadline <= now and self._timers.get(key) == deadline:
                del self._timers[key]
                self._on_timer(key, now)

    def get_timer(self) -> float | None:
        return min(self._timers.values(), default=None)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    # --- helpers for subclasses -----------------------------------------------------------

    def _send(self, dst: bytes, message: Message) -> None:
        self._out.append(push_frame(Frame(dst, self.mac, message)))

    def _emit(self, event: Event) -> None:
        self._events.append(event)

    def _ignore(self) -> None:
        self.ignored += 1

    def _on_timer(self, key: TimerKey, now: float) -> None:
        if key is Timer.KEY:
            self._retry_key(now)
        elif key is Timer.LINK_POLL:
            self._poll_link(now)
        elif key is Timer.JOIN:
            self._timers.pop(Timer.LINK_POLL, None)
            self._link = LINK_MOVES.after(self._link, Timer.JOIN)
            self._on_match_failed(FailReason.JOIN_TIMEOUT, now)

    def _on_key_set(self, nid: bytes, now: float) -> None:
        """Hook: the modem confirmed the key."""

    def _on_match_failed(self, reason: FailReason, now: float) -> None:
        self._emit(MatchFailed(reason))

    # --- CM_SET_KEY to the local modem (ISO 15118-3 Table A.8) ----------------------------

    def _set_key(self, nid: bytes, nmk: bytes, now: float) -> None:
        self._key = (nid, nmk)
        self._key_tries = 0
        self._retry_key(now)

    def _retry_key(self, now: float) -> None:
        if self._key is None:
            return
        if self._key_tries > c.MODEM_RETRIES:
            self._key = None
            self._on_match_failed(FailReason.MODEM_NO_SET_KEY_CNF, now)
            return
        self._key_tries += 1
        nid, nmk = self._key
        self._send(self.modem_mac, CmSetKeyReq(nid=nid, new_key=nmk))
        self._timers[Timer.KEY] = now + c.MODEM_TIMEOUT

    def _on_set_key_cnf(self, frame: Frame, now: float) -> None:
        if self._key is None:
            return self._ignore()
        nid = self._key[0]
        self._key = None
        self._timers.pop(Timer.KEY, None)
        assert isinstance(frame.message, CmSetKeyCnf)
        if frame.message.result not in self.set_key_success:
            return self._on_match_failed(FailReason.MODEM_REFUSED_KEY, now)
        self._emit(KeySet(nid))
        self._on_key_set(nid, now)

    # --- joining and watching the logical network -----------------------------------------

    def _start_join(self, peer: bytes, nid: bytes, now: float) -> None:
        self._link = LINK_MOVES.after(self._link, Step.JOIN)
        self._link_peer, self._link_nid = peer, nid
        self._timers[Timer.JOIN] = now + c.TT_MATCH_JOIN
        self._poll_link(now)

    def _poll_link(self, now: float) -> None:
        self._send(self.modem_mac, VsLinkStatusReq())
        joining = self._link is LinkState.JOINING
        self._timers[Timer.LINK_POLL] = now + (c.LINK_POLL_INTERVAL if joining
                                               else LINK_MONITOR_INTERVAL)  # fmt: skip

    def _stop_link(self, why: Step = Step.FAIL) -> None:
        if self._link is not LinkState.DOWN:
            self._link = LINK_MOVES.after(self._link, why)
        for key in (Timer.JOIN, Timer.LINK_POLL):
            self._timers.pop(key, None)

    def _on_link_status_cnf(self, frame: Frame, now: float) -> None:
        assert isinstance(frame.message, VsLinkStatusCnf)
        if not LINK_MOVES.takes(self._link, VsLinkStatusCnf):
            return self._ignore()
        if self._link is LinkState.JOINING and frame.message.up:
            self._link = LINK_MOVES.after(self._link, Step.LINK_UP)
            self._timers.pop(Timer.JOIN, None)
            self._emit(LinkReady(self._link_peer, self._link_nid))
            self._on_link_up(now)
        elif self._link is LinkState.UP and not frame.message.up:
            self._stop_link(Step.LINK_LOST)
            self._emit(LinkLost("D-LINK_ERROR: modem reports no link"))
            self._on_link_lost(now)
        else:
            self._ignore()

    def _on_link_up(self, now: float) -> None:
        """Hook: the modem joined the logical network."""

    def _on_link_lost(self, now: float) -> None:
        """Hook: the link went down by itself."""
