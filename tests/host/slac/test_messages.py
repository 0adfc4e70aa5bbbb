"""Codecs: golden vectors both ways, three-way reader tests, and hypothesis on the decoders."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.slac import constants as c
from host.slac.errors import LocalProtocolError, RemoteProtocolError
from host.slac.messages import (
    MESSAGES,
    CmAttenCharInd,
    CmAttenCharRsp,
    CmAttenProfileInd,
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
    Frame,
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
    maybe_read_frame,
    push_frame,
)

pytestmark = pytest.mark.unit

EVSE = bytes.fromhex("020000000001")
PEV = bytes.fromhex("020000000002")
BCAST = c.BROADCAST_MAC
MODEM = c.QCA_LOCAL_MAC
RUN = bytes.fromhex("0102030405060708")
NID = bytes.fromhex("026bcba5354e08")
NMK = bytes(range(16))
AAG = bytes(20 + g % 7 for g in range(58))

# Provenance: pyslac 0.8.3 (PyPI) encoders - `EthernetHeader(...).pack_big() +
# HomePlugHeader(mmtype).pack_big() + <Message>(...).pack_big()`, zero-padded to 60 bytes as
# its `sendeth` does - with the MACs, run id, NID, NMK and AAG above. pyslac writes the
# MVFLength of CM_SLAC_MATCH.REQ big-endian (00 3e, not the spec's 3e 00): we read it as
# 0x3E00 and write it back unchanged.
PYSLAC_VECTORS = [
    (
        "00b05200000102000000000188e1010860000001aaaaaaaa000000000400000000026bcba5354e0801"
        "000102030405060708090a0b0c0d0e0f000000",
        Frame(MODEM, EVSE, CmSetKeyReq(nid=NID, new_key=NMK)),
    ),
    (
        "02000000000100b05200000188e101096000000000000000aaaaaaaa0400000000000000000000000000"
        "000000000000000000000000000000000000",
        Frame(EVSE, MODEM, CmSetKeyCnf()),
    ),
    (
        "ffffffffffff02000000000288e1016460000000000102030405060708" + "00" * 31,
        Frame(BCAST, PEV, CmSlacParmReq(run_id=RUN)),
    ),
    (
        "02000000000202000000000188e10165600000ffffffffffff0a0601020000000002000001020304050607"
        "0800000000000000000000000000000000",
        Frame(PEV, EVSE, CmSlacParmCnf(forwarding_sta=PEV, run_id=RUN)),
    ),
    (
        "ffffffffffff02000000000288e1016a60000000000a06010200000000020102030405060708" + "00" * 22,
        Frame(BCAST, PEV, CmStartAttenCharInd(forwarding_sta=PEV, run_id=RUN)),
    ),
    (
        "ffffffffffff02000000000288e101766000000000000000000000000000000000000000000009010203"
        "040506070800000000000000000000000000000000000000000000ff01",
        Frame(BCAST, PEV, CmMnbcSoundInd(cnt=9, run_id=RUN, rnd=bytes(14) + b"\xff\x01")),
    ),
    (
        "02000000000100b05200000188e101866000000200000000023a00" + AAG.hex(),
        Frame(EVSE, MODEM, CmAttenProfileInd(pev_mac=PEV, num_groups=58, aag=AAG)),
    ),
    (
        "02000000000202000000000188e1016e6000000000020000000002010203040506070800000000000000"
        "0000000000000000000000000000000000000000000000000000000a3a" + AAG.hex(),
        Frame(
            PEV,
            EVSE,
            CmAttenCharInd(source_address=PEV, run_id=RUN, num_sounds=10, num_groups=58, aag=AAG),
        ),  # fmt: skip
    ),
    (
        "02000000000102000000000288e1016f6000000000020000000002010203040506070800000000000000"
        "00000000000000000000000000000000000000000000000000000000",
        Frame(EVSE, PEV, CmAttenCharRsp(source_address=PEV, run_id=RUN)),
    ),
    (
        "02000000000102000000000288e1017c6000000000003e0000000000000000000000000000000000020000"
        "000002000000000000000000000000000000000002000000000101020304050607080000000000000000",
        Frame(EVSE, PEV, CmSlacMatchReq(pev_mac=PEV, evse_mac=EVSE, run_id=RUN, mvf_length=0x3E00)),
    ),
    (
        "02000000000202000000000188e1017d6000000000560000000000000000000000000000000000000200"
        "00000002000000000000000000000000000000000002000000000101020304050607080000000000000000"
        "026bcba5354e0800000102030405060708090a0b0c0d0e0f",
        Frame(PEV, EVSE, CmSlacMatchCnf(pev_mac=PEV, evse_mac=EVSE, run_id=RUN, nid=NID, nmk=NMK)),
    ),
]

# Provenance: ISO 15118-3 Tables A.6 (CM_VALIDATE) and the Qualcomm vendor MME layouts of
# open-plc-utils (VS_SW_VER, VS_RS_DEV) and EVerest libslac (VS_PL_LNK_STATUS), laid out
# by hand field by field: header MMV 00, MMTYPE little-endian, OUI 00 b0 52.
SPEC_VECTORS = [
    ("02000000000102000000000288e10178600000000501", Frame(EVSE, PEV, CmValidateReq(timer=5))),
    (
        "02000000000202000000000188e10179600000000004",
        Frame(PEV, EVSE, CmValidateCnf(result=c.VALIDATE_NOT_REQUIRED)),
    ),  # fmt: skip
    ("00b05200000102000000000188e10000a000b052", Frame(MODEM, EVSE, VsSwVerReq())),
    (
        "02000000000100b05200000188e10001a000b052002003514341",
        Frame(EVSE, MODEM, VsSwVerCnf(version_length=3, version=b"QCA")),
    ),  # fmt: skip
    ("00b05200000102000000000188e1001ca000b052", Frame(MODEM, EVSE, VsRsDevReq())),
    ("02000000000100b05200000188e1001da000b05200", Frame(EVSE, MODEM, VsRsDevCnf())),
    ("00b05200000102000000000188e100b8a000b052", Frame(MODEM, EVSE, VsLinkStatusReq())),
    (
        "02000000000100b05200000188e100b9a000b0520001",
        Frame(EVSE, MODEM, VsLinkStatusCnf(link_status=1)),
    ),  # fmt: skip
    # VS_NW_INFO in the AR7x00 / QCA7000 form of open-plc-utils NetworkInfo2: MMV 01 with the
    # fragmentation field, then 32-byte network and 24-byte station records
    ("00b05200000102000000000188e10138a0000000b052", Frame(MODEM, EVSE, VsNwInfoReq())),
    (
        "02000000000100b05200000188e10139a0000000b05201003a0000014e4e4e4e4e4e4e0000010100000000"
        "0002000000000101000000010000000000020000000002020000000000000000000000000000000000",
        Frame(EVSE, MODEM, VsNwInfoCnf.of([Network(b"N" * 7, 0, EVSE, (NetworkStation(PEV, 2),))])),
    ),
    # VS_TONE_MAP_CHAR in the AR7x00 form of open-plc-utils ToneMaps2: MMV 01; REQ: subversion,
    # 3 reserved, MAC, slot, coupling; CNF: status, reserved, MME_LEN, a 24-byte header (MAC at
    # 2, slot, coupling, NUMTMS, TMNUMACTCARRIERS at 12, NUMCARRIERS at 16), two carriers a byte
    (
        "00b05200000102000000000188e10170a0000000b05200000000020000000002" "0000",
        Frame(MODEM, EVSE, VsToneMapCharReq(mac=PEV)),
    ),
    (
        "02000000000100b05200000188e10171a0000000b05200001a00" "0000020000000002000001000300"
        "00000300000000000000" "4205",
        Frame(EVSE, MODEM, VsToneMapCharCnf.of(ToneMap(PEV, 0, 0, 1, 3, (2, 4, 5)))),
    ),
]

VECTORS = PYSLAC_VECTORS + SPEC_VECTORS


def _wire(hex_text: str) -> bytes:
    data = bytes.fromhex(hex_text)
    return data + bytes(max(0, c.ETH_MIN_FRAME - len(data)))


@pytest.mark.parametrize(("hex_text", "frame"), VECTORS, ids=lambda v: getattr(
    getattr(v, "message", None), "__class__", type(None)).__name__)  # fmt: skip
def test_golden_vector_both_ways(hex_text: str, frame: Frame) -> None:
    assert push_frame(frame) == _wire(hex_text)
    got = maybe_read_frame(_wire(hex_text))
    assert got is not None and got[0] == frame


@pytest.mark.parametrize(("hex_text", "frame"), VECTORS)
def test_reader_whole_bytewise_and_trailing(hex_text: str, frame: Frame) -> None:
    exact = push_frame(frame, pad=False)
    assert maybe_read_frame(exact) == (frame, len(exact))
    for cut in range(len(exact)):
        assert maybe_read_frame(exact[:cut]) is None, f"complete after {cut} bytes?"
    assert maybe_read_frame(exact + b"\x99trailing") == (frame, len(exact))


def test_every_message_type_has_a_vector() -> None:
    covered = {type(frame.message) for _, frame in VECTORS}
    assert covered == set(MESSAGES.values())


@pytest.mark.parametrize(
    ("hex_text", "code"),
    [
        ("ffffffffffff02000000000208000164600000", "NOT_HOMEPLUG"),  # IPv4 ethertype
        ("ffffffffffff02000000000288e101ff600000", "UNKNOWN_MMTYPE"),
        ("00b05200000102000000000188e10000a0001122", "UNKNOWN_VENDOR"),
    ],
)
def test_malformed_frames_name_the_fault(hex_text: str, code: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        maybe_read_frame(bytes.fromhex(hex_text) + bytes(60))
    assert info.value.code == code


def test_writer_refuses_wrong_field_sizes() -> None:
    with pytest.raises(LocalProtocolError):
        push_frame(Frame(EVSE, PEV, CmSlacParmReq(run_id=b"short")))
    with pytest.raises(LocalProtocolError):
        push_frame(Frame(EVSE, PEV, CmValidateReq(timer=256)))
    with pytest.raises(LocalProtocolError):
        push_frame(Frame(EVSE, PEV, CmAttenProfileInd(pev_mac=PEV, num_groups=3, aag=b"\x01")))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_decode_cleanly_or_reencode(data: bytes) -> None:
    _check_decoder(data)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(MESSAGES)), st.sampled_from([0, 1]), st.binary(max_size=140))
def test_random_payloads_behind_valid_headers(mmtype: int, mmv: int, payload: bytes) -> None:
    header = EVSE + PEV + b"\x88\xe1" + bytes([mmv]) + mmtype.to_bytes(2, "little")
    header += b"\x00\x00" if mmv else b""
    header += c.QUALCOMM_OUI if mmtype >= c.VENDOR_MMTYPE_MIN else b""
    _check_decoder(header + payload)


def _check_decoder(data: bytes) -> None:
    try:
        result = maybe_read_frame(data)
    except RemoteProtocolError:
        return
    if result is not None:
        frame, used = result
        assert push_frame(frame, pad=False) == data[:used]


def test_network_info_reads_back_what_it_wrote() -> None:
    nets = [Network(b"N" * 7, 2, EVSE, (NetworkStation(PEV, 2, 9, 8), NetworkStation(MODEM, 3))),
            Network(b"M" * 7, 0, PEV, ())]  # fmt: skip
    assert VsNwInfoCnf.of(nets).networks() == nets


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_network_info_data_reads_cleanly(data: bytes) -> None:
    try:
        nets = VsNwInfoCnf(data_length=len(data), data=data).networks()
    except RemoteProtocolError:
        return
    assert all(len(n.nid) == 7 and len(n.cco_mac) == 6 for n in nets)


def test_network_info_rates_sit_where_open_plc_utils_reads_them() -> None:
    # NetInfo2's station record: MAC, TEI, 3 reserved, BDA, AVGTX u16 at 16, COUPLING,
    # reserved, AVGRX u16 at 20, 2 reserved
    net = Network(b"N" * 7, 0, EVSE, (NetworkStation(PEV, 2, 0x1234, 0x5678),))
    sta = VsNwInfoCnf.of([net]).data[2 + 32:]
    assert sta[16:18] == b"\x34\x12" and sta[20:22] == b"\x78\x56"
