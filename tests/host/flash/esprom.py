"""The ESP32-S3 serial download mode on a pty, enough for the real esptool to write an
image: the ROM loader's SLIP framing and commands, then, once esptool has "uploaded"
its flasher stub (the RAM image is taken and ignored), the stub's commands.

Packets (esptool's loader.py and Espressif's serial protocol description): a request
is 0x00, op, length (u16), checksum (u32), data; a response 0x01, op, length, value
(u32), data ending in status bytes (4 from the ROM, 2 from the stub; first 0 = ok).
SLIP: 0xC0 ends a frame, 0xDB 0xDC / 0xDB 0xDD escape 0xC0 / 0xDB.

Registers are a dict. The SPI peripheral's "user command" (esptool reads the flash ID
and the SFDP signature through it) runs when bit 18 of its CMD register is set. The
flash starts as 0x00 bytes, so an erase shows as 0xFF.
"""

from __future__ import annotations

import hashlib
import os
import select
import struct
import threading
import tty
import zlib

SYNC, READ_REG, WRITE_REG = 0x08, 0x0A, 0x09
FLASH_BEGIN, FLASH_DATA, FLASH_END = 0x02, 0x03, 0x04
MEM_BEGIN, MEM_END, MEM_DATA = 0x05, 0x06, 0x07
DEFL_BEGIN, DEFL_DATA, DEFL_END = 0x10, 0x11, 0x12
SPI_FLASH_MD5, GET_SECURITY_INFO, ERASE_FLASH, ERASE_REGION = 0x13, 0x14, 0xD0, 0xD1

CHIP_MAGIC_REG = 0x40001000
CHIP_MAGIC_S3 = 0x9
CHIP_ID_S3 = 9  # IMAGE_CHIP_ID, what GET_SECURITY_INFO reports on an S3
SPI_BASE = 0x60002000  # SPI1 on the S3
SPI_CMD, SPI_USR2, SPI_W0 = SPI_BASE, SPI_BASE + 0x20, SPI_BASE + 0x58
SPI_CMD_USR = 1 << 18
FLASH_ID = 0x1740EF  # Winbond, 8 MB (size id 0x17)
FLASH_SIZE = 8 << 20


def slip(packet: bytes) -> bytes:
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class RomLoader:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.flash = bytearray(FLASH_SIZE)
        self.regs: dict[int, int] = {CHIP_MAGIC_REG: CHIP_MAGIC_S3}
        self.stub = False
        self.commands: list[int] = []
        self.written: list[tuple[int, int]] = []  # (offset, length) per FLASH_*BEGIN
        self._at = 0
        self._inflate: zlib._Decompress | None = None
        self._buf = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RomLoader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)
        os.close(self.slave)

    def _serve(self) -> None:
        frame = bytearray()
        escaped = False
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            for byte in os.read(self.master, 65536):
                if byte == 0xC0:
                    if frame:
                        self._packet(bytes(frame))
                    frame.clear()
                elif escaped:
                    frame.append({0xDC: 0xC0, 0xDD: 0xDB}[byte])
                    escaped = False
                elif byte == 0xDB:
                    escaped = True
                else:
                    frame.append(byte)

    def _reply(self, op: int, value: int = 0, data: bytes = b"", error: int = 0) -> None:
        status = bytes([1 if error else 0, error]) + (b"" if self.stub else b"\0\0")
        body = data + status
        os.write(self.master, slip(struct.pack("<BBHI", 1, op, len(body), value) + body))

    def _packet(self, p: bytes) -> None:
        if len(p) < 8 or p[0] != 0:
            return
        _, op, size, _ = struct.unpack("<BBHI", p[:8])
        data = p[8 : 8 + size]
        self.commands.append(op)
        if op == SYNC:
            for _ in range(8):  # the ROM answers a SYNC eight times
                self._reply(op, 0 if self.stub else 0x20120707)
        elif op == READ_REG:
            self._reply(op, self.regs.get(struct.unpack("<I", data[:4])[0], 0))
        elif op == WRITE_REG:
            addr, value, mask = struct.unpack("<III", data[:12])
            if mask != 0xFFFFFFFF:
                value = (self.regs.get(addr, 0) & ~mask) | (value & mask)
            self.regs[addr] = value
            if addr == SPI_CMD and value & SPI_CMD_USR:
                self._spi_user_command()
            self._reply(op)
        elif op == GET_SECURITY_INFO:
            self._reply(op, data=struct.pack("<IBBBBBBBBII", 0, 0, *[0] * 7, CHIP_ID_S3, 0))
        elif op in (MEM_BEGIN, MEM_DATA):
            self._reply(op)
        elif op == MEM_END:
            self._reply(op)
            self.stub = True  # the "stub" runs from here on
            os.write(self.master, slip(b"OHAI"))
        elif op in (FLASH_BEGIN, DEFL_BEGIN):
            erase_size, _, _, offset = struct.unpack("<IIII", data[:16])
            self._at = offset
            self.written.append((offset, erase_size))
            self._inflate = zlib.decompressobj() if op == DEFL_BEGIN else None
            if op == FLASH_BEGIN:  # the ROM erases the region it will write
                self.flash[offset : offset + erase_size] = b"\xff" * erase_size
            self._reply(op)
        elif op in (FLASH_DATA, DEFL_DATA):
            n = struct.unpack("<I", data[:4])[0]
            block = data[16 : 16 + n]
            if self._inflate is not None:
                block = self._inflate.decompress(block)
            self.flash[self._at : self._at + len(block)] = block
            self._at += len(block)
            self._reply(op)
        elif op == SPI_FLASH_MD5:
            addr, size = struct.unpack("<II", data[:8])
            digest = hashlib.md5(self.flash[addr : addr + size]).digest()
            self._reply(op, data=digest if self.stub else digest.hex().encode())
        elif op == ERASE_FLASH:
            self.flash[:] = b"\xff" * FLASH_SIZE
            self._reply(op)
        elif op == ERASE_REGION:
            addr, size = struct.unpack("<II", data[:8])
            self.flash[addr : addr + size] = b"\xff" * size
            self._reply(op)
        else:  # FLASH_END, SPI_ATTACH, SPI_SET_PARAMS, CHANGE_BAUDRATE, ...: done
            self._reply(op)

    def _spi_user_command(self) -> None:
        command = self.regs.get(SPI_USR2, 0) & 0xFF
        if command == 0x9F:  # RDID
            self.regs[SPI_W0] = FLASH_ID
        elif command == 0x5A:  # RDSFDP
            self.regs[SPI_W0] = 0x50444653  # "SFDP"
        else:
            self.regs[SPI_W0] = 0
        self.regs[SPI_CMD] = self.regs[SPI_CMD] & ~SPI_CMD_USR  # done at once
