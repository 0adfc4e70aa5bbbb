# firmware-vm
"""Frame reader: whole input, one byte at a time, trailing bytes, and resync."""

from firmware.link import frame

PAYLOADS = (b"\x01", b"\x03\x07\x00\x00\x6b\x0a", bytes(range(96)), b"\x00\x00\x00")


def _read_all(reader):
    out = []
    while True:
        p = reader.next_payload()
        if p is None:
            return out
        out.append(p)


def test_golden_frame():
    # SetPilot(pwm, 26.67 %) seq 7: payload 03 0700 00 6b0a, CRC-32 LE, COBS, 00
    assert frame.pack(bytes.fromhex("030700006b0a")).hex() == "03030701076b0a6f54aae300"


def test_whole():
    r = frame.FrameReader()
    r.feed(b"".join(frame.pack(p) for p in PAYLOADS))
    assert _read_all(r) == list(PAYLOADS)
    assert r.total_dropped() == 0


def test_byte_at_a_time_needs_more_until_delimiter():
    for p in PAYLOADS:
        wire = frame.pack(p)
        r = frame.FrameReader()
        for i in range(len(wire) - 1):
            r.feed(wire[i : i + 1])
            assert r.next_payload() is None
        r.feed(wire[-1:])
        assert r.next_payload() == p


def test_trailing_bytes_wait_for_next_frame():
    r = frame.FrameReader()
    r.feed(frame.pack(b"abc") + frame.pack(b"def")[:4])
    assert r.next_payload() == b"abc"
    assert r.next_payload() is None
    r.feed(frame.pack(b"def")[4:])
    assert r.next_payload() == b"def"


def test_bad_crc_dropped_and_counted_then_resync():
    wire = bytearray(frame.pack(b"hello"))
    wire[2] ^= 0x01
    r = frame.FrameReader()
    r.feed(bytes(wire) + frame.pack(b"next"))
    assert _read_all(r) == [b"next"]
    assert r.dropped[frame.DROP_CRC] == 1


def test_garbage_before_frame():
    r = frame.FrameReader()
    r.feed(b"\x05\x01\x02\x00" + frame.pack(b"ok"))
    assert _read_all(r) == [b"ok"]
    assert r.dropped[frame.DROP_COBS] == 1


def test_short_frame():
    r = frame.FrameReader()
    r.feed(b"\x02\x01\x00")
    assert _read_all(r) == []
    assert r.dropped[frame.DROP_SHORT] == 1


def test_oversize_run_dropped_memory_bounded():
    r = frame.FrameReader()
    r.feed(b"\x01" * 5000)
    r.feed(b"\x00" + frame.pack(b"after"))
    assert _read_all(r) == [b"after"]
    assert r.dropped[frame.DROP_OVERSIZE] == 1


def test_pack_refuses_oversize():
    try:
        frame.pack(bytes(frame.MAX_PAYLOAD + 1))
    except ValueError:
        return
    raise AssertionError("oversize payload packed")
