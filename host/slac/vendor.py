"""The Qualcomm vendor MMEs a QCA7000/AR7x00 modem answers (MMV 0 or 1, OUI 00:B0:52 after
the MMTYPE): firmware version, reset, link status, network info and tone maps, with the layouts
open-plc-utils' tools read (VersionInfo, NetInfo2, ToneMaps2)."""

from __future__ import annotations

from dataclasses import dataclass

from . import constants as c
from .errors import NeedMoreData, RemoteProtocolError
from .mme import Buffer, Message

# --- Qualcomm vendor MMEs (MMV 0, OUI 00:B0:52 after the MMTYPE) --------------------------


@dataclass(frozen=True)
class VsSwVerReq(Message):
    """VS_SW_VER.REQ: ask the modem for its firmware version (open-plc-utils VersionInfo)."""

    MMTYPE = c.VS_SW_VER | c.MMTYPE_REQ
    FIELDS = ()


@dataclass(frozen=True)
class VsSwVerCnf(Message):
    """VS_SW_VER.CNF: status 0 and the version string (the NUL padding is not read)."""

    MMTYPE = c.VS_SW_VER | c.MMTYPE_CNF
    FIELDS = (("status", "u8"), ("device_id", "u8"), ("version_length", "u8"),
              ("version", "*version_length"))  # fmt: skip
    version_length: int
    version: bytes
    status: int = 0
    device_id: int = 0x20  # QCA7000 (open-plc-utils chipset table)


@dataclass(frozen=True)
class VsRsDevReq(Message):
    """VS_RS_DEV.REQ: reset the modem (open-plc-utils ResetDevice)."""

    MMTYPE = c.VS_RS_DEV | c.MMTYPE_REQ
    FIELDS = ()


@dataclass(frozen=True)
class VsRsDevCnf(Message):
    """VS_RS_DEV.CNF: status 0 means the reset was accepted."""

    MMTYPE = c.VS_RS_DEV | c.MMTYPE_CNF
    FIELDS = (("status", "u8"),)
    status: int = 0


@dataclass(frozen=True)
class VsLinkStatusReq(Message):
    """VS_PL_LNK_STATUS.REQ: is the modem in a logical network with a peer? (EVerest)."""

    MMTYPE = c.VS_PL_LNK_STATUS | c.MMTYPE_REQ
    FIELDS = ()


@dataclass(frozen=True)
class VsLinkStatusCnf(Message):
    """VS_PL_LNK_STATUS.CNF: ``link_status`` 1 means a link to another station."""

    MMTYPE = c.VS_PL_LNK_STATUS | c.MMTYPE_CNF
    FIELDS = (("reserved", "u8"), ("link_status", "u8"))
    link_status: int
    reserved: int = 0

    @property
    def up(self) -> bool:
        return self.link_status == c.LINK_STATUS_UP


@dataclass(frozen=True)
class VsNwInfoReq(Message):
    """VS_NW_INFO.REQ: the networks the modem is in and their stations. The QCA7000 (AR7x00
    family) takes the MMV 1 form with the fragmentation field (open-plc-utils NetworkInfo2)."""

    MMTYPE = c.VS_NW_INFO | c.MMTYPE_REQ
    MMV = c.MMV_HPAV_1_1
    FIELDS = ()


@dataclass(frozen=True)
class NetworkStation:
    mac: bytes
    tei: int
    avg_tx_mbps: int = 0  # AvgPHYDR_TX: average PHY rate towards this station
    avg_rx_mbps: int = 0  # AvgPHYDR_RX: average PHY rate from it


@dataclass(frozen=True)
class Network:
    nid: bytes
    role: int  # 0 station, 1 proxy coordinator, 2 central coordinator
    cco_mac: bytes
    stations: tuple[NetworkStation, ...]


_NETWORK_LEN, _STATION_LEN = 32, 24  # open-plc-utils NetworkInfo2: struct network, station


