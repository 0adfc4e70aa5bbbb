"""Bit streams and EXI built-in datatypes under the generated ISO 15118 codecs.

EXI 1.0 bit-packed alignment: every value is written most significant bit first with no
padding until the end of the stream. The writer accumulates into one Python int; the
reader shifts an int of a 64-byte window of the input, so a read costs the same whatever
the input's size, and as little as CPython offers for V2G-sized messages.
Strings follow the reference configuration: valuePartitionCapacity = 0, so a value is never
found in the string table and is always written as a literal, length + 2 (EXI 1.0 §7.3.3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

EE = "EE"
CH = "CH"
# EXI header: distinguishing bits 10, no options, version 1 (EXI 1.0 §5).
HEADER = 0x80
# Second-level event codes of a simple-typed element's first state (EE, xsi:type, xsi:nil,
# AT(*), SE(*), CH[untyped]) fit in 3 bits; EE is code 0. The reference codec writes an
# element with an empty value (an empty hexBinary SessionID) this way.
_SECOND_LEVEL_BITS = 3
# The widest ISO 15118 integer is an X.509 serial number (xs:integer X509SerialNumber in
# -2's ListOfRootCertificateIDs): up to 20 octets (RFC 5280), 160 bits, 23 7-bit groups.
# Refuse longer runs early.
_MAX_UINT_OCTETS = 23
_MAX_UINT = (1 << (7 * _MAX_UINT_OCTETS)) - 1
# BitReader window in bytes: one int of this size shifts about as fast as a small message's
_WINDOW = 64


class ExiError(Exception):
    """Base of the codec's errors."""


class ExiEncodeError(ExiError):
    """The message does not fit the schema (wrong event in a state, value out of range)."""


class ExiDecodeError(ExiError):
    """The bytes are not a stream this grammar produces; says where and what was expected."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"bit {position}: {message}")
        self.position = position


class Grammar:
    """One type's normalised grammar: per state, its event-code width and productions."""

    __slots__ = ("name", "states", "encode_map")

    def __init__(self, name: str, states: Sequence[tuple[int, tuple[tuple[str, int], ...]]]):
        self.name = name
        self.states = tuple(states)
        self.encode_map = tuple(
            {key: (width, code, target) for code, (key, target) in enumerate(prods)}
            for width, prods in self.states
        )

    def expected(self, state: int) -> str:
        return ", ".join(key for key, _ in self.states[state][1])


def _span(low: int | None, high: int | None) -> str:
    return f"{'' if low is None else low}..{'' if high is None else high}"


def check_length(value: bytes | str, low: int, high: int | None, name: str) -> bytes | str:
    """`value` if its length is within the facets, else an ExiEncodeError naming `name`."""
    size = len(value)
    if size < low or (high is not None and size > high):
        unit = "characters" if isinstance(value, str) else "octets"
        raise ExiEncodeError(f"{name}: {size} {unit}, the schema allows {_span(low, high)}")
    return value


def check_occurs(name: str, count: int, limit: int) -> None:
    """At most `limit` items: the schema's maxOccurs, or the cap of an unbounded list."""
    if count > limit:
        raise ExiEncodeError(f"{name}: {count} items, more than {limit}")


def element_encoder(encoders: dict, value: object) -> tuple:
    """(event key, encoder) of the global element `value` is an instance of."""
    try:
        return encoders[type(value)]
    except KeyError:
        raise ExiEncodeError(
            f"{type(value).__module__}.{type(value).__name__} is not an element of this schema"
        ) from None


