"""`v2gate decode --pcap` on crafted input: a malformed block or TLS record is an error
line or record naming it, never a traceback."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from host import cli


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
