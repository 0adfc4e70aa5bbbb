"""The asyncio runner: a Station policy on a LinkDriver, records to `emit`.

All policy lives in host/station/policy.py; this only moves events, commands, timers
and records between the two, and adds the time to each record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from host.aio import within
from host.link.driver import LinkDriver
from host.station.policy import Station

Emit = Callable[[dict[str, Any]], None]


class NoAnswer(Exception):
    """The port opened, but no firmware answered our Hello in time (`refused`: the
    firmware answered, refusing it with this Nack reason)."""

    def __init__(self, port: str, refused: str | None = None) -> None:
        super().__init__(port)
        self.refused = refused


async def serve(station: Station, driver: LinkDriver, emit: Emit, open_timeout: float = 5.0) -> None:
    """Run until the station is finished. The first LinkUp must come within
    `open_timeout` (NoAnswer); after that, outages of any length are waited out."""
    loop = asyncio.get_running_loop()
    driver.start()
    first_by = loop.time() + open_timeout
    while True:
        for command in station.commands_to_send():
            driver.send(command)
        while (record := station.next_record()) is not None:
            emit(record)
        if station.finished:
            return
        now = loop.time()
        wake = station.get_timer()
        if not station.ever_up:
            if now >= first_by:
                raise NoAnswer(driver.port, station.hello_refused)
            wake = first_by if wake is None else min(wake, first_by)
        try:
            event = await within(driver.events.get(), None if wake is None else max(0.0, wake - now))
        except TimeoutError:
            station.handle_timer(loop.time())
            continue
        station.handle_event(event, loop.time())
