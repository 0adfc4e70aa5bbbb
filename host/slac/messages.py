"""SLAC and modem MMEs: bytes <-> frozen dataclasses, Ethernet header included.

HomePlug Green PHY 1.1 §11.1 (MME framing) and ISO 15118-3:2015 Annex A (Tables A.2-A.8)
for the SLAC payloads; the Qualcomm vendor MMEs (``vendor``, re-exported here) follow
open-plc-utils' structures. Multi-byte integers of HomePlug are little-endian; MAC
addresses, ids and keys are byte strings.

Each payload class lists its fields once (``FIELDS``); one reader and one writer walk that
list, so a message is defined in one place. ``pull_frame(buf)`` / ``push_frame(frame)`` are
the pair for whole frames; ``maybe_read_frame(data)`` returns ``None`` while the input is
incomplete. Readers consume only the defined fields: padding and cipher-suite extensions
are left as trailing bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import constants as c
from .errors import LocalProtocolError, NeedMoreData, RemoteProtocolError
from .mme import Buffer, Field, Message
from .vendor import (  # noqa: F401  (re-exported: the frame reader knows every message)
    Network,
    NetworkStation,
    ToneMap,
    VsLinkStatusCnf,
    VsLinkStatusReq,
    VsNwInfoCnf,
    VsNwInfoReq,
    VsRsDevCnf,
    VsRsDevReq,
    VsSwVerCnf,
    VsSwVerReq,
    VsToneMapCharCnf,
    VsToneMapCharReq,
)

APP = ("application_type", "u8")
SEC = ("security_type", "u8")
RUN_ID = ("run_id", c.RUN_ID_LEN)
_SLAC = {"application_type": c.APPLICATION_TYPE_PEV_EVSE, "security_type": c.SECURITY_TYPE_NONE}
_ZERO_ID = bytes(c.STATION_ID_LEN)


@dataclass(frozen=True)
class CmSetKeyReq(Message):
    """CM_SET_KEY.REQ, host -> its own modem: the NMK/NID of the logical network.

    ISO 15118-3 Table A.8; HPGP §11.5.4."""

    MMTYPE = c.CM_SET_KEY | c.MMTYPE_REQ
    FIELDS = (("key_type", "u8"), ("my_nonce", "u32"), ("your_nonce", "u32"), ("pid", "u8"),
              ("prn", "u16"), ("pmn", "u8"), ("cco_capability", "u8"), ("nid", c.NID_LEN),
              ("new_eks", "u8"), ("new_key", c.NMK_LEN))  # fmt: skip
    nid: bytes
    new_key: bytes
    key_type: int = c.KEY_TYPE_NMK
    my_nonce: int = 0xAAAAAAAA
    your_nonce: int = 0
    pid: int = c.PID_HLE
    prn: int = 0
    pmn: int = 0
    cco_capability: int = 0
    new_eks: int = c.NEW_EKS_NMK


@dataclass(frozen=True)
class CmSetKeyCnf(Message):
    """CM_SET_KEY.CNF, modem -> host; ``result`` 0 is success in HPGP §11.5.5, but QCA modems
    send 1 on success (see constants.SET_KEY_SUCCESS_RESULTS)."""

    MMTYPE = c.CM_SET_KEY | c.MMTYPE_CNF
    FIELDS = (("result", "u8"), ("my_nonce", "u32"), ("your_nonce", "u32"), ("pid", "u8"),
              ("prn", "u16"), ("pmn", "u8"), ("cco_capability", "u8"))  # fmt: skip
    result: int = c.SET_KEY_RESULT_SUCCESS
    my_nonce: int = 0
    your_nonce: int = 0xAAAAAAAA
    pid: int = c.PID_HLE
    prn: int = 0
    pmn: int = 0
    cco_capability: int = 0


@dataclass(frozen=True)
class CmSlacParmReq(Message):
    """CM_SLAC_PARM.REQ, EV broadcast opening a run (ISO 15118-3 Table A.2)."""

    MMTYPE = c.CM_SLAC_PARM | c.MMTYPE_REQ
    FIELDS = (APP, SEC, RUN_ID)
    run_id: bytes
    application_type: int = _SLAC["application_type"]
    security_type: int = _SLAC["security_type"]


@dataclass(frozen=True)
class CmSlacParmCnf(Message):
    """CM_SLAC_PARM.CNF, EVSE -> EV: sounding parameters (ISO 15118-3 Table A.2)."""

    MMTYPE = c.CM_SLAC_PARM | c.MMTYPE_CNF
    FIELDS = (("msound_target", 6), ("num_sounds", "u8"), ("time_out", "u8"),
              ("resp_type", "u8"), ("forwarding_sta", 6), APP, SEC, RUN_ID)  # fmt: skip
    forwarding_sta: bytes
    run_id: bytes
    msound_target: bytes = c.BROADCAST_MAC
    num_sounds: int = c.C_EV_MATCH_MNBC
    time_out: int = round(c.TT_EVSE_MATCH_MNBC / c.TIME_OUT_UNIT)
    resp_type: int = c.RESP_TYPE_OTHER_GP_STA
    application_type: int = _SLAC["application_type"]
    security_type: int = _SLAC["security_type"]


@dataclass(frozen=True)
class CmStartAttenCharInd(Message):
    """CM_START_ATTEN_CHAR.IND, EV broadcast before the sounds (ISO 15118-3 Table A.4)."""

    MMTYPE = c.CM_START_ATTEN_CHAR | c.MMTYPE_IND
    FIELDS = (APP, SEC, ("num_sounds", "u8"), ("time_out", "u8"), ("resp_type", "u8"),
              ("forwarding_sta", 6), RUN_ID)  # fmt: skip
    forwarding_sta: bytes
    run_id: bytes
    num_sounds: int = c.C_EV_MATCH_MNBC
    time_out: int = round(c.TT_EVSE_MATCH_MNBC / c.TIME_OUT_UNIT)
    resp_type: int = c.RESP_TYPE_OTHER_GP_STA
    application_type: int = _SLAC["application_type"]
    security_type: int = _SLAC["security_type"]


@dataclass(frozen=True)
class CmMnbcSoundInd(Message):
    """CM_MNBC_SOUND.IND, EV broadcast sound; ``cnt`` counts the sounds left (Table A.4)."""

    MMTYPE = c.CM_MNBC_SOUND | c.MMTYPE_IND
    FIELDS = (APP, SEC, ("sender_id", c.STATION_ID_LEN), ("cnt", "u8"), RUN_ID,
              ("reserved", 8), ("rnd", 16))  # fmt: skip
    cnt: int
    run_id: bytes
    rnd: bytes = bytes(16)
    sender_id: bytes = _ZERO_ID
    reserved: bytes = bytes(8)
    application_type: int = _SLAC["application_type"]
    security_type: int = _SLAC["security_type"]


@dataclass(frozen=True)
class CmAttenProfileInd(Message):
    """CM_ATTEN_PROFILE.IND, EVSE modem -> EVSE host: the attenuation of one sound, per
    group in dB (ISO 15118-3 Table A.4)."""

    MMTYPE = c.CM_ATTEN_PROFILE | c.MMTYPE_IND
    FIELDS = (("pev_mac", 6), ("num_groups", "u8"), ("reserved", "u8"), ("aag", "*num_groups"))
    pev_mac: bytes
    num_groups: int
    aag: bytes
    reserved: int = 0


@dataclass(frozen=True)
class CmAttenCharInd(Message):
    """CM_ATTEN_CHAR.IND, EVSE -> EV: the averaged profile of a run (Table A.4)."""

    MMTYPE = c.CM_ATTEN_CHAR | c.MMTYPE_IND
    FIELDS = (APP, SEC, ("source_address", 6), RUN_ID, ("source_id", c.STATION_ID_LEN),
              ("resp_id", c.STATION_ID_LEN), ("num_sounds", "u8"), ("num_groups", "u8"),
              ("aag", "*num_groups"))  # fmt: skip
    source_address: bytes
    run_id: bytes
    num_sounds: int
    num_groups: int
    aag: bytes
    source_id: bytes = _ZERO_ID
    resp_id: bytes = _ZERO_ID
    application_type: int = _SLAC["application_type"]
    security_type: int = _SLAC["security_type"]


@dataclass(frozen=True)
class CmAttenCharRsp(Message):
    """CM_ATTEN_CHAR.RSP, EV -> EVSE; result 0 is success (Table A.4)."""

    MMTYPE = c.CM_ATTEN_CHAR | c.MMTYPE_RSP
    FIELDS = (APP, SEC, ("source_address", 6), RUN_ID, ("source_id", c.STATION_ID_LEN),
              ("resp_id", c.STATION_ID_LEN), ("result", "u8"))  # fmt: skip
    source_address: bytes
    run_id: bytes
    result: int = 0
    source_id: bytes = _ZERO_ID
    resp_id: bytes = _ZERO_ID
    application_type: int = _SLAC["application_type"]
    security_type: int = _SLAC["security_type"]


@dataclass(frozen=True)
class CmValidateReq(Message):
    """CM_VALIDATE.REQ, EV -> EVSE: optional BCB-toggle validation (Table A.6)."""

    MMTYPE = c.CM_VALIDATE | c.MMTYPE_REQ
    FIELDS = (("signal_type", "u8"), ("timer", "u8"), ("result", "u8"))
    timer: int = 0
    result: int = c.VALIDATE_READY
    signal_type: int = 0


@dataclass(frozen=True)
class CmValidateCnf(Message):
    """CM_VALIDATE.CNF, EVSE -> EV (Table A.6)."""

    MMTYPE = c.CM_VALIDATE | c.MMTYPE_CNF
    FIELDS = (("signal_type", "u8"), ("toggle_num", "u8"), ("result", "u8"))
    result: int
    toggle_num: int = 0
    signal_type: int = 0


_MATCH_FIELDS: tuple[Field, ...] = (
    APP, SEC, ("mvf_length", "u16"), ("pev_id", c.STATION_ID_LEN), ("pev_mac", 6),
    ("evse_id", c.STATION_ID_LEN), ("evse_mac", 6), RUN_ID, ("reserved", 8),
)  # fmt: skip


@dataclass(frozen=True)
class CmSlacMatchReq(Message):
    """CM_SLAC_MATCH.REQ, EV -> chosen EVSE (ISO 15118-3 Table A.7)."""

    MMTYPE = c.CM_SLAC_MATCH | c.MMTYPE_REQ
    FIELDS = _MATCH_FIELDS
    pev_mac: bytes
    evse_mac: bytes
    run_id: bytes
    mvf_length: int = c.MATCH_REQ_MVF_LENGTH
    pev_id: bytes = _ZERO_ID
    evse_id: bytes = _ZERO_ID
    reserved: bytes = bytes(8)
    application_type: int = _SLAC["application_type"]
    security_type: int = _SLAC["security_type"]


@dataclass(frozen=True)
class CmSlacMatchCnf(Message):
    """CM_SLAC_MATCH.CNF, EVSE -> EV: the NID and NMK of the EVSE's network (Table A.7)."""

    MMTYPE = c.CM_SLAC_MATCH | c.MMTYPE_CNF
    FIELDS = _MATCH_FIELDS + (("nid", c.NID_LEN), ("reserved2", "u8"), ("nmk", c.NMK_LEN))
    pev_mac: bytes
    evse_mac: bytes
    run_id: bytes
    nid: bytes
    nmk: bytes
    mvf_length: int = c.MATCH_CNF_MVF_LENGTH
    pev_id: bytes = _ZERO_ID
    evse_id: bytes = _ZERO_ID
    reserved: bytes = bytes(8)
    reserved2: int = 0
    application_type: int = _SLAC["application_type"]
    security_type: int = _SLAC["security_type"]