class BitWriter:
    __slots__ = ("acc", "nbits")

    def __init__(self) -> None:
        self.acc = 0
        self.nbits = 0

    def bits(self, width: int, value: int) -> None:
        self.acc = (self.acc << width) | value
        self.nbits += width

    def event(self, grammar: Grammar, state: int, key: str) -> int:
        """Write the event code of `key` in `state`; return the next state."""
        try:
            width, code, target = grammar.encode_map[state][key]
        except KeyError:
            raise ExiEncodeError(
                f"{grammar.name} state {state}: {key} is not allowed here "
                f"(expected one of {grammar.expected(state)})"
            ) from None
        self.acc = (self.acc << width) | code
        self.nbits += width
        return target

    def getvalue(self) -> bytes:
        pad = -self.nbits % 8
        return (self.acc << pad).to_bytes((self.nbits + pad) // 8, "big")

    # ---- built-in datatypes (EXI 1.0 §7.1) -------------------------------------------
    def uint(self, value: int) -> None:
        if not 0 <= value <= _MAX_UINT:  # the decoder refuses longer runs
            raise ExiEncodeError(f"unsigned integer {value} is outside 0..{_MAX_UINT}")
        while value > 0x7F:
            self.acc = (self.acc << 8) | 0x80 | (value & 0x7F)
            self.nbits += 8
            value >>= 7
        self.acc = (self.acc << 8) | value
        self.nbits += 8

    def sint(self, value: int) -> None:
        if value < 0:
            self.bits(1, 1)
            self.uint(-value - 1)
        else:
            self.bits(1, 0)
            self.uint(value)

    # ---- with the schema's facets: `name` is the field, for the error ---------------
    def uint_in(self, value: int, low: int, high: int | None, name: str) -> None:
        if value < low or (high is not None and value > high):
            raise ExiEncodeError(f"{name}: {value} is outside {_span(low, high)}")
        self.uint(value)

    def sint_in(self, value: int, low: int | None, high: int | None, name: str) -> None:
        if (low is not None and value < low) or (high is not None and value > high):
            raise ExiEncodeError(f"{name}: {value} is outside {_span(low, high)}")
        self.sint(value)

    def binary_in(self, data: bytes, low: int, high: int | None, name: str) -> None:
        check_length(data, low, high, name)
        self.binary(data)

    def string_in(self, text: str, low: int, high: int | None, name: str) -> None:
        check_length(text, low, high, name)
        self.string(text)

    def nbit(self, value: int, low: int, high: int, width: int) -> None:
        if not low <= value <= high:
            raise ExiEncodeError(f"{value} is outside {low}..{high}")
        self.bits(width, value - low)

    def boolean(self, value: bool) -> None:
        self.bits(1, 1 if value else 0)

    def enum(self, value: Enum, index: dict, width: int) -> None:
        try:
            self.bits(width, index[value])
        except KeyError:
            raise ExiEncodeError(f"{value!r} is not a value of this enumeration") from None

    def binary(self, data: bytes) -> None:
        self.uint(len(data))
        if data:
            self.binary_octets(data)

    def string(self, text: str) -> None:
        self.uint(len(text) + 2)
        if text.isascii():  # each code point is one octet: write them in one go
            self.binary_octets(text.encode("ascii"))
            return
        for ch in text:
            self.uint(ord(ch))

    def binary_octets(self, data: bytes) -> None:
        self.acc = (self.acc << (8 * len(data))) | int.from_bytes(data, "big")
        self.nbits += 8 * len(data)

    def empty_element(self) -> None:
        """SE already written; EE at the second level (the element has no characters)."""
        self.bits(1, 1)
        self.bits(_SECOND_LEVEL_BITS, 0)

    def elem_text(self, value: bytes | str, write: Callable[[Any], None]) -> None:
        """A binary or string element's content: CH, the value, EE; or, for an empty value,
        EE at the second level, as the reference codec writes it."""
        if not value:
            self.empty_element()
            return
        self.bits(1, 0)
        write(value)
        self.bits(1, 0)


class BitReader:
    """Reads bits from a window: an int of at most _WINDOW bytes of the input, refilled as
    the position passes its end. Shifting one int of the whole input (the fastest access for
    a small message) costs time in the input's size on every read, so a large hostile input
    took time in its square; the window keeps each read's cost independent of the input."""

    __slots__ = ("data", "end", "pos", "depth", "window", "wend")

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.end = 8 * len(data)
        self.pos = 0
        self.depth = 0
        self.window = 0  # the input's bits up to bit `wend`, at least those from `pos` on
        self.wend = -1  # no window yet: the first read fills it

    def bits(self, width: int) -> int:
        pos = self.pos + width
        if pos <= self.wend:
            self.pos = pos
            return (self.window >> (self.wend - pos)) & ((1 << width) - 1)
        return self._bits_refill(width)

    def _bits_refill(self, width: int) -> int:
        start = self.pos
        stop = start + width
        if stop > self.end:
            raise ExiDecodeError(start, f"need {width} bits, the stream ends at bit {self.end}")
        first = start >> 3
        if width > 8 * (_WINDOW - 1):  # a long binary or string: read it on its own
            last = (stop + 7) >> 3
            self.wend = -1
            self.pos = stop
            chunk = int.from_bytes(self.data[first:last], "big")
            return (chunk >> (8 * last - stop)) & ((1 << width) - 1)
        last = min(first + _WINDOW, len(self.data))
        self.window = int.from_bytes(self.data[first:last], "big")
        self.wend = 8 * last
        self.pos = stop
        return (self.window >> (self.wend - stop)) & ((1 << width) - 1)

    def seek(self, pos: int) -> None:
        """Move back to bit `pos` (re-reading a string's characters one by one)."""
        self.pos = pos
        self.wend = -1

    def event(self, grammar: Grammar, state: int) -> tuple[str, int]:
        """Read an event code in `state`; return (production key, next state)."""
        width, prods = grammar.states[state]
        at = self.pos
        code = self.bits(width)
        if code < len(prods):
            return prods[code]
        raise ExiDecodeError(
            at, f"{grammar.name} state {state}: event code {code} is a second-level "
            f"(undeclared) event; expected one of {grammar.expected(state)}"
        )

    def enter(self, name: str) -> None:
        # Nesting needs at least one bit per level, so it is bounded by the input anyway;
        # this keeps a hostile stream from reaching Python's recursion limit first.
        self.depth += 1
        if self.depth > 64:
            raise ExiDecodeError(self.pos, f"{name}: elements nested deeper than 64")

    # ---- built-in datatypes ----------------------------------------------------------
    def uint(self) -> int:
        at = self.pos
        value = shift = 0
        for _ in range(_MAX_UINT_OCTETS):
            octet = self.bits(8)
            value |= (octet & 0x7F) << shift
            if octet < 0x80:
                return value
            shift += 7
        raise ExiDecodeError(at, f"unsigned integer longer than {_MAX_UINT_OCTETS} octets")

    def sint(self) -> int:
        if self.bits(1):
            return -self.uint() - 1
        return self.uint()

    # ---- with the schema's facets: `name` is the field, for the error ---------------
    def uint_in(self, low: int, high: int | None, name: str) -> int:
        at = self.pos
        value = self.uint()
        if value < low or (high is not None and value > high):
            raise ExiDecodeError(at, f"{name}: {value} is outside {_span(low, high)}")
        return value

    def sint_in(self, low: int | None, high: int | None, name: str) -> int:
        at = self.pos
        value = self.sint()
        if (low is not None and value < low) or (high is not None and value > high):
            raise ExiDecodeError(at, f"{name}: {value} is outside {_span(low, high)}")
        return value

    def binary_in(self, low: int, high: int | None, name: str) -> bytes:
        at = self.pos
        length = self.uint()
        if length < low or (high is not None and length > high):
            raise ExiDecodeError(at, f"{name}: {length} octets, the schema allows "
                                 f"{_span(low, high)}")
        return self._octets(at, length)

    def string_in(self, low: int, high: int | None, name: str) -> str:
        at = self.pos
        length = self.uint()
        if length >= 2 and (length - 2 < low or (high is not None and length - 2 > high)):
            raise ExiDecodeError(at, f"{name}: {length - 2} characters, the schema allows "
                                 f"{_span(low, high)}")
        return self._chars(at, length)

    def empty(self, value: bytes | str, low: int, name: str) -> bytes | str:
        """An empty element's value, where the schema's minimum length allows it."""
        if low > 0:
            raise ExiDecodeError(self.pos, f"{name}: empty, the schema requires at least "
                                 f"{low}")
        return value

    def nbit(self, low: int, high: int, width: int) -> int:
        at = self.pos
        value = self.bits(width) + low
        if value > high:
            raise ExiDecodeError(at, f"{value} is outside {low}..{high}")
        return value

    def boolean(self) -> bool:
        return self.bits(1) == 1

    def enum(self, members: tuple, width: int):
        at = self.pos
        index = self.bits(width)
        if index >= len(members):
            raise ExiDecodeError(at, f"enumeration index {index} >= {len(members)} values")
        return members[index]

    def binary(self) -> bytes:
        at = self.pos
        return self._octets(at, self.uint())

    def string(self) -> str:
        at = self.pos
        return self._chars(at, self.uint())

    def _octets(self, at: int, length: int) -> bytes:
        if 8 * length > self.end - self.pos:
            raise ExiDecodeError(at, f"binary length {length} exceeds the remaining input")
        return self.bits(8 * length).to_bytes(length, "big")

    def _chars(self, at: int, length: int) -> str:
        """A string's characters after its length prefix `length` (read at bit `at`)."""
        if length < 2:
            raise ExiDecodeError(at, "string table hit, but the value table is disabled")
        length -= 2
        if 8 * length > self.end - self.pos:
            raise ExiDecodeError(at, f"string length {length} exceeds the remaining input")
        start = self.pos
        octets = self.bits(8 * length).to_bytes(length, "big")
        if octets.isascii():  # no continuation bits: every character was one octet
            return octets.decode("ascii")
        self.seek(start)
        try:
            return "".join([chr(self.uint()) for _ in range(length)])
        except (ValueError, OverflowError):
            raise ExiDecodeError(at, "string character outside Unicode") from None

    def ch(self, empty_ok: bool) -> bool:
        """A simple-typed element's first event: True for CH, False for an empty element."""
        at = self.pos
        if self.bits(1) == 0:
            return True
        code = self.bits(_SECOND_LEVEL_BITS)
        if code == 0 and empty_ok:
            return False
        raise ExiDecodeError(at, f"expected CH (characters), got second-level event {code}")

    def ee(self) -> None:
        at = self.pos
        if self.bits(1):
            raise ExiDecodeError(at, "expected EE (end of element), got a second-level event")
