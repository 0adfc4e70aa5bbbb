"""Property tests (hypothesis) on the frame reader and the message decoder."""

from __future__ import annotations

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from firmware.link import cobs, frame
from firmware.link import messages as m


@given(st.binary(max_size=600))
def test_cobs_roundtrip(data: bytes) -> None:
    enc = cobs.encode(data)
    assert 0 not in enc
    assert cobs.decode(enc) == data


@given(st.binary(max_size=300))
def test_cobs_decode_random_is_clean(data: bytes) -> None:
    try:
        out = cobs.decode(data)
    except cobs.CobsError:
        return
    assert 0 not in data
    assert cobs.decode(cobs.encode(out)) == out


@given(st.lists(st.binary(min_size=1, max_size=frame.MAX_PAYLOAD), max_size=5), st.binary(max_size=200))
def test_reader_recovers_after_any_garbage(payloads: list[bytes], garbage: bytes) -> None:
    r = frame.FrameReader()
    r.feed(garbage + b"\x00" + b"".join(frame.pack(p) for p in payloads))
    got = []
    while (p := r.next_payload()) is not None:
        got.append(p)
    assert got[len(got) - len(payloads):] == payloads
    assert len(got) <= len(payloads) + 1  # garbage passes only with a valid CRC-32


@settings(max_examples=500)
@given(st.binary(max_size=64))
@example(bytes.fromhex("06000000000000000000010000000000"))  # SetConfig with order 1 << 24
def test_decode_any_payload_is_error_or_reencodes(payload: bytes) -> None:
    try:
        seq, msg = m.decode(payload)
    except m.LinkDecodeError as e:
        assert e.reason in m.NACK_NAMES
        return
    # fixed-width text: NULs stripped, padded back; an ordered command's epoch and order
    # come from the payload too
    again = msg.encode(seq, epoch=getattr(msg, "epoch", 0), order=getattr(msg, "order", 0))
    assert again == payload


@given(st.sampled_from(m.CATALOGUE), st.data())
def test_every_in_range_message_roundtrips(cls: type[m.Message], data: st.DataObject) -> None:
    values = []
    for r in cls.RANGES:
        if r is None:
            values.append(data.draw(st.binary(max_size=12).map(lambda b: b.rstrip(b"\0"))))
        else:
            values.append(data.draw(st.integers(r[0], r[1])))
    msg = cls(*values)
    assume(msg.out_of_range() < 0)  # SetPilot's PWM rule narrows duty further
    seq = data.draw(st.integers(0, 0xFFFF))
    epoch = data.draw(st.integers(0, m.ORDER_MAX))
    order = data.draw(st.integers(0, m.ORDER_MAX))
    got_seq, got = m.decode(msg.encode(seq, epoch=epoch, order=order))
    assert (got_seq, got) == (seq, msg)
    if cls.ORDERED:
        assert (got.epoch, got.order) == (epoch, order)