MESSAGES: dict[int, type[Message]] = {
    cls.MMTYPE: cls
    for cls in (CmSetKeyReq, CmSetKeyCnf, CmSlacParmReq, CmSlacParmCnf, CmStartAttenCharInd,
                CmMnbcSoundInd, CmAttenProfileInd, CmAttenCharInd, CmAttenCharRsp,
                CmValidateReq, CmValidateCnf, CmSlacMatchReq, CmSlacMatchCnf, VsSwVerReq,
                VsSwVerCnf, VsRsDevReq, VsRsDevCnf, VsLinkStatusReq, VsLinkStatusCnf,
                VsNwInfoReq, VsNwInfoCnf, VsToneMapCharReq, VsToneMapCharCnf)
}  # fmt: skip


def is_vendor(mmtype: int) -> bool:
    return c.VENDOR_MMTYPE_MIN <= mmtype <= c.VENDOR_MMTYPE_MAX


@dataclass(frozen=True)
class Frame:
    """One MME on the wire: Ethernet header, MME header and payload (HPGP §11.1.1).

    ``mmv`` 1 frames carry the fragmentation field (``fmi``: FMSN, FMID); vendor MMEs are
    MMV 0 and carry the OUI instead."""

    dst: bytes
    src: bytes
    message: Message
    mmv: int = -1  # -1: the usual one for the message (0 vendor, 1 otherwise)
    fmi: int = 0

    def __post_init__(self) -> None:
        if self.mmv == -1:
            mmv = self.message.MMV
            if mmv is None:
                mmv = c.MMV_HPAV_1_0 if is_vendor(self.message.MMTYPE) else c.MMV_HPAV_1_1
            object.__setattr__(self, "mmv", mmv)


