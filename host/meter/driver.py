"""The asyncio driver: a pymodbus client (RTU over pyserial, or TCP) under a MeterPoller.

The client's own retries are off and its timeout equals the poller's, so the poller
decides what a failure means; whatever pymodbus raises (timeout, CRC error, lost
connection) reaches it as `fail(id, reason)`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from .maps import INPUT
from .poller import Event, MeterPoller, Request

Client = AsyncModbusTcpClient | AsyncModbusSerialClient


def tcp_client(host: str, port: int, timeout: float) -> AsyncModbusTcpClient:
    return AsyncModbusTcpClient(host, port=port, timeout=timeout, retries=0,
                                reconnect_delay=0.1, reconnect_delay_max=1.0)


def rtu_client(path: str, timeout: float, baudrate: int = 19200) -> AsyncModbusSerialClient:
    # 8N1 is what both mapped meters ship with (SDM630: 9600 8N1 default, settable)
    return AsyncModbusSerialClient(path, baudrate=baudrate, timeout=timeout, retries=0,
                                   reconnect_delay=0.1, reconnect_delay_max=1.0)


class MeterDriver:
    def __init__(self, poller: MeterPoller, client: Client,
                 on_event: Callable[[Event], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.poller = poller
        self.client = client
        self.on_event = on_event
        self.clock = clock

    async def run(self) -> None:
        me = asyncio.current_task()
        try:
            while True:
                # Python 3.11's wait_for (which pymodbus awaits inside) can drop a cancel
                # that lands as its inner future completes; the request stays counted on
                # the task, so honour it here rather than poll forever
                if me is not None and me.cancelling():
                    raise asyncio.CancelledError
                now = self.clock()
                timer = self.poller.get_timer()
                if timer is not None and now >= timer:
                    self.poller.handle_timer(now)
                req = self.poller.next_request(now)
                if req is not None:
                    await self._send(req)
                self._drain()
                if req is None:
                    timer = self.poller.get_timer()
                    delay = 0.05 if timer is None else max(0.0, timer - self.clock())
                    await asyncio.sleep(min(delay, 0.5))
        finally:
            self.client.close()

    def _drain(self) -> None:
        while (ev := self.poller.next_event()) is not None:
            self.on_event(ev)

    async def _send(self, req: Request) -> None:
        try:
            read = (self.client.read_input_registers if req.read.table == INPUT
                    else self.client.read_holding_registers)
            # pymodbus times the request out itself; this bounds a connect that hangs
            async with asyncio.timeout(self.poller.timeout * 2):
                if not self.client.connected:
                    await self.client.connect()
                rr = await read(req.read.address, count=req.read.count, device_id=req.unit)
        except (ModbusException, TimeoutError, OSError) as e:
            self.poller.fail(req.id, f"{type(e).__name__}: {e}".rstrip(": "), self.clock())
            return
        if rr.isError():
            self.poller.fail(req.id, f"exception reply {rr}", self.clock())
        else:
            self.poller.receive(req.id, list(rr.registers), self.clock())
