"""A stand-in for a QCA7000 on a veth pair (tests and bench), sans-I/O.

On a veth pair there is no power line and no modem. The simulator for host H's modem runs
on the *other* end of the pair: what H sends arrives there as incoming frames (H's requests
to its modem), what the simulator sends arrives at H, and what the far host sends shows up
there as outgoing frames (seen with ETH_P_ALL) - its sounds, for which the modem reports a
CM_ATTEN_PROFILE.IND to H, and its CM_SET_KEY (or, from an EVSE, the CM_SLAC_MATCH.CNF that
carries its NMK), from which the simulator knows whether both modems share an NMK (the link
status).
"""

from __future__ import annotations

from host.slac import constants as c
from host.slac.errors import RemoteProtocolError
from host.slac.messages import (
    CmAttenProfileInd,
    CmMnbcSoundInd,
    CmSetKeyCnf,
    CmSetKeyReq,
    CmSlacMatchCnf,
    Frame,
    Message,
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
    is_vendor,
    parse_frame,
    push_frame,
)

FAR_MODEM_MAC = b"\x00\xb0\x52\x00\x00\x02"  # how a simulator reports the modem it is linked to
SIM_VERSION = b"MAC-QCA7000-1.2.5.3207-00-20180927-CS (v2gate modem simulator)"
# HomePlug Green PHY ROBO: every carrier QPSK (code 2); a bench run can pass its own map
SIM_TONE_MAP = (2,) * 917
TONE_MAP_REFUSED = 0x01  # MSTATUS for a station the modem holds no tone map for


class ModemSim:
    """``handle(frame, outgoing)`` -> frames to send on the simulator's end."""

    def __init__(self, *, mac: bytes = c.QCA_LOCAL_MAC, attenuation_db: int = 20,
                 version: bytes | None = SIM_VERSION, answer_set_key: bool = True,
                 set_key_result: int = c.SET_KEY_RESULT_SUCCESS_QCA, qualcomm: bool = True,
                 attenuation_by_mac: dict[bytes, int] | None = None,
                 phy_rate_mbps: tuple[int, int] = (9, 9),
                 tone_map: tuple[int, ...] | None = SIM_TONE_MAP) -> None:  # fmt: skip
        self.mac = mac
        self.attenuation_db = attenuation_db
        self.attenuation_by_mac = attenuation_by_mac or {}  # per sounding EV, for cross-talk
        self.version = version
        self.answer_set_key = answer_set_key
        # what a QCA7000/7005 answers to a key it took: 0x01 (HomePlug AV 1.0), not HPGP's 0x00
        self.set_key_result = set_key_result
        self.qualcomm = qualcomm  # False: another vendor's Green PHY modem, deaf to QCA's MMEs
        self.host = c.BROADCAST_MAC  # learnt from the first request
        self.nmk: bytes | None = None  # the key set on this modem
        self.nid = b""
        self.peer_nmk: bytes | None = None  # the key the far host set on its modem
        self.sounds_seen = 0
        self.phy_rate_mbps = phy_rate_mbps  # (to the far modem, from it), VS_NW_INFO
        self.tone_map = tone_map  # modulation code per carrier; None: refuse the request

    @property
    def linked(self) -> bool:
        return self.nmk is not None and self.nmk == self.peer_nmk

    def handle(self, data: bytes, outgoing: bool) -> list[bytes]:
        try:
            frame = parse_frame(data)
        except RemoteProtocolError:
            return []
        m = frame.message
        if outgoing:  # sent by the far host on this end
            if isinstance(m, CmSetKeyReq):
                self.peer_nmk = m.new_key
            elif isinstance(m, CmSlacMatchCnf):  # the far EVSE's key, when we missed its SET_KEY
                self.peer_nmk = m.nmk
            elif isinstance(m, CmMnbcSoundInd):
                self.sounds_seen += 1
                db = self.attenuation_by_mac.get(frame.src, self.attenuation_db)
                aag = bytes([db]) * c.NUM_GROUPS
                profile = CmAttenProfileInd(pev_mac=frame.src, num_groups=len(aag), aag=aag)
                return [self._frame(self.host, profile)]
            return []
        if frame.dst != self.mac or frame.src == self.mac:
            return []
        reply = self._answer(frame)
        return [self._frame(frame.src, reply)] if reply is not None else []

    def _answer(self, frame: Frame) -> Message | None:
        m = frame.message
        self.host = frame.src
        if not self.qualcomm and is_vendor(m.MMTYPE):
            return None
        if isinstance(m, CmSetKeyReq):
            if not self.answer_set_key:
                return None
            if self.set_key_result in c.SET_KEY_SUCCESS_RESULTS:
                self.nmk, self.nid = m.new_key, m.nid
            return CmSetKeyCnf(result=self.set_key_result, my_nonce=m.your_nonce,
                               your_nonce=m.my_nonce)  # fmt: skip
        if isinstance(m, VsSwVerReq):
            if self.version is None:
                return None
            return VsSwVerCnf(version_length=len(self.version), version=self.version)
        if isinstance(m, VsRsDevReq):
            self.nmk = None
            return VsRsDevCnf()
        if isinstance(m, VsNwInfoReq):
            tx, rx = self.phy_rate_mbps
            far = (NetworkStation(FAR_MODEM_MAC, 2, tx, rx),) if self.linked else ()
            nets = [Network(self.nid, 0, self.mac, far)] if self.nmk is not None else []
            return VsNwInfoCnf.of(nets)
        if isinstance(m, VsToneMapCharReq):
            if not self.linked or m.mac != FAR_MODEM_MAC or self.tone_map is None:
                return VsToneMapCharCnf(mme_len=0, body=b"", status=TONE_MAP_REFUSED)
            codes = self.tone_map
            return VsToneMapCharCnf.of(ToneMap(m.mac, m.slot, m.coupling, 1, len(codes), codes))
        if isinstance(m, VsLinkStatusReq):
            return VsLinkStatusCnf(link_status=c.LINK_STATUS_UP if self.linked else 0)
        return None

    def _frame(self, dst: bytes, message: Message) -> bytes:
        return push_frame(Frame(dst, self.mac, message))