def pull_header(buf: Buffer) -> tuple[bytes, bytes, int, int, int]:
    """Ethernet + MME header -> (dst, src, mmv, mmtype, fmi); HPGP §11.1.1."""
    dst = buf.pull_bytes(6)
    src = buf.pull_bytes(6)
    ethertype = int.from_bytes(buf.pull_bytes(2), "big")
    if ethertype != c.ETH_P_HOMEPLUG:
        raise RemoteProtocolError(f"ethertype {ethertype:#06x} is not HomePlug", "NOT_HOMEPLUG")
    mmv = buf.pull_uint(1)
    mmtype = buf.pull_uint(2)
    fmi = buf.pull_uint(2) if mmv != c.MMV_HPAV_1_0 else 0
    if is_vendor(mmtype):
        oui = buf.pull_bytes(3)
        if oui != c.QUALCOMM_OUI:
            raise RemoteProtocolError(f"vendor OUI {oui.hex()} is not Qualcomm", "UNKNOWN_VENDOR")
    return dst, src, mmv, mmtype, fmi


def push_header(out: bytearray, frame: Frame) -> None:
    out += frame.dst + frame.src + c.ETH_P_HOMEPLUG.to_bytes(2, "big")
    out += bytes([frame.mmv]) + frame.message.MMTYPE.to_bytes(2, "little")
    if frame.mmv != c.MMV_HPAV_1_0:
        out += frame.fmi.to_bytes(2, "little")
    if is_vendor(frame.message.MMTYPE):
        out += c.QUALCOMM_OUI


