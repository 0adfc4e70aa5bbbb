"""The MME payload base: one list of fields (``FIELDS``) per message, read and written by
one reader and one writer (HomePlug Green PHY 1.1 §11.1); ``messages`` and ``vendor`` define
the messages on it."""

from __future__ import annotations

from typing import ClassVar

from .errors import LocalProtocolError, NeedMoreData

# A field kind is "u8", "u16", "u32" (little-endian), an int (fixed byte length), or
# "*name": as many bytes as the earlier integer field `name` says.
Field = tuple[str, "str | int"]


class Buffer:
    """A read cursor over received bytes; running past the end raises NeedMoreData."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.pos = 0

    def pull_bytes(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise NeedMoreData(f"needed {end} bytes, have {len(self.data)}")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def pull_uint(self, n: int) -> int:
        return int.from_bytes(self.pull_bytes(n), "little")


_UINT_SIZES = {"u8": 1, "u16": 2, "u32": 4}


class Message:
    """Base of every MME payload: ``MMTYPE`` (with its REQ/CNF/IND/RSP bits) and ``FIELDS``."""

    MMTYPE: ClassVar[int]
    FIELDS: ClassVar[tuple[Field, ...]]
    MMV: ClassVar[int | None] = None  # None: 0 for vendor MMEs, 1 otherwise

    @classmethod
    def pull(cls, buf: Buffer) -> Message:
        values: dict[str, object] = {}
        for name, kind in cls.FIELDS:
            if kind in _UINT_SIZES:
                values[name] = buf.pull_uint(_UINT_SIZES[kind])  # type: ignore[index]
            elif isinstance(kind, int):
                values[name] = buf.pull_bytes(kind)
            else:
                values[name] = buf.pull_bytes(values[kind[1:]])  # type: ignore[arg-type]
        return cls(**values)

    def push(self, out: bytearray) -> None:
        for name, kind in self.FIELDS:
            value = getattr(self, name)
            if kind in _UINT_SIZES:
                size = _UINT_SIZES[kind]  # type: ignore[index]
                if not isinstance(value, int) or not 0 <= value < 1 << (8 * size):
                    raise LocalProtocolError(f"{type(self).__name__}.{name}={value!r} is no {kind}")
                out += value.to_bytes(size, "little")
                continue
            want = kind if isinstance(kind, int) else getattr(self, kind[1:])
            if not isinstance(value, bytes) or len(value) != want:
                raise LocalProtocolError(
                    f"{type(self).__name__}.{name} must be {want} bytes, got {value!r}"
                )
            out += value