@dataclass(frozen=True)
class VsNwInfoCnf(Message):
    """VS_NW_INFO.CNF (AR7x00 form): ``data`` holds the networks; ``networks()`` reads them."""

    MMTYPE = c.VS_NW_INFO | c.MMTYPE_CNF
    MMV = c.MMV_HPAV_1_1
    FIELDS = (("sub_version", "u8"), ("reserved", "u8"), ("data_length", "u16"),
              ("data", "*data_length"))  # fmt: skip
    data_length: int
    data: bytes
    sub_version: int = 1
    reserved: int = 0

    @classmethod
    def of(cls, networks: list[Network]) -> VsNwInfoCnf:
        out = bytearray([0, len(networks)])
        for net in networks:
            out += net.nid + bytes(2) + b"\x01\x01" + bytes(4) + bytes([net.role]) + net.cco_mac
            out += b"\x01" + bytes(3) + bytes([len(net.stations)]) + bytes(5)
            for sta in net.stations:
                # MAC, TEI, 3 reserved, BDA, AVGTX u16, COUPLING, reserved, AVGRX u16, 2 reserved
                out += sta.mac + bytes([sta.tei]) + bytes(3) + bytes(6)
                out += sta.avg_tx_mbps.to_bytes(2, "little") + bytes(2)
                out += sta.avg_rx_mbps.to_bytes(2, "little") + bytes(2)
        return cls(data_length=len(out), data=bytes(out))

    def networks(self) -> list[Network]:
        buf = Buffer(self.data)
        try:
            buf.pull_bytes(1)
            found = []
            for _ in range(buf.pull_uint(1)):
                net = buf.pull_bytes(_NETWORK_LEN)
                stations = tuple(
                    NetworkStation(sta[:6], sta[6], int.from_bytes(sta[16:18], "little"),
                                   int.from_bytes(sta[20:22], "little"))
                    for sta in (buf.pull_bytes(_STATION_LEN) for _ in range(net[26]))
                )
                found.append(Network(net[:7], net[15], net[16:22], stations))
        except NeedMoreData as exc:
            raise RemoteProtocolError("VS_NW_INFO.CNF data ends inside a network") from exc
        return found


@dataclass(frozen=True)
class VsToneMapCharReq(Message):
    """VS_TONE_MAP_CHAR.REQ (AR7x00 form, MMV 1): the tone map the modem uses towards the
    station ``mac`` in tone-map slot ``slot`` (the layout open-plc-utils' ToneMaps2 sends)."""

    MMTYPE = c.VS_TONE_MAP_CHAR | c.MMTYPE_REQ
    MMV = c.MMV_HPAV_1_1
    FIELDS = (("sub_version", "u8"), ("reserved", 3), ("mac", 6), ("slot", "u8"),
              ("coupling", "u8"))  # fmt: skip
    mac: bytes
    slot: int = 0
    coupling: int = 0  # 0 primary coupling, 1 alternate
    sub_version: int = 0
    reserved: bytes = bytes(3)


_TONE_MAP_HEADER_LEN = 24  # MME_SUBVER ... Reserved7, before the carriers' nibbles


@dataclass(frozen=True)
class ToneMap:
    """One slot's tone map: a 4-bit modulation code per active carrier (c.MODULATION_BITS)."""

    mac: bytes
    slot: int
    coupling: int
    slots: int  # NUMTMS: how many slots the modem holds for this station
    active_carriers: int
    codes: tuple[int, ...]  # per active carrier


@dataclass(frozen=True)
class VsToneMapCharCnf(Message):
    """VS_TONE_MAP_CHAR.CNF (AR7x00 form): ``status`` 0 and ``body`` (MME_LEN bytes: a
    24-byte header, then two carriers per byte, the even carrier in the low nibble)."""

    MMTYPE = c.VS_TONE_MAP_CHAR | c.MMTYPE_CNF
    MMV = c.MMV_HPAV_1_1
    FIELDS = (("status", "u8"), ("reserved", "u8"), ("mme_len", "u16"), ("body", "*mme_len"))
    mme_len: int
    body: bytes
    status: int = 0
    reserved: int = 0

    @classmethod
    def of(cls, tm: ToneMap) -> VsToneMapCharCnf:
        packed = bytearray((len(tm.codes) + 1) // 2)
        for i, code in enumerate(tm.codes):
            packed[i // 2] |= (code & 0x0F) << (4 * (i & 1))
        head = bytes([0, 0]) + tm.mac + bytes([tm.slot, tm.coupling, tm.slots, 0])
        head += tm.active_carriers.to_bytes(2, "little") + bytes(2)
        head += len(tm.codes).to_bytes(2, "little") + bytes(2 + 4)
        body = head + bytes(packed)
        return cls(mme_len=len(body), body=body)

    def tone_map(self) -> ToneMap:
        b = self.body
        if len(b) < _TONE_MAP_HEADER_LEN:
            raise RemoteProtocolError(
                f"VS_TONE_MAP_CHAR.CNF MME_LEN {len(b)} is shorter than its "
                f"{_TONE_MAP_HEADER_LEN}-byte header", "MALFORMED_MME")
        active = int.from_bytes(b[12:14], "little")
        packed = b[_TONE_MAP_HEADER_LEN:]
        if active > 2 * len(packed):
            raise RemoteProtocolError(
                f"VS_TONE_MAP_CHAR.CNF says {active} active carriers but carries "
                f"{2 * len(packed)}", "MALFORMED_MME")
        codes = tuple((packed[i // 2] >> (4 * (i & 1))) & 0x0F for i in range(active))
        return ToneMap(b[2:8], b[8], b[9], b[10], active, codes)
