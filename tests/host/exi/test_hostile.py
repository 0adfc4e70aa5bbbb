"""Hostile input: decoding time linear in the input, bounded lists, a size cap, and the
schemas' facets (value ranges, lengths) enforced both ways with the field named."""

from __future__ import annotations

import random
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host import exi
from host.exi import runtime as rt
from host.exi import sample
from host.exi.schemas import din, iso2

pytestmark = pytest.mark.unit

DIN = "urn:din:70121:2012:MsgDef"
ISO2 = "urn:iso:15118:2:2013:MsgDef"
# a real car's DIN CurrentDemandReq (tests/host/exi/vectors/din_real_cars.txt)
CURRENT_DEMAND = bytes.fromhex("809a02004080c1014181c210d100000ba0406014010285010004061a01e04070c8"
                               "4c0400c081e00604000040a1503c00")
# a DIN ServiceDiscoveryRes up to its PaymentOptions (issue #10): zeros after it read as
# PaymentOption items, each a few bits, for as long as the input lasts
PAYMENT_OPTIONS = bytes.fromhex("809a022f0c2bd421f111b591a001")


# ---- item 11: linear time, bounded lists, a size cap ------------------------------------
@pytest.mark.parametrize("tail", [1024, 8 * 1024, 64 * 1024, 256 * 1024])
def test_zero_tails_stop_at_the_list_bound_whatever_their_length(tail: int) -> None:
    """The decoder stops after the 1024th item, at the same bit for every tail length: the
    work done no longer grows with the input (it read all of it, item by item, before)."""
    with pytest.raises(exi.ExiDecodeError) as caught:
        exi.decode(DIN, PAYMENT_OPTIONS + bytes(tail))
    assert "PaymentOptionsType.PaymentOption: more than 1024 items" in str(caught.value)
    assert caught.value.position == 5233


def test_the_caller_caps_the_input_size() -> None:
    assert exi.decode(DIN, CURRENT_DEMAND, max_size=len(CURRENT_DEMAND)) is not None
    with pytest.raises(exi.ExiDecodeError, match="49 bytes of EXI, more than the limit of 48"):
        exi.decode(DIN, CURRENT_DEMAND + b"\x00", max_size=48)


def test_a_read_costs_the_same_whatever_the_input_size() -> None:
    """Each read used to shift an int of the whole input (allocating one as large): a
    megabyte of input cost a megabyte per read, quadratic time over the stream."""
    peaks = []
    for pos in (0, 8 << 19, (8 << 20) - 64):
        reader = rt.BitReader(bytes(range(256)) * 4096)  # 1 MiB, not all zero
        reader.pos = pos
        tracemalloc.start()
        try:
            for _ in range(8):
                reader.bits(7)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert max(peaks) < 4096, peaks


def test_reads_across_window_edges_and_long_runs_match_the_input() -> None:
    rng = random.Random(7)
    data = rng.randbytes(1000)
    value = int.from_bytes(data, "big")
    reader = rt.BitReader(data)
    pos = 0
    for width in [rng.choice((1, 3, 8, 13, 64, 511, 600, 2000)) for _ in range(300)]:
        if pos + width > 8 * len(data):
            break
        expected = (value >> (8 * len(data) - pos - width)) & ((1 << width) - 1)
        assert reader.bits(width) == expected, (pos, width)
        pos += width
    assert pos > 8 * 500


# ---- item 12: facets --------------------------------------------------------------------
@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch):
    """Encode as a peer that ignores the facets: the bytes a hostile or broken peer sends."""
    def patch() -> None:
        monkeypatch.setattr(rt.BitWriter, "uint_in", lambda w, v, lo, hi, name: w.uint(v))
        monkeypatch.setattr(rt.BitWriter, "sint_in", lambda w, v, lo, hi, name: w.sint(v))
        monkeypatch.setattr(rt.BitWriter, "binary_in", lambda w, v, lo, hi, name: w.binary(v))
        monkeypatch.setattr(rt.BitWriter, "string_in", lambda w, v, lo, hi, name: w.string(v))
        monkeypatch.setattr(rt, "check_length", lambda v, lo, hi, name: v)
    return patch, monkeypatch.undo


def _current_demand(**changes):
    message = exi.decode(DIN, CURRENT_DEMAND)
    for path, value in changes.items():
        target = message
        *parents, last = path.split("__")
        for name in parents:
            target = getattr(target, name)
        setattr(target, last, value)
    return message


def _random(module, name: str, want=lambda m: True):
    for n in range(200):
        message = sample.random_message(module, name, random.Random(n))
        if want(message):
            return message
    raise AssertionError(f"no random {name} fits")


def _din_ac_parameters(departure: int):
    message = _random(din, "ChargeParameterDiscoveryReq", lambda m: isinstance(
        m.Body.BodyElement.EVChargeParameter, din.AC_EVChargeParameterType))
    message.Body.BodyElement.EVChargeParameter.DepartureTime = departure
    return message


def _iso2_body(name: str, **fields):
    message = _random(iso2, name)
    for key, value in fields.items():
        setattr(message.Body.BodyElement, key, value)
    return message


def _iso2_meter_reading(reading: int):
    message = _random(iso2, "MeteringReceiptReq")
    message.Body.BodyElement.MeterInfo.MeterReading = reading
    return message


