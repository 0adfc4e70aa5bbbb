"""UART framing: COBS(payload + CRC-32) + 0x00.

The CRC-32 (IEEE 802.3, the one in binascii) is appended little-endian before stuffing,
so a frame on the wire is at most MAX_PAYLOAD + 4 bytes before COBS overhead. This is
the framing EVerest's Yeti board uses on its MCU link; we keep it because COBS resyncs
at the next delimiter after any corruption and CRC-32 catches what UART parity cannot.
"""

from firmware.compat import const, crc32
from firmware.link import cobs

MAX_PAYLOAD = const(96)
_MAX_WIRE = const(MAX_PAYLOAD + 4 + 2)  # CRC, COBS overhead for < 254 bytes


def pack(payload):
    """Frame one payload for the wire, delimiter included."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload of %d bytes exceeds %d" % (len(payload), MAX_PAYLOAD))
    c = crc32(payload) & 0xFFFFFFFF
    body = bytes(payload) + bytes((c & 0xFF, (c >> 8) & 0xFF, (c >> 16) & 0xFF, c >> 24))
    return cobs.encode(body) + b"\x00"


# why a frame was dropped; the reader counts each
DROP_COBS = const(0)
DROP_CRC = const(1)
DROP_OVERSIZE = const(2)
DROP_SHORT = const(3)
DROP_NAMES = ("cobs", "crc", "oversize", "short")


class FrameReader:
    """Collects bytes from the UART and yields the payloads of good frames.

    Bytes up to the next 0x00 form one candidate frame; a bad one is dropped and
    counted, and the reader carries on at the next delimiter. An over-long run of
    bytes without a delimiter is dropped as it grows, so memory stays bounded.
    """

    def __init__(self):
        self._buf = bytearray(_MAX_WIRE)
        self._len = 0
        self._overflow = False
        self._ready = []
        self.dropped = [0, 0, 0, 0]
        self.good = 0

    def feed(self, data):
        buf = self._buf
        for b in data:
            if b != 0:
                if self._len < _MAX_WIRE:
                    buf[self._len] = b
                    self._len += 1
                else:
                    self._overflow = True
                continue
            if self._overflow:
                self._drop(DROP_OVERSIZE)
            elif self._len:
                self._finish(bytes(buf[: self._len]))
            self._len = 0
            self._overflow = False

    def _drop(self, why):
        self.dropped[why] += 1

    def _finish(self, wire):
        try:
            body = cobs.decode(wire)
        except cobs.CobsError:
            self._drop(DROP_COBS)
            return
        if len(body) < 5:  # at least one payload byte and the CRC
            self._drop(DROP_SHORT)
            return
        payload = body[:-4]
        c = body[-4] | (body[-3] << 8) | (body[-2] << 16) | (body[-1] << 24)
        if crc32(payload) & 0xFFFFFFFF != c:
            self._drop(DROP_CRC)
            return
        self.good += 1
        self._ready.append(payload)

    def next_payload(self):
        """The oldest complete payload, or None while none is complete."""
        if self._ready:
            return self._ready.pop(0)
        return None

    def total_dropped(self):
        d = self.dropped
        return d[0] + d[1] + d[2] + d[3]
