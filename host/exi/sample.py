"""Random schema-valid messages, drawn by running a generated decoder on a random source.

The generated decoders ask their reader for exactly what the grammar allows next: an event
code in a state, an n-bit integer within its facets, an enumeration index. Answering those
questions at random instead of from bits walks the grammar and yields a valid message of
any element, with no second description of the schemas. Used for the conformance corpus,
the hypothesis tests and the benchmark.
"""

from __future__ import annotations

import random
import string
from types import ModuleType
from typing import Any

from host.exi import runtime as rt

_UNSUPPORTED = {"SE*", "CH*"}  # wildcards and mixed text: never generated
_ALPHABET = string.ascii_letters + string.digits + ":/._-"


class RandomSource(rt.BitReader):
    """A BitReader whose answers come from `rng`; values stay valid for the smallest type
    that uses each datatype (unsignedShort for unsigned, short for signed integers)."""

    def __init__(self, rng: random.Random, max_depth: int = 12, max_items: int = 3,
                 never: frozenset[str] = frozenset(), rare: frozenset[str] = frozenset()) -> None:
        super().__init__(b"")
        self.rng = rng
        self.never = never  # production keys not to generate
        self.rare = rare  # production keys to generate one time in ten
        self.max_depth = max_depth
        self.max_items = max_items
        self.repeats = 0

    def event(self, grammar: rt.Grammar, state: int) -> tuple[str, int]:
        prods = [p for p in grammar.states[state][1]
                 if p[0] not in _UNSUPPORTED and p[0] not in self.never
                 and (p[0] not in self.rare or self.rng.random() < 0.1)]
        ends = [p for p in prods if p[0] == rt.EE]
        # stop early when deep or after a few repeated items, so messages stay small
        if ends and (self.depth >= self.max_depth or self.rng.random() < 0.3):
            return ends[0]
        others = [p for p in prods if p[0] != rt.EE]
        if ends and self.repeats >= self.max_items:
            return ends[0]
        if not others:
            if not ends:
                raise rt.ExiEncodeError(f"{grammar.name} state {state}: nothing to generate")
            return ends[0]
        choice = self.rng.choice(others)
        self.repeats = self.repeats + 1 if choice[1] == state else 0
        return choice

    def bits(self, width: int) -> int:
        return self.rng.getrandbits(width) if width else 0

    def uint(self) -> int:
        return self.rng.choice((0, 1, 127, 128, 300, 65535, self.rng.randrange(65536)))

    def sint(self) -> int:
        return self.rng.choice((0, -1, 1, -32768, 32767, self.rng.randrange(-32768, 32768)))

    def nbit(self, low: int, high: int, width: int) -> int:
        return self.rng.choice((low, high, self.rng.randint(low, high)))

    # facet-narrowed datatypes: a value of the unnarrowed kind, kept within the facets
    def uint_in(self, low: int, high: int | None, name: str) -> int:
        return self._within(self.uint(), low, high)

    def sint_in(self, low: int | None, high: int | None, name: str) -> int:
        return self._within(self.sint(), low, high)

    def _within(self, value: int, low: int | None, high: int | None) -> int:
        if low is not None and value < low:
            return low
        if high is not None and value > high:
            return high
        return value

    def binary_in(self, low: int, high: int | None, name: str) -> bytes:
        return self.rng.randbytes(self._length(low, high, 8))

    def string_in(self, low: int, high: int | None, name: str) -> str:
        return "".join(self.rng.choice(_ALPHABET) for _ in range(self._length(low, high, 12)))

    def _length(self, low: int, high: int | None, usual: int) -> int:
        """At least one (an empty value is written as an empty element), at most `usual`
        unless the facets ask for more."""
        low = max(low, 1)
        return self.rng.randint(low, max(low, min(usual, high if high is not None else usual)))

    def enum(self, members: tuple, width: int) -> Any:
        return self.rng.choice(members)

    def boolean(self) -> bool:
        return self.rng.random() < 0.5

    def binary(self) -> bytes:
        return self.rng.randbytes(self.rng.randint(1, 8))

    def string(self) -> str:
        return "".join(self.rng.choice(_ALPHABET) for _ in range(self.rng.randint(1, 12)))

    def ch(self, empty_ok: bool) -> bool:
        return True

    def ee(self) -> None:
        return None


# xmldsig signatures make messages large and trip the reference codec's missing javax.mail
RARE = frozenset({"SE:Signature"})


def random_root(module: ModuleType, cls: type, rng: random.Random, **options: Any) -> Any:
    """A random instance of the global element class `cls` of a generated module."""
    for entry in module.DOC_DECODERS + module.FRAG_DECODERS:
        if entry is not None and entry[1] is cls:
            return entry[0](RandomSource(rng, **options), cls)
    raise KeyError(f"{cls.__name__} is not a root of {module.NAMESPACE}")


def message_roots(module: ModuleType) -> list[tuple[str, type]]:
    """Each message a session sends: the members of BodyElement inside a V2G_Message for
    DIN and ISO 15118-2, the global elements for the other schemas, SignedInfo for xmldsig."""
    if module.FRAGMENT_DEFAULT:  # xmldsig: what ISO 15118 signs
        return [("SignedInfo", module.ELEMENT_CLASSES["SignedInfo"])]
    names = {cls: name for name, cls in module.ELEMENT_CLASSES.items()}
    roots = []
    for entry in module.DOC_DECODERS:
        if entry is None:
            continue
        try:  # a root whose grammar requires a wildcard (xmldsig SignatureProperty) has none
            entry[0](RandomSource(random.Random(0)), entry[1])
        except rt.ExiEncodeError:
            continue
        name = names[entry[1]]
        if name.endswith(("Req", "Res")):  # messages, not their parts
            roots.append((name, entry[1]))
    return sorted(roots)


def random_message(module: ModuleType, name: str, rng: random.Random,
                   peer_safe: bool = False) -> Any:
    """A random message named `name`; body elements of DIN/-2 come wrapped in V2G_Message.
    `peer_safe` leaves out what the reference codec cannot map (abstract elements) and
    makes signatures rare."""
    options: dict[str, Any] = {}
    if peer_safe:
        options = {"never": module.ABSTRACT_EVENTS, "rare": RARE}
    cls = module.ELEMENT_CLASSES[name]
    message = random_root(module, cls, rng, **options)
    if "V2G_Message" in module.ELEMENT_CLASSES and name != "V2G_Message" and _is_body(module, cls):
        envelope = random_root(module, module.ELEMENT_CLASSES["V2G_Message"], rng, **options)
        envelope.Body.BodyElement = message
        return envelope
    return message


def _is_body(module: ModuleType, cls: type) -> bool:
    body_base = module.ELEMENT_CLASSES["BodyElement"].__mro__[1]
    return issubclass(cls, body_base) and cls is not module.ELEMENT_CLASSES["BodyElement"]
