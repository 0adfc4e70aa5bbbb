"""PLC link quality: the probe against the modem simulator, and malformed modem answers."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest

from host.bench.channel import Channel
from host.bench.modem_sim import FAR_MODEM_MAC, TONE_MAP_REFUSED, ModemSim
from host.slac import constants as c
from host.slac.driver import serve_modem_sim
from host.slac.errors import DriverError, ModemNotAnswering
from host.slac.linkquality import (
    LinkQuality,
    LinkQualityProbe,
    QualityFailed,
    QualityRead,
    read_link_quality,
    summarize,
)
from host.slac.messages import (
    CmSetKeyReq,
    Frame,
    Network,
    NetworkStation,
    ToneMap,
    VsNwInfoCnf,
    VsToneMapCharCnf,
    VsToneMapCharReq,
    parse_frame,
    push_frame,
)
from host.telemetry.metrics import StationMetrics
from tests.host.slac.helpers import EVSE_MAC, PEV_MAC

pytestmark = pytest.mark.unit
MODEM = c.QCA_LOCAL_MAC


def linked_sim(**kw) -> ModemSim:
    sim = ModemSim(**kw)
    key = CmSetKeyReq(nid=b"n" * 7, new_key=b"k" * 16)
    sim.handle(push_frame(Frame(MODEM, EVSE_MAC, key)), False)
    sim.handle(push_frame(Frame(MODEM, PEV_MAC, key)), True)  # the EV's modem: same NMK
    assert sim.linked
    return sim


def run(probe: LinkQualityProbe, sim: ModemSim, now: float = 0.0):
    probe.start(now)
    for _ in range(10):
        for data in probe.data_to_send():
            for answer in sim.handle(data, False):
                probe.receive(answer, now)
        ev = probe.next_event()
        if ev is not None:
            return ev
    raise AssertionError("probe never finished")


def test_reads_rates_and_tone_map_from_the_simulator() -> None:
    codes = (2,) * 100 + (4,) * 50 + (0,) * 10  # QPSK, 16-QAM, unused
    sim = linked_sim(phy_rate_mbps=(8, 7), tone_map=codes)
    ev = run(LinkQualityProbe(EVSE_MAC, attenuation_db=21.5), sim)
    assert isinstance(ev, QualityRead)
    q = ev.quality
    assert q.peer_mac == FAR_MODEM_MAC and (q.tx_mbps, q.rx_mbps) == (8, 7)
    assert q.active_carriers == 160
    assert q.bits_per_carrier == pytest.approx((100 * 2 + 50 * 4) / 160)
    assert q.snr_db == pytest.approx((100 * 4 + 50 * 10) / 160)  # open-plc-utils mod2db
    assert q.attenuation_db == 21.5


def test_tone_map_refused_keeps_the_rates() -> None:
    ev = run(LinkQualityProbe(EVSE_MAC), linked_sim(tone_map=None))
    assert isinstance(ev, QualityRead)
    assert ev.quality.tone_map_status == TONE_MAP_REFUSED
    assert ev.quality.active_carriers is None and ev.quality.snr_db is None
    assert ev.quality.tx_mbps == 9


def test_no_link_is_no_peer() -> None:
    ev = run(LinkQualityProbe(EVSE_MAC), ModemSim())
    assert isinstance(ev, QualityFailed) and ev.code == "NO_PEER"


def test_silent_modem_times_out_after_its_retries() -> None:
    probe = LinkQualityProbe(EVSE_MAC, timeout=1.0, retries=2)
    probe.start(0.0)
    sent = len(probe.data_to_send())
    now = 0.0
    while (t := probe.get_timer()) is not None:
        now = t
        probe.handle_timer(now)
        sent += len(probe.data_to_send())
    assert sent == 3 and now == 3.0
    ev = probe.next_event()
    assert isinstance(ev, QualityFailed) and ev.code == "MODEM_TIMEOUT"
    assert "VS_NW_INFO.REQ" in ev.reason


def _answer(message) -> bytes:
    return push_frame(Frame(EVSE_MAC, MODEM, message))


def _at_tone_map(probe: LinkQualityProbe) -> None:
    probe.start(0.0)
    probe.data_to_send()
    rates = VsNwInfoCnf.of([Network(b"n" * 7, 0, MODEM, (NetworkStation(PEV_MAC, 2, 5, 6),))])
    probe.receive(_answer(rates), 0.0)
    (req,) = probe.data_to_send()
    assert parse_frame(req).message == VsToneMapCharReq(mac=PEV_MAC, slot=0)


@pytest.mark.parametrize("body, code, words", [
    (bytes(10), "MALFORMED_MME", "shorter than its 24-byte header"),
    (VsToneMapCharCnf.of(ToneMap(PEV_MAC, 0, 0, 1, 4, (2, 2, 2, 2))).body[:24] + b"\x22",
     "MALFORMED_MME", "says 4 active carriers but carries 2"),
    (VsToneMapCharCnf.of(ToneMap(PEV_MAC, 0, 0, 1, 2, (2, 9))).body,
     "MALFORMED_MME", "carrier 1 has modulation code 9"),
    (VsToneMapCharCnf.of(ToneMap(FAR_MODEM_MAC, 0, 0, 1, 1, (2,))).body,
     "WRONG_STATION", "tone map is for"),
])  # fmt: skip
def test_malformed_tone_map_is_a_precise_failure(body: bytes, code: str, words: str) -> None:
    probe = LinkQualityProbe(EVSE_MAC)
    _at_tone_map(probe)
    probe.receive(_answer(VsToneMapCharCnf(mme_len=len(body), body=body)), 0.0)
    ev = probe.next_event()
    assert isinstance(ev, QualityFailed) and ev.code == code and words in ev.reason
    assert probe.get_timer() is None


def test_truncated_and_malformed_network_info_are_precise_failures() -> None:
    good = _answer(VsNwInfoCnf.of([Network(b"n" * 7, 0, MODEM, (NetworkStation(PEV_MAC, 2),))]))
    # MME_LEN says more bytes than the frame carries
    cut = bytearray(good)
    cut[24:26] = (2000).to_bytes(2, "little")
    probe = LinkQualityProbe(EVSE_MAC)
    probe.start(0.0)
    probe.receive(bytes(cut), 0.0)
    ev = probe.next_event()
    assert isinstance(ev, QualityFailed) and ev.code == "TRUNCATED"
    # a network that claims more stations than the data holds
    data = bytearray(VsNwInfoCnf.of([Network(b"n" * 7, 0, MODEM, ())]).data)
    data[2 + 26] = 3
    probe = LinkQualityProbe(EVSE_MAC)
    probe.start(0.0)
    probe.receive(_answer(VsNwInfoCnf(data_length=len(data), data=bytes(data))), 0.0)
    ev = probe.next_event()
    assert isinstance(ev, QualityFailed) and "ends inside a network" in ev.reason


def test_frames_that_are_not_the_answer_are_ignored() -> None:
    probe = LinkQualityProbe(EVSE_MAC)
    probe.start(0.0)
    probe.data_to_send()
    info = VsNwInfoCnf.of([Network(b"n" * 7, 0, MODEM, (NetworkStation(PEV_MAC, 2),))])
    probe.receive(push_frame(Frame(EVSE_MAC, PEV_MAC, info)), 0.0)  # not from the modem
    probe.receive(b"\x00" * 20, 0.0)  # not HomePlug
    probe.receive(_answer(VsToneMapCharCnf(mme_len=0, body=b"")), 0.0)  # not awaited yet
    assert probe.next_event() is None and probe.get_timer() == c.MODEM_TIMEOUT


def test_summarize_of_an_empty_map() -> None:
    assert summarize(()) == (0.0, 0.0)


def test_quality_reaches_the_metrics_and_missing_figures_leave_them() -> None:
    m = StationMetrics()
    q = run(LinkQualityProbe(EVSE_MAC, attenuation_db=18.0), linked_sim()).quality
    m.plc_link("1", q)
    text = generate_latest(m.registry).decode()
    assert 'v2gate_plc_phy_rate_mbps{connector="1",direction="tx"} 9.0' in text
    assert 'v2gate_plc_snr_db{connector="1"} 4.0' in text  # all QPSK
    assert 'v2gate_plc_attenuation_db{connector="1"} 18.0' in text
    assert 'v2gate_plc_tone_map_active_carriers{connector="1"} 917.0' in text
    refused = run(LinkQualityProbe(EVSE_MAC), linked_sim(tone_map=None)).quality
    m.plc_link("1", refused)
    text = generate_latest(m.registry).decode()
    assert 'v2gate_plc_snr_db{connector="1"}' not in text
    assert 'v2gate_plc_attenuation_db{connector="1"}' not in text
    assert 'v2gate_plc_phy_rate_mbps{connector="1",direction="rx"} 9.0' in text


async def _over_channel(sim: ModemSim, link_peer: bool, **kw) -> LinkQuality:
    ch = Channel()
    host = ch.open(0)
    served = asyncio.create_task(serve_modem_sim(sim, ch.open(1, c.ETH_P_ALL)))
    try:
        key = CmSetKeyReq(nid=b"n" * 7, new_key=b"k" * 16)
        host.send(push_frame(Frame(MODEM, host.mac, key)))
        if link_peer:  # the EV's host sets the same key on its modem: the sim sees it go out
            ch.open(1).send(push_frame(Frame(MODEM, ch.macs[1], key)))
        # the sim takes frames in order, so both keys are set before the probe asks; the
        # CM_SET_KEY.CNF (and the EV's SET_KEY) reaching `host` are frames the probe ignores
        return await read_link_quality(host, **kw)
    finally:
        served.cancel()


def test_read_link_quality_over_a_channel_with_the_simulator() -> None:
    q = asyncio.run(_over_channel(ModemSim(phy_rate_mbps=(6, 5)), True, attenuation_db=19.0))
    assert (q.peer_mac, q.tx_mbps, q.rx_mbps, q.snr_db) == (FAR_MODEM_MAC, 6, 5, 4.0)


def test_read_link_quality_errors_are_one_line() -> None:
    with pytest.raises(DriverError, match="no link to any station") as exc:
        asyncio.run(_over_channel(ModemSim(), False))
    assert "\n" not in str(exc.value)
    with pytest.raises(ModemNotAnswering, match="did not answer VS_NW_INFO.REQ"):
        asyncio.run(_over_channel(ModemSim(qualcomm=False), False, timeout=0.05, retries=1))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.binary(max_size=80))
def test_any_answer_ends_in_a_reading_or_a_failure_never_a_crash(info: bytes, tm: bytes) -> None:
    probe = LinkQualityProbe(EVSE_MAC)
    probe.start(0.0)
    probe.receive(_answer(VsNwInfoCnf(data_length=len(info), data=info)), 0.0)
    if not probe.done:
        probe.receive(_answer(VsToneMapCharCnf(mme_len=len(tm), body=tm)), 0.0)
    ev = probe.next_event()
    assert probe.done == (ev is not None)
    assert ev is None or isinstance(ev, QualityRead | QualityFailed)