# (namespace, message outside a facet, what the error says)
OUTSIDE = [
    (DIN, lambda: _current_demand(Body__BodyElement__EVTargetCurrent__Value=97536),
     r"PhysicalValueType\.Value: 97536 is outside -32768\.\.32767"),
    (DIN, lambda: _current_demand(Body__BodyElement__EVTargetCurrent__Value=-32769),
     r"PhysicalValueType\.Value: -32769 is outside"),
    (DIN, lambda: _current_demand(Header__SessionID=bytes(10)),
     r"MessageHeaderType\.SessionID: 10 octets, the schema allows 0\.\.8"),
    (DIN, lambda: _din_ac_parameters(2**70 - 1),
     r"AC_EVChargeParameterType\.DepartureTime: 1180591620717411303423 is outside "
     r"0\.\.4294967295"),
    (ISO2, lambda: _iso2_meter_reading(2**64), r"MeterInfoType\.MeterReading: 18446744073709551616"),
    (ISO2, lambda: _iso2_body("SessionSetupRes", EVSEID="€" * 48000),  # 96 kB of 2-octet chars
     r"SessionSetupResType\.EVSEID: 48000 characters, the schema allows 7\.\.37"),
    (ISO2, lambda: _iso2_body("SessionSetupRes", EVSEID="DE*1"),
     r"SessionSetupResType\.EVSEID: 4 characters, the schema allows 7\.\.37"),
    (ISO2, lambda: _iso2_body("PaymentDetailsRes", GenChallenge=bytes(15)),
     r"PaymentDetailsResType\.GenChallenge: 15 octets, the schema allows 16\.\.16"),
    (ISO2, lambda: _iso2_body("PaymentDetailsRes", GenChallenge=b""),
     r"PaymentDetailsResType\.GenChallenge: (0 octets|empty)"),
]


@pytest.mark.parametrize(("ns", "build", "error"), OUTSIDE)
def test_values_outside_the_facets_are_refused_both_ways(ns, build, error, unchecked) -> None:
    patch, restore = unchecked
    message = build()
    with pytest.raises(exi.ExiEncodeError, match=error):
        exi.encode(message, ns)
    patch()
    data = exi.encode(message, ns)
    restore()
    with pytest.raises(exi.ExiDecodeError, match=error):
        exi.decode(ns, data)


# (namespace, message at or within a facet's limits)
INSIDE = [
    (DIN, lambda: _current_demand(Body__BodyElement__EVTargetCurrent__Value=-32768)),
    (DIN, lambda: _current_demand(Body__BodyElement__EVTargetCurrent__Value=32767)),
    (DIN, lambda: _current_demand(Header__SessionID=b"")),
    (DIN, lambda: _din_ac_parameters(2**32 - 1)),
    (ISO2, lambda: _iso2_meter_reading(2**64 - 1)),
    (ISO2, lambda: _iso2_body("SessionSetupRes", EVSEID="DE*ÄÖÜ*€1234567")),  # not ASCII
    (ISO2, lambda: _iso2_body("SessionSetupRes", EVSEID="€" * 37)),
    (ISO2, lambda: _iso2_body("PaymentDetailsRes", GenChallenge=bytes(16))),
]


@pytest.mark.parametrize(("ns", "build"), INSIDE)
def test_values_the_facets_allow_round_trip(ns, build) -> None:
    message = build()
    assert exi.decode(ns, exi.encode(message, ns)) == message


def test_lists_the_schema_leaves_unbounded_are_capped_on_encode_too() -> None:
    message = _random(din, "ServiceDiscoveryRes")
    options = message.Body.BodyElement.PaymentOptions
    options.PaymentOption = [options.PaymentOption[0]] * 1024
    assert exi.decode(DIN, exi.encode(message)) == message
    options.PaymentOption.append(options.PaymentOption[0])
    with pytest.raises(exi.ExiEncodeError, match="PaymentOptionsType.PaymentOption: 1025 items"):
        exi.encode(message)


# ---- every top-level decoder on random bytes ----------------------------------------------
def _decodes_cleanly(ns: str, data: bytes, fragment: bool) -> None:
    try:
        message = exi.decode(ns, data, fragment=fragment, max_size=4096)
    except exi.ExiDecodeError:
        return
    again = exi.encode(message, ns, fragment=fragment)
    assert exi.decode(ns, again, fragment=fragment) == message


@settings(max_examples=200, deadline=None)
@given(ns=st.sampled_from(sorted(exi.MODULES)), data=st.binary(max_size=96))
def test_random_fragments_give_a_decode_error_or_a_message(ns, data) -> None:
    _decodes_cleanly(ns, b"\x80" + data, fragment=True)


@settings(max_examples=100, deadline=None)
@given(ns=st.sampled_from(sorted(exi.MODULES)), rng=st.randoms(use_true_random=False),
       tail=st.binary(min_size=1, max_size=64))
def test_random_tails_after_a_message_give_a_decode_error_or_a_message(ns, rng, tail) -> None:
    module = exi.schema_module(ns)
    name, _ = rng.choice(sample.message_roots(module))
    message = sample.random_message(module, name, rng)
    _decodes_cleanly(ns, exi.encode(message, ns) + tail, fragment=module.FRAGMENT_DEFAULT)
