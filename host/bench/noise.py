"""A noisy line between two ptys: the host's side and the firmware's side.

    relay = NoiseRelay(host_pty.master, fw_pty.slave, seed=1)
    relay.start()                        # on the running event loop
    relay.impairment = Impairment(bit_error_rate=1e-3, replay=0.02, lose_acks=0.1)
    ...
    relay.impairment = CLEAN; relay.stop()

The host opens host_pty's slave by path as its serial port; the firmware process has
fw_pty's master as its UART. The relay cuts each direction into frames at the 0x00
delimiters (firmware/link/frame.py) so it can act on whole frames (replay an earlier
one, lose an Ack from the firmware), then spoils bytes (bit errors, dropped,
duplicated, inserted bytes). A blackout lets nothing through either way. Every
frame the firmware sent is decoded and kept in `from_firmware`, with the time it
passed, even the ones the relay then spoilt, so a test can see what the firmware
said into a dead line (its Fault, its Status) and when; `from_host` keeps the host's
frames the same way.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter, deque
from dataclasses import dataclass

from firmware.link import frame
from firmware.link import messages as m

TO_FW = "to-firmware"
TO_HOST = "to-host"


@dataclass(frozen=True)
class Impairment:
    bit_error_rate: float = 0.0  # per bit
    drop: float = 0.0  # per byte
    duplicate: float = 0.0  # per byte
    insert: float = 0.0  # per byte: a random byte before it
    replay: float = 0.0  # per frame: an earlier frame of the same direction follows it
    lose_acks: float = 0.0  # per Ack frame from the firmware
    blackout: bool = False  # nothing through, either way


CLEAN = Impairment()


def decode(wire: bytes) -> tuple[int, m.Message] | None:
    """The (seq, message) of one good frame, or None."""
    reader = frame.FrameReader()
    reader.feed(wire)
    payload = reader.next_payload()
    if payload is None:
        return None
    try:
        return m.decode(payload)
    except m.LinkDecodeError:
        return None


class NoiseRelay:
    def __init__(self, host_fd: int, fw_fd: int, seed: int = 0, history: int = 32) -> None:
        self.fds = {TO_FW: (host_fd, fw_fd), TO_HOST: (fw_fd, host_fd)}
        self.rng = random.Random(seed)
        self.impairment = CLEAN
        self.counts: Counter[str] = Counter()
        self.from_firmware: list[tuple[float, int, m.Message]] = []  # (time, seq, message)
        self.from_host: list[tuple[float, int, m.Message]] = []
        self._history = {d: deque[bytes](maxlen=history) for d in self.fds}
        self._partial = {d: bytearray() for d in self.fds}
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for direction, (src, _) in self.fds.items():
            os.set_blocking(src, False)
            self._loop.add_reader(src, self._on_readable, direction)

    def stop(self) -> None:
        if self._loop is None:
            return
        for src, _ in self.fds.values():
            self._loop.remove_reader(src)
        self._loop = None

    def _on_readable(self, direction: str) -> None:
        src, dst = self.fds[direction]
        try:
            data = os.read(src, 4096)
        except BlockingIOError:
            return
        except OSError:  # the far end went away (firmware killed): wait for it
            data = b""
        if not data:
            return
        buf = self._partial[direction]
        buf.extend(data)
        out = bytearray()
        while (end := buf.find(0)) >= 0:
            wire = bytes(buf[: end + 1])
            del buf[: end + 1]
            out += self._frame(direction, wire)
        if out:
            try:
                os.write(dst, out)
            except OSError:  # full or gone: a UART drops what it cannot take
                self.counts["overrun"] += len(out)

    def _frame(self, direction: str, wire: bytes) -> bytes:
        imp = self.impairment
        self.counts[direction + " frames"] += 1
        got = decode(wire)
        if got is not None:
            assert self._loop is not None
            log = self.from_firmware if direction == TO_HOST else self.from_host
            log.append((self._loop.time(), got[0], got[1]))
        if imp.blackout:
            self.counts["blacked out"] += 1
            return b""
        rng = self.rng
        frames = [wire]
        if (imp.lose_acks and direction == TO_HOST and got is not None
                and isinstance(got[1], m.Ack) and rng.random() < imp.lose_acks):
            self.counts["acks lost"] += 1
            frames = []
        history = self._history[direction]
        if imp.replay and history and rng.random() < imp.replay:
            frames.append(rng.choice(history))
            self.counts[direction + " replays"] += 1
        history.append(wire)
        return self._spoil(b"".join(frames), imp)

    def _spoil(self, data: bytes, imp: Impairment) -> bytes:
        if not (imp.bit_error_rate or imp.drop or imp.duplicate or imp.insert):
            return data
        rng = self.rng
        out = bytearray()
        for byte in data:
            if imp.insert and rng.random() < imp.insert:
                out.append(rng.randrange(256))
                self.counts["inserted"] += 1
            if imp.drop and rng.random() < imp.drop:
                self.counts["dropped"] += 1
                continue
            if imp.bit_error_rate:
                for bit in range(8):
                    if rng.random() < imp.bit_error_rate:
                        byte ^= 1 << bit
                        self.counts["bit errors"] += 1
            out.append(byte)
            if imp.duplicate and rng.random() < imp.duplicate:
                out.append(byte)
                self.counts["duplicated"] += 1
        return bytes(out)
