"""PLC link quality read from the local Qualcomm modem, sans-I/O.

The interconnection manual asks for the modem's link figures; a QCA7000 gives them through
two vendor MMEs (layouts as open-plc-utils' NetInfo2 and ToneMaps2 use them, AR7x00 form):

- VS_NW_INFO: the stations of the modem's logical network, with the average PHY rate to
  (AvgPHYDR_TX) and from (AvgPHYDR_RX) each, in Mbit/s;
- VS_TONE_MAP_CHAR: the tone map towards one station, a modulation per carrier. The mean bits
  per carrier is the map's density; the mean SNR those modulations need (open-plc-utils'
  mod2db table) is the SNR figure: a lower bound of the real SNR, which no MME of the
  QCA7000 reports per carrier directly.

The average attenuation comes from SLAC itself (``Matched.attenuation_db``: the EV's sounds
as the EVSE's modem heard them) and is passed in, not asked for.

``LinkQualityProbe`` asks both, one after the other, and ends in one ``QualityRead`` or one
``QualityFailed``: a malformed answer from the modem is a failure with its code, and frames
that are not the awaited answer (SLAC traffic on the same socket) are ignored.
``read_link_quality(link)`` drives it over a raw link (host.slac.driver).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import constants as c
from .driver import Link, run_machine
from .errors import DriverError, LocalProtocolError, ModemNotAnswering, RemoteProtocolError
from .messages import (
    Buffer,
    Frame,
    Message,
    VsNwInfoCnf,
    VsNwInfoReq,
    VsToneMapCharCnf,
    VsToneMapCharReq,
    mac_str,
    parse_frame,
    pull_header,
    push_frame,
)


@dataclass(frozen=True)
class LinkQuality:
    peer_mac: bytes
    tx_mbps: int  # our modem -> the peer's
    rx_mbps: int
    active_carriers: int | None = None  # None: the modem gave no tone map
    bits_per_carrier: float | None = None
    snr_db: float | None = None  # mean SNR the tone map's modulations need (a lower bound)
    tone_map_status: int = 0  # VS_TONE_MAP_CHAR.CNF MSTATUS when the modem refused
    attenuation_db: float | None = None  # from SLAC's sounding, when given


@dataclass(frozen=True)
class QualityRead:
    quality: LinkQuality


@dataclass(frozen=True)
class QualityFailed:
    reason: str
    code: str  # MODEM_TIMEOUT, NO_PEER, or the RemoteProtocolError code of the answer


Event = QualityRead | QualityFailed


def summarize(codes: tuple[int, ...]) -> tuple[float, float]:
    """(mean bits per carrier, mean SNR in dB those modulations need) of a tone map."""
    for i, code in enumerate(codes):
        if code >= len(c.MODULATION_BITS):
            raise RemoteProtocolError(
                f"VS_TONE_MAP_CHAR.CNF carrier {i} has modulation code {code}; "
                f"codes run 0-{len(c.MODULATION_BITS) - 1}", "MALFORMED_MME")
    if not codes:
        return 0.0, 0.0
    n = len(codes)
    return (sum(c.MODULATION_BITS[x] for x in codes) / n,
            sum(c.MODULATION_DB[x] for x in codes) / n)


class LinkQualityProbe:
    """One reading: VS_NW_INFO, then VS_TONE_MAP_CHAR for the peer it names."""

    def __init__(self, host_mac: bytes, *, modem_mac: bytes = c.QCA_LOCAL_MAC,
                 peer_mac: bytes | None = None, attenuation_db: float | None = None,
                 timeout: float = c.MODEM_TIMEOUT, retries: int = c.MODEM_RETRIES) -> None:
        self.host_mac = host_mac
        self.modem_mac = modem_mac
        self.peer_mac = peer_mac  # None: the first station the modem lists
        self.attenuation_db = attenuation_db
        self.timeout = timeout
        self.retries = retries
        self._request: Message | None = None
        self._deadline: float | None = None
        self._tries = 0
        self._rates = (0, 0)
        self._out: list[bytes] = []
        self._events: list[Event] = []
        self.done = False

    # --- the sans-I/O surface -------------------------------------------------------------
    def start(self, now: float) -> None:
        if self._request is not None or self.done:
            raise LocalProtocolError("a LinkQualityProbe reads once; make a new one")
        self._ask(VsNwInfoReq(), now)

    def receive(self, data: bytes, now: float) -> None:
        if self.done or self._request is None:
            return
        want = self._request.MMTYPE | c.MMTYPE_CNF
        try:
            dst, src, _mmv, mmtype, _fmi = pull_header(Buffer(data))
        except RemoteProtocolError:
            return  # not a Qualcomm MME: not the answer
        if src != self.modem_mac or dst != self.host_mac or mmtype != want:
            return
        try:
            message = parse_frame(data).message
            if isinstance(message, VsNwInfoCnf):
                self._on_nw_info(message, now)
            elif isinstance(message, VsToneMapCharCnf):
                self._on_tone_map(message)
        except RemoteProtocolError as exc:
            self._finish(QualityFailed(f"{_name(want)} from the modem: {exc}", exc.code))

    def handle_timer(self, now: float) -> None:
        if self._deadline is None or now < self._deadline or self._request is None:
            return
        if self._tries > self.retries:
            self._finish(QualityFailed(
                f"modem {mac_str(self.modem_mac)} did not answer "
                f"{_name(self._request.MMTYPE)} ({self._tries} tries)", "MODEM_TIMEOUT"))
            return
        self._send(now)

    def get_timer(self) -> float | None:
        return None if self.done else self._deadline

    def next_event(self) -> Event | None:
        return self._events.pop(0) if self._events else None

    def data_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    # --- steps ------------------------------------------------------------------------------
    def _ask(self, request: Message, now: float) -> None:
        self._request, self._tries = request, 0
        self._send(now)

    def _send(self, now: float) -> None:
        assert self._request is not None
        self._tries += 1
        self._out.append(push_frame(Frame(self.modem_mac, self.host_mac, self._request)))
        self._deadline = now + self.timeout

    def _on_nw_info(self, cnf: VsNwInfoCnf, now: float) -> None:
        stations = [s for net in cnf.networks() for s in net.stations]
        if self.peer_mac is not None:
            stations = [s for s in stations if s.mac == self.peer_mac]
        if not stations:
            who = mac_str(self.peer_mac) if self.peer_mac else "any station"
            self._finish(QualityFailed(f"modem lists no link to {who} (no logical network "
                                       "with the EV's modem)", "NO_PEER"))
            return
        peer = stations[0]
        self.peer_mac, self._rates = peer.mac, (peer.avg_tx_mbps, peer.avg_rx_mbps)
        self._ask(VsToneMapCharReq(mac=peer.mac, slot=0), now)

    def _on_tone_map(self, cnf: VsToneMapCharCnf) -> None:
        assert self.peer_mac is not None
        tx, rx = self._rates
        if cnf.status != 0:  # a Green PHY modem may hold no tone map (ROBO only): rates stand
            self._finish(QualityRead(LinkQuality(self.peer_mac, tx, rx,
                                                 tone_map_status=cnf.status,
                                                 attenuation_db=self.attenuation_db)))
            return
        tm = cnf.tone_map()
        if tm.mac != self.peer_mac:
            raise RemoteProtocolError(f"tone map is for {mac_str(tm.mac)}, asked for "
                                      f"{mac_str(self.peer_mac)}", "WRONG_STATION")
        bits, snr = summarize(tm.codes)
        self._finish(QualityRead(LinkQuality(self.peer_mac, tx, rx, tm.active_carriers, bits,
                                             snr, attenuation_db=self.attenuation_db)))

    def _finish(self, event: Event) -> None:
        self.done, self._deadline, self._request = True, None, None
        self._events.append(event)


async def read_link_quality(link: Link, *, modem_mac: bytes = c.QCA_LOCAL_MAC,
                            peer_mac: bytes | None = None,
                            attenuation_db: float | None = None,
                            timeout: float = c.MODEM_TIMEOUT,
                            retries: int = c.MODEM_RETRIES) -> LinkQuality:  # fmt: skip
    """One reading over ``link``; ModemNotAnswering or DriverError (one line) if none."""
    probe = LinkQualityProbe(link.mac, modem_mac=modem_mac, peer_mac=peer_mac,
                             attenuation_db=attenuation_db, timeout=timeout, retries=retries)
    # the probe has the Machine surface; only its event types differ from SLAC's
    event = await run_machine(probe, link, until=lambda ev: True,  # type: ignore[arg-type]
                              before=probe.start)
    if isinstance(event, QualityRead):
        return event.quality
    if isinstance(event, QualityFailed) and event.code == "MODEM_TIMEOUT":
        raise ModemNotAnswering(f"{event.reason}: is it powered and on this interface?")
    reason = event.reason if isinstance(event, QualityFailed) else "no answer"
    raise DriverError(f"PLC link quality unreadable: {reason}")


def _name(mmtype: int) -> str:
    base = mmtype & ~0x3
    kind = ("REQ", "CNF", "IND", "RSP")[mmtype & 0x3]
    names = {c.VS_NW_INFO: "VS_NW_INFO", c.VS_TONE_MAP_CHAR: "VS_TONE_MAP_CHAR"}
    return f"{names.get(base, hex(base))}.{kind}"
