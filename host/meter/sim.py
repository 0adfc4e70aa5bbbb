"""A simulated bidirectional meter behind a real Modbus server (pymodbus), RTU or TCP.

The meter integrates the power it is told (positive imports, negative exports) into its
import and export registers, laid out by one of the maps in `maps`; with a key it also
signs an OCMF record of both energies each time its OCMF length register is read, as
signing meters snapshot their record. The site controller's export-enable register
answers on its own unit id. Faults for the tests are plain attributes: move the energy
registers, sign a value that differs from the registers, or spoil the signature.

`PtyLine` joins two pty pairs as one RS-485 line (server on one end, client on the
other), relaying bytes both ways so a test can corrupt replies or inject garbage.
"""

from __future__ import annotations

import asyncio
import os
import time
import tty
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from . import ocmf
from .maps import (
    HOLDING,
    INPUT,
    SITE_EXPORT_BIT,
    SITE_EXPORT_ENABLE,
    MeterMap,
    push_value,
    read_plan,
)

CURVE_OF_SA = {sa: curve for sa, curve in ocmf.CURVES.items()}


class SimulatedMeter:
    def __init__(self, meter_map: MeterMap, *, serial: str = "SIM0001",
                 sa: str = "ECDSA-secp256r1-SHA256",
                 key: ec.EllipticCurvePrivateKey | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.map = meter_map
        self.serial = serial
        self.sa = sa
        self.key = key if key is not None or meter_map.ocmf is None \
            else ec.generate_private_key(CURVE_OF_SA[sa]())
        self.clock = clock
        self.power_w = 0.0
        self.voltage = 230.0
        self.frequency = 50.0
        self.import_wh = 0.0
        self.export_wh = 0.0
        self.site_export_enabled = True
        self.sign_offset_wh = 0.0     # sign import + this: the record no longer matches
        self.spoil_signature = False  # change the payload after signing
        self.records = 0
        self._ocmf_words: list[int] = []
        self._ocmf_length = 0
        self._last = clock()

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        assert self.key is not None
        return self.key.public_key()

    def advance(self) -> None:
        now = self.clock()
        dt, self._last = now - self._last, now
        if self.power_w >= 0:
            self.import_wh += self.power_w * dt / 3600.0
        else:
            self.export_wh += -self.power_w * dt / 3600.0

    def values(self) -> dict[str, float]:
        per_phase = self.power_w / 3
        out = {"power_total": self.power_w, "frequency": self.frequency,
               "import_wh": self.import_wh, "export_wh": self.export_wh}
        for p in (1, 2, 3):
            out[f"voltage_l{p}"] = self.voltage
            out[f"current_l{p}"] = abs(per_phase) / self.voltage
            out[f"power_l{p}"] = per_phase
        return out

    def ocmf_text(self) -> str:
        assert self.key is not None
        self.records += 1
        tm = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S,%f")[:-3] + "+0000 S"
        payload: dict[str, Any] = {
            "FV": "1.0", "GI": "v2gate simulated meter", "GS": self.serial, "GV": "1.0",
            "PG": f"T{self.records}", "MV": "v2gate", "MM": self.map.name,
            "MS": self.serial, "IS": False, "IT": "NONE",
            "RD": [
                {"TM": tm, "TX": "C", "RV": round((self.import_wh + self.sign_offset_wh)
                                                  / 1000, 3),
                 "RI": "1-b:1.8.0", "RU": "kWh", "ST": "G"},
                {"TM": tm, "TX": "C", "RV": round(self.export_wh / 1000, 3),
                 "RI": "1-b:2.8.0", "RU": "kWh", "ST": "G"},
            ],
        }
        text = ocmf.sign(payload, self.key, self.sa)
        if self.spoil_signature:
            # the same length, one digit of the first value changed
            i = text.index('"RV":') + 5
            text = text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1:]
        return text

    def ocmf_block(self, refresh: bool) -> list[int]:
        """The OCMF block's registers: length in bytes, then the text two bytes a
        register. `refresh` signs a new record first (a read of the length register)."""
        if refresh:
            raw = self.ocmf_text().encode()
            self._ocmf_length = len(raw)
            if len(raw) % 2:
                raw += b"\0"
            self._ocmf_words = [int.from_bytes(raw[i:i + 2], "big")
                                for i in range(0, len(raw), 2)]
        return [self._ocmf_length, *self._ocmf_words]

    # -- the Modbus side --------------------------------------------------------------

    def device(self, unit: int) -> SimDevice:
        holding: list[SimData] = []
        inputs: list[SimData] = []
        for rd in read_plan(self.map.fields):
            (inputs if rd.table == INPUT else holding).append(
                SimData(rd.address, count=rd.count, values=0, datatype=DataType.REGISTERS))
        block = self.map.ocmf
        if block is not None:
            (inputs if block.table == INPUT else holding).append(
                SimData(block.length_address, count=1 + block.max_registers, values=0,
                        datatype=DataType.REGISTERS))
        return SimDevice(unit, simdata=_tables(holding, inputs), action=self._action)

    def site_device(self, unit: int) -> SimDevice:
        site = [SimData(SITE_EXPORT_ENABLE.address, values=0, datatype=DataType.REGISTERS)]
        return SimDevice(unit, simdata=_tables(site, []), action=self._site_action)

    async def _action(self, function_code: int, start: int, address: int, count: int,
                      registers: list[int], set_values: Any) -> None:
        table = INPUT if function_code == 4 else HOLDING
        self.advance()
        values = self.values()
        for f in self.map.fields:
            if f.table == table:
                words = push_value(f, values[f.name])
                registers[f.address - start:f.address - start + f.count] = words
        block = self.map.ocmf
        if block is not None and block.table == table:
            words = self.ocmf_block(refresh=address == block.length_address)
            off = block.length_address - start
            registers[off:off + len(words)] = words
        return None

    async def _site_action(self, function_code: int, start: int, address: int, count: int,
                           registers: list[int], set_values: Any) -> None:
        registers[SITE_EXPORT_ENABLE.address - start] = \
            SITE_EXPORT_BIT if self.site_export_enabled else 0
        return None


