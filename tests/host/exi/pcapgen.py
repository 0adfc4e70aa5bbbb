"""Captures for the `decode --pcap` tests, made from a real session.

`iso2_conversation` runs our ISO 15118-2 EVCC against our SECC (fake clock, no sockets)
and keeps the V2GTP bytes each side sent; `tls_wire` carries them through real TLS
(Python's ssl on memory BIOs, the SECC's own contexts, its lab keylog on); `write_capture`
writes what a tcpdump on the PLC interface would have recorded: Ethernet, IPv6
link-local, TCP with a handshake, correct checksums, segments at an MSS, one segment
retransmitted and two delivered out of order.
"""

from __future__ import annotations

import ssl
import struct
from pathlib import Path

from host.bench.dcplant import DcPlant
from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso2 import Iso2Config, Iso2Evcc
from host.exi.schemas import iso2 as i
from host.secc.controller import SimEvseController
from host.v2g import tls
from tests.host.secc.test_iso2_pair import Iso2Pair
from tests.pki import Pki

Chunk = tuple[bool, bytes]  # (sent by the EV, bytes)
EV = ("fe80::1", 50123)
SECC = ("fe80::2", 49152)
MSS = 40  # small, so that most messages span several segments


def iso2_conversation() -> list[Chunk]:
    plant = DcPlant(isolation_time=1.0)
    ev = SimEv(plant.battery, charge_for=0.5)
    pair = Iso2Pair(Iso2Evcc(ev, Iso2Config(mode=i.EnergyTransferModeType.AC_three_phase_core)),
                    SimEvseController(plant), 0.0)
    wire: list[Chunk] = []
    ev_send, secc_send = pair.evcc.data_to_send, pair.conn.data_to_send

    def from_ev() -> list[bytes]:
        out = ev_send()
        wire.extend((True, bytes(d)) for d in out)
        return out

    def from_secc() -> list[bytes]:
        out = secc_send()
        wire.extend((False, bytes(d)) for d in out)
        return out

    pair.evcc.data_to_send = from_ev
    pair.conn.data_to_send = from_secc
    pair.run()
    return wire


NO_ENCRYPT_THEN_MAC = 0x00080000  # OpenSSL's SSL_OP_NO_ENCRYPT_THEN_MAC (ssl does not name it)


def tls_wire(chunks: list[Chunk], pki: Pki, keylog: Path, tls13: bool = False,
             etm: bool = True, client_ctx: ssl.SSLContext | None = None) -> list[Chunk]:
    """The bytes on the wire when `chunks` go through TLS (1.2 as -2, or 1.3); `etm`
    False: the EV does not offer encrypt-then-MAC (RFC 7366), so CBC records are
    MAC-then-encrypt as in plain RFC 5246; `client_ctx`: the EV's context, when not ours."""
    sctx = tls.lab_keylog(tls.server_context(pki.v2g.chain_path, pki.v2g.leaf.key_path, tls13=tls13),
                          keylog)
    cctx = client_ctx or tls.client_context(pki.v2g.root.cert_path, tls13=tls13)
    if not etm:
        cctx.options |= NO_ENCRYPT_THEN_MAC
    bios = [ssl.MemoryBIO() for _ in range(4)]
    server = sctx.wrap_bio(bios[0], bios[1], server_side=True)
    client = cctx.wrap_bio(bios[2], bios[3])
    wire: list[Chunk] = []

    def move() -> None:
        while True:
            moved = False
            for from_ev, out, peer_in in ((True, bios[3], bios[0]), (False, bios[1], bios[2])):
                data = out.read()
                if data:
                    wire.append((from_ev, data))
                    peer_in.write(data)
                    moved = True
            if not moved:
                return

    for _ in range(20):
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        move()
        if client.version() and server.version():
            break
    for from_ev, data in chunks:
        (client if from_ev else server).write(data)
        move()
        peer = server if from_ev else client
        got = b""
        while len(got) < len(data):
            got += peer.read(65536)
        assert got == data
    return wire


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ip6(addr: str) -> bytes:
    import ipaddress

    return ipaddress.IPv6Address(addr).packed


def _packet(src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int,
            payload: bytes = b"") -> bytes:
    tcp = struct.pack(">HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags,
                      65535, 0, 0) + payload
    pseudo = _ip6(src[0]) + _ip6(dst[0]) + struct.pack(">IxxxB", len(tcp), 6)
    tcp = tcp[:16] + struct.pack(">H", _checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack(">IHBB", 6 << 28, len(tcp), 6, 64) + _ip6(src[0]) + _ip6(dst[0])
    eth = bytes.fromhex("02000000000202000000000186dd")
    return eth + ip + tcp


def packets(wire: list[Chunk]) -> list[bytes]:
    """The TCP connection carrying `wire`: handshake, segments, one retransmission, two
    segments swapped, and the close."""
    seq = {True: 1000, False: 5000}
    SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01
    out = [_packet(EV, SECC, seq[True] - 1, 0, SYN), _packet(SECC, EV, seq[False] - 1, seq[True], SYN | ACK),
           _packet(EV, SECC, seq[True], seq[False], ACK)]
    first = {True: 0, False: 0}  # the last segment of each side's first message
    for from_ev, data in wire:
        src, dst = (EV, SECC) if from_ev else (SECC, EV)
        for at in range(0, len(data), MSS):
            part = data[at:at + MSS]
            out.append(_packet(src, dst, seq[from_ev], seq[not from_ev], ACK | PSH, part))
            seq[from_ev] += len(part)
        first[from_ev] = first[from_ev] or len(out) - 1
    n = len(out) // 2
    out.insert(n + 2, out[n])  # a retransmission, after the original
    swap = first[True]  # the EV's first message spans two segments at least: swapped
    out[swap], out[swap - 1] = out[swap - 1], out[swap]
    out.append(_packet(EV, SECC, seq[True], seq[False], FIN | ACK))
    out.append(_packet(SECC, EV, seq[False], seq[True] + 1, FIN | ACK))
    return out


def write_capture(path: Path, frames: list[bytes], pcapng: bool = False) -> Path:
    t0 = 1_764_547_200  # 2025-12-01, in seconds
    with path.open("wb") as f:
        if not pcapng:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for n, frame in enumerate(frames):
                f.write(struct.pack("<IIII", t0, n * 1000, len(frame), len(frame)) + frame)
            return path
        shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
        f.write(_block(0x0A0D0D0A, shb))
        f.write(_block(1, struct.pack("<HHI", 1, 0, 65535)))
        for n, frame in enumerate(frames):
            ts = t0 * 1_000_000 + n * 1000
            body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame))
            f.write(_block(6, body + frame + b"\0" * (-len(frame) % 4)))
    return path


def _block(kind: int, body: bytes) -> bytes:
    size = 12 + len(body)
    return struct.pack("<II", kind, size) + body + struct.pack("<I", size)
