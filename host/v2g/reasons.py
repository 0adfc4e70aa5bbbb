"""Why a V2G session ended, as the one-byte code operators grep the communication log for
(``reason=0x08`` is a TLS handshake that timed out). This table is the only place the codes
are defined; host/secc/README.md lists them, and ``classify`` maps what the session machine
and the connection said onto them.

Codes are stable: add new ones at the end, never renumber (logs outlive releases).
"""

from __future__ import annotations

from dataclasses import dataclass

from host.secc.core import EndReason

from .session import CloseReason


@dataclass(frozen=True, slots=True)
class StopReason:
    code: int
    name: str
    text: str

    @property
    def hex(self) -> str:
        return f"0x{self.code:02X}"


SESSION_STOP = StopReason(0x00, "SESSION_STOP", "SessionStopReq(Terminate) answered: normal end")
PAUSED = StopReason(0x01, "PAUSED", "SessionStopReq(Pause) answered: the EV may rejoin")
SHUTDOWN = StopReason(0x02, "SHUTDOWN", "the SECC server closed under the session")
SETUP_TIMEOUT = StopReason(0x03, "SETUP_TIMEOUT",
                           "V2G_SECC_CommunicationSetup_Timeout: no SessionSetupReq in time")
SEQUENCE_TIMEOUT = StopReason(0x04, "SEQUENCE_TIMEOUT",
                              "V2G_SECC_Sequence_Timeout: no next request in time")
ONGOING_TIMEOUT = StopReason(0x05, "ONGOING_TIMEOUT",
                             "an EVSEProcessing=Ongoing phase (authorization, cable check, "
                             "pre-charge) ran past its limit")
SEQUENCE_ERROR = StopReason(0x06, "SEQUENCE_ERROR", "FAILED_SequenceError answered")
UNKNOWN_SESSION = StopReason(0x07, "UNKNOWN_SESSION", "FAILED_UnknownSession answered")
TLS_TIMEOUT = StopReason(0x08, "TLS_TIMEOUT",
                         "TLS handshake not done within V2G_SECC_CommunicationSetup_Timeout")
TLS_FAILED = StopReason(0x09, "TLS_FAILED", "TLS handshake failed")
SIGNATURE = StopReason(0x0A, "SIGNATURE", "FAILED_SignatureError answered")
CERTIFICATE = StopReason(0x0B, "CERTIFICATE",
                         "a FAILED_Certificate* / FAILED_NoCertificateAvailable answered")
REFUSED = StopReason(0x0C, "REFUSED", "another FAILED_* code answered (named in the line)")
CONNECTION_LOST = StopReason(0x0D, "CONNECTION_LOST", "the EV closed or reset the connection")
BAD_V2GTP = StopReason(0x0E, "BAD_V2GTP", "a V2GTP header refused (version, type, length)")
UNDECODABLE = StopReason(0x0F, "UNDECODABLE", "an EXI body that does not decode to a request")
NO_NEGOTIATION = StopReason(0x10, "NO_NEGOTIATION",
                            "supportedAppProtocol failed (malformed, or no common protocol)")
INTERNAL = StopReason(0x11, "INTERNAL", "our bug: the session driver raised")

ALL: tuple[StopReason, ...] = (
    SESSION_STOP, PAUSED, SHUTDOWN, SETUP_TIMEOUT, SEQUENCE_TIMEOUT, ONGOING_TIMEOUT,
    SEQUENCE_ERROR, UNKNOWN_SESSION, TLS_TIMEOUT, TLS_FAILED, SIGNATURE, CERTIFICATE,
    REFUSED, CONNECTION_LOST, BAD_V2GTP, UNDECODABLE, NO_NEGOTIATION, INTERNAL)  # fmt: skip

_BY_END = {
    EndReason.SEQUENCE_ERROR: SEQUENCE_ERROR, EndReason.UNKNOWN_SESSION: UNKNOWN_SESSION,
    EndReason.SETUP_TIMEOUT: SETUP_TIMEOUT, EndReason.SEQUENCE_TIMEOUT: SEQUENCE_TIMEOUT,
    EndReason.ONGOING_TIMEOUT: ONGOING_TIMEOUT, EndReason.UNDECODABLE: UNDECODABLE,
    EndReason.CONNECTION_LOST: CONNECTION_LOST,
}  # fmt: skip
_BY_CLOSE = {
    CloseReason.BAD_HEADER: BAD_V2GTP, CloseReason.BAD_HANDSHAKE: NO_NEGOTIATION,
    CloseReason.NO_NEGOTIATION: NO_NEGOTIATION, CloseReason.SETUP_TIMEOUT: SETUP_TIMEOUT,
    CloseReason.PEER_CLOSED: CONNECTION_LOST, CloseReason.SHUTDOWN: SHUTDOWN,
    CloseReason.FINISHED: SESSION_STOP,
}  # fmt: skip


def by_failed_code(code: str) -> StopReason:
    """The reason for a session ended by answering FAILED code ``code``."""
    if code == "FAILED_SequenceError":
        return SEQUENCE_ERROR
    if code == "FAILED_UnknownSession":
        return UNKNOWN_SESSION
    if code == "FAILED_SignatureError":
        return SIGNATURE
    if code.startswith("FAILED_Certificate") or code == "FAILED_NoCertificateAvailable":
        return CERTIFICATE
    return REFUSED


def classify(close: CloseReason, end: EndReason | None, last_code: str,
             paused: bool) -> StopReason:  # fmt: skip
    """The reason for a connection that closed for ``close``, after its session machine
    ended for ``end`` (None: no machine, or it never ended), ``last_code`` being the last
    response code answered and ``paused`` whether the last request was SessionStop(Pause).
    A shutdown or a bad V2GTP header is what ended the session even though the machine then
    reports the connection as lost."""
    if close in (CloseReason.SHUTDOWN, CloseReason.BAD_HEADER) or end is None:
        return _BY_CLOSE[close]
    if end is EndReason.STOPPED:
        return PAUSED if paused else SESSION_STOP
    if end is EndReason.FAILED:
        return by_failed_code(last_code)
    return _BY_END[end]