def pull_frame(buf: Buffer) -> Frame:
    dst, src, mmv, mmtype, fmi = pull_header(buf)
    cls = MESSAGES.get(mmtype)
    if cls is None:
        raise RemoteProtocolError(f"MMTYPE {mmtype:#06x} is not one we read", "UNKNOWN_MMTYPE")
    return Frame(dst, src, cls.pull(buf), mmv, fmi)


def push_frame(frame: Frame, pad: bool = True) -> bytes:
    """Frame -> bytes, zero-padded to the 60-byte Ethernet minimum unless ``pad`` is off."""
    if len(frame.dst) != 6 or len(frame.src) != 6:
        raise LocalProtocolError("MAC addresses are 6 bytes")
    out = bytearray()
    push_header(out, frame)
    frame.message.push(out)
    if pad and len(out) < c.ETH_MIN_FRAME:
        out += bytes(c.ETH_MIN_FRAME - len(out))
    return bytes(out)


def maybe_read_frame(data: bytes) -> tuple[Frame, int] | None:
    """(frame, bytes consumed), or None while ``data`` is a prefix of a frame.

    Raises RemoteProtocolError (with ``code``) for input that no more bytes can mend."""
    buf = Buffer(data)
    try:
        frame = pull_frame(buf)
    except NeedMoreData:
        return None
    return frame, buf.pos


def parse_frame(data: bytes) -> Frame:
    """A received frame; a short one is an error here (the wire gives whole frames)."""
    result = maybe_read_frame(data)
    if result is None:
        raise NeedMoreData(f"{len(data)}-byte frame ends inside its MME")
    return result[0]


def station_id(value: bytes | str) -> bytes:
    """A PEV_ID / EVSE_ID field (ISO 15118-3 Table A.7: 17 octets): the id, zero-padded."""
    raw = value.encode() if isinstance(value, str) else bytes(value)
    if len(raw) > c.STATION_ID_LEN:
        raise LocalProtocolError(
            f"station id {value!r} is {len(raw)} octets; the SLAC field holds {c.STATION_ID_LEN}"
        )
    return raw.ljust(c.STATION_ID_LEN, b"\0")


def mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def average_attenuation(aag: bytes) -> float:
    """Mean attenuation over the groups of a profile, in dB (ISO 15118-3 §A.9.2)."""
    return sum(aag) / len(aag) if aag else float("inf")
