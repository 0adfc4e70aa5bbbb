# firmware-vm
"""COBS against the canonical examples (Cheshire & Baker 1999; the Wikipedia table)."""

from firmware.link import cobs
from tests.firmware.vmcheck import raises

_SEQ = bytes(range(1, 255))  # 01..FE
VECTORS = (
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (_SEQ, b"\xff" + _SEQ),
    (b"\x00" + _SEQ, b"\x01\xff" + _SEQ),
    (_SEQ + b"\xff", b"\xff" + _SEQ + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
    (b"", b"\x01"),
)


def test_encode_vectors():
    for raw, stuffed in VECTORS:
        assert cobs.encode(raw) == stuffed, raw


def test_decode_vectors():
    for raw, stuffed in VECTORS:
        assert cobs.decode(stuffed) == raw, stuffed


def test_encoded_has_no_zero():
    data = bytes(i % 3 for i in range(600))
    assert 0 not in cobs.encode(data)
    assert cobs.decode(cobs.encode(data)) == data


def test_decode_rejects_zero_inside():
    raises(cobs.CobsError, cobs.decode, b"\x03\x11\x00")


def test_decode_rejects_block_past_end():
    raises(cobs.CobsError, cobs.decode, b"\x05\x11\x22")
