"""`v2gate decode --pcap` on crafted input: a malformed block or TLS record is an error
line or record naming it, never a traceback."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from types import FrameType

import pytest

from host import cli
from host.v2g import pcap
from host.v2g.tlsrecords import SUITES, TlsError, TlsStream, _Keys
from tests.host.exi import pcapgen


def _block(kind: int, body: bytes) -> bytes:
    size = 12 + len(body)
    return struct.pack("<II", kind, size) + body + struct.pack("<I", size)


SHB = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
IDB = _block(1, struct.pack("<HHI", 1, 0, 65535))


@pytest.mark.parametrize("blocks", [
    [_block(1, b"")],  # an interface description without its link type
    [IDB, _block(6, b"")],  # an enhanced packet without its header
    [_block(1, struct.pack("<HHIHH", 1, 0, 65535, 9, 1))],  # if_tsresol without its value
    [IDB, _block(3, b"")],  # a simple packet without its length
])  # fmt: skip
def test_malformed_pcapng_blocks_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                              blocks: list[bytes]) -> None:  # fmt: skip
    cap = tmp_path / "bad.pcapng"
    cap.write_bytes(SHB + b"".join(blocks))
    code = cli.main(["decode", "--pcap", str(cap)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"v2gate decode: {cap}: ") and err.count("\n") == 1, err


def _record(ctype: int, body: bytes) -> bytes:
    return bytes([ctype]) + b"\x03\x03" + struct.pack(">H", len(body)) + body


SHORT_SERVER_HELLO = _record(22, bytes([2]) + (3).to_bytes(3, "big") + b"\x03\x03\x00")


def test_a_cut_short_server_hello_is_an_error_record(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:  # fmt: skip
    cap = pcapgen.write_capture(tmp_path / "v2g.pcap", pcapgen.packets([(False, SHORT_SERVER_HELLO)]))
    code = cli.main(["decode", "--pcap", str(cap)])
    out, err = capsys.readouterr()
    assert code == 1, err
    errors = [r["error"] for r in map(json.loads, out.splitlines()) if "error" in r]
    assert len(errors) == 1 and "ServerHello" in errors[0]


@pytest.mark.parametrize("size", [0, 10, 23])
def test_a_tls12_gcm_record_too_short_for_nonce_and_tag_is_a_tls_error(size: int) -> None:
    keys = _Keys(SUITES[0xC02B], bytes(16), bytes(4))
    with pytest.raises(TlsError, match=f"record 0: {size} bytes"):
        keys.open(23, b"\x03\x03", bytes(size))


def test_short_server_hello_with_a_keylog_is_a_tls_error() -> None:
    with pytest.raises(TlsError, match="ServerHello"):
        TlsStream({}).receive(False, SHORT_SERVER_HELLO)


def _reassemble_after_a_hole(n: int) -> tuple[int, bytes]:
    """(Python lines run in host/v2g/pcap.py, bytes out) for n one-byte segments held
    beyond a 10-byte hole, then the hole filled."""
    d = pcap.Direction()
    d.take(pcap.Segment(0.0, ("a", 1), ("b", 2), 99, pcap.TCP_SYN, b""))
    segs = [pcap.Segment(0.0, ("a", 1), ("b", 2), 110 + i, 0x18, bytes([65 + i % 26])) for i in range(n)]
    lines = 0

    def local(frame: FrameType, event: str, arg: object) -> object:
        nonlocal lines
        lines += event == "line"
        return local

    def tracer(frame: FrameType, event: str, arg: object) -> object:
        return local if frame.f_code.co_filename == pcap.__file__ else None

    out = []
    sys.settrace(tracer)
    try:
        for seg in segs:
            out += d.take(seg)
        out += d.take(pcap.Segment(1.0, ("a", 1), ("b", 2), 100, 0x18, b"0123456789"))
    finally:
        sys.settrace(None)
    return lines, b"".join(chunk for _, chunk in out)


def test_reassembly_after_a_hole_grows_linearly() -> None:
    # every held segment used to be scanned for each new one: a long capture that lost
    # one packet early took hours. Counted in lines run, not timed: doubling n doubles them.
    small, data = _reassemble_after_a_hole(300)
    assert data == b"0123456789" + bytes(65 + i % 26 for i in range(300))
    big, _ = _reassemble_after_a_hole(600)
    assert big < 2.5 * small, (small, big)
