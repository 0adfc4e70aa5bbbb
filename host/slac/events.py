"""Events the SLAC machines report, and the reasons a match fails."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FailReason(StrEnum):
    """Why a run ended without a link; the text is what a person reads."""

    MODEM_NO_SET_KEY_CNF = "local modem did not confirm CM_SET_KEY"
    MODEM_REFUSED_KEY = "local modem refused CM_SET_KEY"
    SLAC_INIT_TIMEOUT = "no CM_SLAC_PARM.REQ within TT_EVSE_SLAC_init"
    NO_PARM_CNF = "no CM_SLAC_PARM.CNF from any EVSE"
    NO_START_ATTEN_CHAR = "no CM_START_ATTEN_CHAR.IND within TT_match_sequence"
    NO_SOUNDS = "modem reported no CM_ATTEN_PROFILE.IND for the EV's sounds"
    NO_ATTEN_CHAR_RSP = "no CM_ATTEN_CHAR.RSP after the retries"
    ATTEN_CHAR_REFUSED = "EV answered CM_ATTEN_CHAR.RSP with a failure"
    NO_ATTEN_CHAR = "no CM_ATTEN_CHAR.IND within TT_EV_atten_results"
    ATTENUATION_TOO_HIGH = "attenuation above the threshold"
    NO_EVSE_UNDER_THRESHOLD = "every EVSE that answered was heard above the attenuation threshold"
    NO_MATCH_REQ = "no CM_SLAC_MATCH.REQ within TT_EVSE_match_session"
    NO_MATCH_CNF = "no CM_SLAC_MATCH.CNF after the retries"
    NO_VALIDATE_CNF = "no CM_VALIDATE.CNF after the retries"
    VALIDATION_NOT_READY = "EVSE not ready to validate (another EV is toggling its CP)"
    VALIDATION_FAILED = "EVSE counted a different number of CP toggles (not our EVSE)"
    JOIN_TIMEOUT = "modem did not join the logical network within TT_match_join"
    UNPLUGGED = "CP left state B/C/D"


@dataclass(frozen=True)
class KeySet:
    """The local modem confirmed CM_SET_KEY (a fresh NMK/NID, or the EVSE's after a match)."""

    nid: bytes


@dataclass(frozen=True)
class MatchStarted:
    """A CM_SLAC_PARM exchange opened a run with ``peer_mac``."""

    peer_mac: bytes
    run_id: bytes


@dataclass(frozen=True)
class Matched:
    """CM_SLAC_MATCH.CNF went out (EVSE) or came in (EV)."""

    peer_mac: bytes
    run_id: bytes
    nid: bytes
    nmk: bytes
    attenuation_db: float


@dataclass(frozen=True)
class ToggleCp:
    """EV only: toggle S2 for the EVSE ``peer_mac`` to count (validation, ISO 15118-3 §A.9.4):
    from now, ``toggles`` times, stay ``state_s`` in B, then ``state_s`` in C; end in B."""

    peer_mac: bytes
    toggles: int
    state_s: float


@dataclass(frozen=True)
class LinkReady:
    """D-LINK_READY: both modems are in the same logical network (ISO 15118-3 §9.6)."""

    peer_mac: bytes
    nid: bytes


@dataclass(frozen=True)
class LinkLost:
    """D-LINK_TERMINATE / D-LINK_ERROR: the logical network was left or broke."""

    reason: str


@dataclass(frozen=True)
class MatchFailed:
    """A run ended without a match; ``retrying`` says whether the machine tries again."""

    reason: FailReason
    retrying: bool = False


Event = KeySet | MatchStarted | Matched | ToggleCp | LinkReady | LinkLost | MatchFailed