def _tables(holding: list[SimData], inputs: list[SimData]) -> tuple[
        list[SimData], list[SimData], list[SimData], list[SimData]]:
    """pymodbus wants every table non-empty; an unused one gets one register at 0xFFF0."""
    def filler(kind: DataType) -> list[SimData]:
        return [SimData(0xFFF0, values=0 if kind == DataType.REGISTERS else False,
                        datatype=kind)]
    return (filler(DataType.BITS), filler(DataType.BITS),
            holding or filler(DataType.REGISTERS), inputs or filler(DataType.REGISTERS))


class MeterServer:
    """The simulated meter (and site controller) served over TCP or RTU."""

    def __init__(self, meter: SimulatedMeter, *, unit: int = 1, site_unit: int = 2) -> None:
        self.meter = meter
        self.devices = [meter.device(unit), meter.site_device(site_unit)]
        self._server: ModbusTcpServer | ModbusSerialServer | None = None

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve on `port` (0: a free one); returns the port."""
        if port == 0:
            port = _free_port(host)
        server = ModbusTcpServer(self.devices, address=(host, port))
        await server.serve_forever(background=True)
        self._server = server
        return port

    async def start_rtu(self, path: str, baudrate: int = 19200) -> None:
        server = ModbusSerialServer(self.devices, port=path, baudrate=baudrate)
        await server.serve_forever(background=True)
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None


def _free_port(host: str) -> int:
    import socket
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class PtyLine:
    """Two pty pairs relayed master to master: `server_path` and `client_path` behave as
    the two ends of one serial line. `corrupt_replies` flips a bit in the next n chunks
    from server to client (their CRC fails); `inject` sends bytes to the client as if
    noise hit the line."""

    def __init__(self) -> None:
        self._fds: list[int] = []
        self.server_master, self.server_path = self._pair()
        self.client_master, self.client_path = self._pair()
        self.corrupt_replies = 0
        self.corrupted = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def _pair(self) -> tuple[int, str]:
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._fds += [master, slave]        # keep the slave open: the line stays up
        return master, os.ttyname(slave)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.server_master, self._relay, self.server_master,
                              self.client_master, True)
        self._loop.add_reader(self.client_master, self._relay, self.client_master,
                              self.server_master, False)

    def _relay(self, src: int, dst: int, is_reply: bool) -> None:
        try:
            data = bytearray(os.read(src, 4096))
        except OSError:
            return
        if is_reply and data and self.corrupt_replies > 0:
            self.corrupt_replies -= 1
            self.corrupted += 1
            data[len(data) // 2] ^= 0x10
        self._write(dst, bytes(data))

    def _write(self, fd: int, data: bytes) -> None:
        try:
            os.write(fd, data)
        except BlockingIOError:
            pass            # nobody reading the other end: the line drops it, as RS-485 does

    def inject(self, data: bytes) -> None:
        self._write(self.client_master, data)

    def close(self) -> None:
        if self._loop is not None:
            for fd in (self.server_master, self.client_master):
                self._loop.remove_reader(fd)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
