"""Packet captures (what `tcpdump -w` writes) read far enough to rebuild TCP streams.

Classic pcap (microsecond and nanosecond, either byte order) and pcapng (section,
interface and enhanced/simple packet blocks); link types Ethernet (VLAN tags too), Linux
cooked v1/v2, raw IP and BSD loopback; IPv4 and IPv6 (extension headers skipped), so the
SECC's IPv6 link-local TCP comes through. `tcp_streams` turns the packets into one byte
stream per connection and direction, reassembled by sequence number (retransmissions
and overlaps dropped, segments out of order put back in order), each chunk with the
time of the packet that completed it.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ETHERNET, RAW, RAW_ALT, NULL, SLL, SLL2 = 1, 101, 12, 0, 113, 276
LINK_TYPES = (ETHERNET, RAW, RAW_ALT, NULL, SLL, SLL2)
_IPV6_EXT = (0, 43, 60)  # hop-by-hop, routing, destination options: skipped to the TCP header
TCP_SYN, TCP_ACK, TCP_FIN, TCP_RST = 0x02, 0x10, 0x01, 0x04


class CaptureError(ValueError):
    """The file is not a capture this reader takes, or it is cut short; the text says
    where."""


@dataclass(frozen=True)
class Packet:
    t: float
    link: int
    data: bytes


@dataclass(frozen=True)
class Segment:
    t: float
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    flags: int
    payload: bytes


def read_packets(path: Path) -> Iterator[Packet]:
    """Every packet of a pcap or pcapng file. CaptureError for a file that is neither,
    or that ends inside a record (after the packets before it)."""
    data = path.read_bytes()
    if len(data) < 4:
        raise CaptureError(f"{path}: {len(data)} bytes, not a pcap or pcapng file")
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        yield from _pcapng(path, data)
    elif magic in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
        yield from _pcap(path, data)
    else:
        raise CaptureError(f"{path}: not a pcap or pcapng file (it starts {magic.hex()})")


def _pcap(path: Path, data: bytes) -> Iterator[Packet]:
    e = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = data[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    if len(data) < 24:
        raise CaptureError(f"{path}: the pcap header is cut short")
    link = struct.unpack_from(e + "I", data, 20)[0] & 0x0FFFFFFF
    pos = 24
    while pos < len(data):
        if pos + 16 > len(data):
            raise CaptureError(f"{path}: cut short in the record header at byte {pos}")
        sec, frac, incl, _orig = struct.unpack_from(e + "IIII", data, pos)
        if pos + 16 + incl > len(data):
            raise CaptureError(f"{path}: cut short in a packet at byte {pos}")
        yield Packet(sec + frac / (1e9 if nano else 1e6), link, data[pos + 16: pos + 16 + incl])
        pos += 16 + incl


# the fixed fields before the options of these pcapng blocks: interface description
# (link type, reserved, snap length), enhanced packet (interface, time, lengths),
# simple packet (original length)
_FIXED = {1: 8, 6: 20, 3: 4}


def _pcapng(path: Path, data: bytes) -> Iterator[Packet]:
    pos = 0
    e = "<"
    links: list[tuple[int, float]] = []  # per interface: link type, seconds per tick
    while pos < len(data):
        if pos + 12 > len(data):
            raise CaptureError(f"{path}: cut short in a block header at byte {pos}")
        if data[pos:pos + 4] == b"\x0a\x0d\x0d\x0a":  # a section: its own byte order
            bom = data[pos + 8:pos + 12]
            if bom not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                raise CaptureError(f"{path}: bad pcapng byte-order magic at byte {pos}")
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        kind, length = struct.unpack_from(e + "II", data, pos)
        if length < 12 or length % 4 or pos + length > len(data):
            raise CaptureError(f"{path}: pcapng block of {length} bytes at byte {pos} is cut short or malformed")
        body = data[pos + 8: pos + length - 4]
        if len(body) < _FIXED.get(kind, 0):
            raise CaptureError(f"{path}: pcapng block of {length} bytes at byte {pos} is too short "
                               f"for its type {kind}")  # fmt: skip
        if kind == 1:  # interface description
            link = struct.unpack_from(e + "H", body, 0)[0]
            links.append((link, _ts_resol(body[8:], e)))
        elif kind == 6:  # enhanced packet
            iface, hi, lo, cap, _orig = struct.unpack_from(e + "IIIII", body, 0)
            if iface >= len(links):
                raise CaptureError(f"{path}: packet at byte {pos} names interface {iface}, not described")
            link, resol = links[iface]
            yield Packet(((hi << 32) | lo) * resol, link, body[20:20 + cap])
        elif kind == 3:  # simple packet: no time
            if not links:
                raise CaptureError(f"{path}: packet at byte {pos} before any interface")
            cap = min(struct.unpack_from(e + "I", body, 0)[0], len(body) - 4)
            yield Packet(0.0, links[0][0], body[4:4 + cap])
        pos += length


def _ts_resol(options: bytes, e: str) -> float:
    """if_tsresol (option 9) of an interface description; microseconds by default."""
    pos = 0
    while pos + 4 <= len(options):
        code, size = struct.unpack_from(e + "HH", options, pos)
        if code == 0:
            break
        if code == 9 and size >= 1 and pos + 4 < len(options):  # its value byte is there
            v = options[pos + 4]
            return 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        pos += 4 + (size + 3) // 4 * 4
    return 1e-6


def _ip_of(link: int, frame: bytes) -> bytes | None:
    """The IP packet inside a link-layer frame, None for anything else (ARP, ...)."""
    if link == ETHERNET:
        if len(frame) < 14:
            return None
        ethertype, pos = int.from_bytes(frame[12:14], "big"), 14
        while ethertype in (0x8100, 0x88A8) and len(frame) >= pos + 4:  # VLAN tags
            ethertype, pos = int.from_bytes(frame[pos + 2:pos + 4], "big"), pos + 4
        return frame[pos:] if ethertype in (0x0800, 0x86DD) else None
    if link in (RAW, RAW_ALT):
        return frame
    if link == NULL:
        return frame[4:]
    if link == SLL:
        return frame[16:] if frame[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if link == SLL2:
        return frame[20:] if frame[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    return None


def tcp_segment(packet: Packet) -> Segment | None:
    """The TCP segment a packet carries, or None (not IP, not TCP, a fragment)."""
    ip = _ip_of(packet.link, packet.data)
    if not ip:
        return None
    version = ip[0] >> 4
    if version == 4 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        total = int.from_bytes(ip[2:4], "big")
        if ip[9] != 6 or int.from_bytes(ip[6:8], "big") & 0x3FFF:  # not TCP, or a fragment
            return None
        src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
        tcp = ip[ihl:total]
    elif version == 6 and len(ip) >= 40:
        nxt, pos = ip[6], 40
        end = 40 + int.from_bytes(ip[4:6], "big")
        while nxt in _IPV6_EXT and len(ip) >= pos + 8:
            nxt, pos = ip[pos], pos + (ip[pos + 1] + 1) * 8
        if nxt != 6:
            return None
        src, dst = str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40]))
        tcp = ip[pos:end]
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport, seq = struct.unpack_from(">HHI", tcp, 0)
    offset = (tcp[12] >> 4) * 4
    return Segment(packet.t, (src, sport), (dst, dport), seq, tcp[13], bytes(tcp[offset:]))


@dataclass
class Direction:
    """One direction of a connection: the bytes put in order so far."""

    next_seq: int | None = None
    pending: dict[int, Segment] = field(default_factory=dict)
    gaps: int = 0  # bytes never captured (the stream went on after them)

    def take(self, seg: Segment) -> list[tuple[float, bytes]]:
        """The in-order bytes this segment completes (it may release later ones)."""
        if seg.flags & TCP_SYN:
            self.next_seq = (seg.seq + 1) & 0xFFFFFFFF
            return []
        if not seg.payload:
            return []
        if self.next_seq is None:  # the capture began mid-connection
            self.next_seq = seg.seq
        self.pending[seg.seq] = seg
        out: list[tuple[float, bytes]] = []
        while True:
            found = False
            for seq in list(self.pending):
                s = self.pending[seq]
                ahead = (seq - self.next_seq) & 0xFFFFFFFF
                behind = (self.next_seq - seq) & 0xFFFFFFFF
                if ahead == 0 or behind < len(s.payload):  # starts here, or overlaps it
                    skip = 0 if ahead == 0 else behind
                    del self.pending[seq]
                    out.append((seg.t, s.payload[skip:]))
                    self.next_seq = (self.next_seq + len(s.payload) - skip) & 0xFFFFFFFF
                    found = True
                elif behind < 0x80000000:  # wholly old: a retransmission
                    del self.pending[seq]
            if not found:
                break
        return out

    def flush(self) -> list[tuple[float, bytes]]:
        """At the end of the capture: what lies beyond a hole, with the hole counted."""
        out = []
        for seq in sorted(self.pending, key=lambda q: (q - (self.next_seq or 0)) & 0xFFFFFFFF):
            s = self.pending.pop(seq)
            self.gaps += (seq - (self.next_seq or seq)) & 0xFFFFFFFF
            out.append((s.t, s.payload))
            self.next_seq = (seq + len(s.payload)) & 0xFFFFFFFF
        return out


Endpoint = tuple[str, int]


@dataclass
class Connection:
    number: int
    a: Endpoint  # the side that sent the SYN (the client) when the capture saw it
    b: Endpoint
    client_known: bool
    ways: dict[Endpoint, Direction] = field(default_factory=dict)


def tcp_streams(packets: Iterator[Packet]) -> Iterator[tuple[Connection, Endpoint, float, bytes]]:
    """(connection, sender, time, bytes) in capture order, each direction in sequence."""
    conns: dict[frozenset[Endpoint], Connection] = {}
    every: list[Connection] = []
    for packet in packets:
        seg = tcp_segment(packet)
        if seg is None:
            continue
        key = frozenset((seg.src, seg.dst))
        conn = conns.get(key)
        if conn is None or _reopened(conn, seg):
            syn = bool(seg.flags & TCP_SYN)
            client = seg.dst if syn and seg.flags & TCP_ACK else seg.src
            server = seg.src if client == seg.dst else seg.dst
            conn = conns[key] = Connection(len(every) + 1, client, server, syn)
            every.append(conn)
        way = conn.ways.setdefault(seg.src, Direction())
        for t, chunk in way.take(seg):
            yield conn, seg.src, t, chunk
    for conn in every:
        for src, way in conn.ways.items():
            for t, chunk in way.flush():
                yield conn, src, t, chunk


def _reopened(conn: Connection, seg: Segment) -> bool:
    """A SYN starting a new connection on the same addresses and ports."""
    if not seg.flags & TCP_SYN or seg.flags & TCP_ACK:
        return False
    way = conn.ways.get(seg.src)
    return way is not None and way.next_seq not in (None, (seg.seq + 1) & 0xFFFFFFFF)
