"""EXI built-in datatypes on the bit stream: golden tables both ways, and errors."""

from __future__ import annotations

import pytest

from host.exi.runtime import BitReader, BitWriter, ExiDecodeError, ExiEncodeError

pytestmark = pytest.mark.unit

# (writer method, args, bytes after padding) -- EXI 1.0 §7.1; values worked by hand
GOLDEN = [
    ("uint", (0,), "00"),
    ("uint", (127,), "7f"),
    ("uint", (128,), "8001"),
    ("uint", (300,), "ac02"),
    ("sint", (-1,), "8000"),  # sign bit then 0
    ("sint", (5,), "0280"),
    ("boolean", (True,), "80"),
    ("binary", (b"\x0a\x0b",), "020a0b"),
    ("string", ("AB",), "044142"),  # length + 2, then code points
    ("string", ("Aé",), "0441e901"),  # a code point above 127 takes two 7-bit groups
    ("nbit", (3, -3, 3, 3), "c0"),  # 3 - (-3) = 6 in 3 bits
]


@pytest.mark.parametrize(("method", "args", "hexbytes"), GOLDEN)
def test_golden_encode(method: str, args: tuple, hexbytes: str) -> None:
    w = BitWriter()
    getattr(w, method)(*args)
    assert w.getvalue().hex() == hexbytes


@pytest.mark.parametrize(("method", "args", "hexbytes"), GOLDEN)
def test_golden_decode(method: str, args: tuple, hexbytes: str) -> None:
    r = BitReader(bytes.fromhex(hexbytes))
    if method == "nbit":
        assert r.nbit(args[1], args[2], args[3]) == args[0]
    else:
        assert getattr(r, method)() == args[0]


def test_bits_are_packed_msb_first_without_alignment() -> None:
    w = BitWriter()
    w.bits(1, 1)
    w.bits(3, 0b010)
    w.bits(7, 0x7F)
    assert w.getvalue() == bytes([0b10101111, 0b11100000])


def test_reading_past_the_end_says_where() -> None:
    r = BitReader(b"\xff")
    r.bits(5)
    with pytest.raises(ExiDecodeError, match="bit 5: need 4 bits"):
        r.bits(4)


def test_binary_length_is_checked_against_the_remaining_input() -> None:
    with pytest.raises(ExiDecodeError, match="exceeds the remaining input"):
        BitReader(bytes.fromhex("7f00")).binary()


def test_string_length_is_checked_against_the_remaining_input() -> None:
    with pytest.raises(ExiDecodeError, match="exceeds the remaining input"):
        BitReader(bytes.fromhex("7f41")).string()


def test_unbounded_integer_runs_are_refused() -> None:
    with pytest.raises(ExiDecodeError, match="longer than 23 octets"):
        BitReader(b"\xff" * 24).uint()


def test_a_160_bit_certificate_serial_number_round_trips() -> None:
    # RFC 5280 serials reach 20 octets; -2 carries them in X509SerialNumber (xs:integer)
    serial = (1 << 159) + 12345
    w = BitWriter()
    w.sint(serial)
    assert BitReader(w.getvalue()).sint() == serial


def test_out_of_range_values_are_encode_errors() -> None:
    with pytest.raises(ExiEncodeError):
        BitWriter().uint(-1)
    with pytest.raises(ExiEncodeError, match="outside -3..3"):
        BitWriter().nbit(4, -3, 3, 3)
