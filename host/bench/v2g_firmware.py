"""Firmware in the loop for the ISO 15118 scenarios (host.bench.v2g_scenario).

The sim board's firmware runs as its own process on a pty (host.bench.bench.run_bench, as
basic-ac runs it), with an ISO 15118 EV in its plant (``digital``: 5 % PWM is its offer).
The host side is ``host.station.v2g.DigitalStation`` on the link: the EV plugs in (CP B),
the station sets 5 % PWM, and only then does SLAC start; the session's contactor requests
(PowerDelivery) become PowerLeases on which the firmware closes its contactor, and power
flows in the simulated stage only while the firmware reports it closed. When the session
ends the station takes the 5 % back, the EV opens S2 and unplugs (CP A).

DC (din-dc, iso2-dc-pnc): the firmware has one (AC) contactor; it stands in for the DC
contactor pair, and pre-charge and the isolation check are the host's plant model
(host/bench/dcplant.py), until the firmware has its own DC pair.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from firmware.app import interlocks
from firmware.link import messages as m
from host.bench.bench import Bench, BenchError, run_bench, summarize
from host.bench.v2g_transport import Outcome, Timeline

# the EV plugs in 0.3 s after boot, leaves 0.3 s after its current stopped
SIM = {"plug_ms": 300, "digital": True, "digital_da": 160, "charge_ms": 600_000,
       "unplug_ms": 300, "react_ms": 300}  # fmt: skip
LINK_TIMEOUT_MS = 2000  # the most SetConfig allows (docs/link.md)
PLUG_TIMEOUT = 15.0  # s from the firmware's start to the station's 5 % on CP B
LEAVE_TIMEOUT = 10.0  # s from the session's end to CP A
SHOWN = {"cp", "offer", "power-wanted", "lease", "contactor", "offer-ended", "fault",
         "command-error", "link-up", "session-ended", "failsafe-found", "faults-latched"}  # fmt: skip

Session = Callable[[Callable[[Any], Any]], Awaitable[None]]


def describe(rec: dict[str, Any]) -> str:
    e = rec["event"]
    if e == "cp":
        return f"firmware: CP {rec['from']} -> {rec['to']}"
    if e == "offer":
        return "station: 5 % PWM (ISO 15118 communication required)"
    if e == "power-wanted":
        return f"station: the session asks for the contactor {'closed' if rec['on'] else 'open'}"
    if e == "lease":
        return f"station: PowerLease {rec['current_a']:g} A (renewed while charging)"
    if e == "contactor":
        why = ", ".join(interlocks.names(rec["reason"])) if rec["reason"] else ""
        return f"firmware: contactor {'closed' if rec['closed'] else 'open'}" + (f" ({why})" if why else "")
    if e == "offer-ended":
        return "station: 5 % offer ended (X1): the EV may leave"
    if e == "session-ended":
        return "station: the EV left (CP A)"
    if e == "link-up":
        return f"station: link up, board {rec['board']}"
    return f"station: {e} " + ", ".join(f"{k}={v}" for k, v in rec.items() if k != "event")


async def with_firmware(runtime: str, tl: Timeline, out: Outcome, session: Session) -> None:
    """Run ``session(wrap)`` with the firmware in the loop: ``wrap`` turns a session's
    SimEvseController into the firmware-backed one. Bench troubles go to ``out.error``."""
    from host.link.driver import LinkDriver
    from host.station.policy import Settings
    from host.station.runner import serve
    from host.station.v2g import DigitalStation, StationEvseController, StationLink

    async def body(bench: Bench) -> None:
        # the firmware's longest link timeout: this host runs both sides of the session in
        # one interpreter, whose stalls (a TLS handshake, a big import) a station process
        # on a gateway would not share
        station = DigitalStation(Settings(sessions=1, config={m.CFG_LINK_TIMEOUT: LINK_TIMEOUT_MS}))
        offered, left = threading.Event(), threading.Event()
        box: dict[str, Any] = {}

        def emit(rec: dict[str, Any]) -> None:
            rec["t"] = round(time.monotonic() - tl.t0, 3)
            out.firmware.append(rec)
            if rec["event"] in SHOWN:
                tl.add(rec["event"], describe(rec), **{k: v for k, v in rec.items()
                                                      if k not in ("event", "t")})  # fmt: skip
            if rec["event"] == "offer":
                offered.set()

        async def station_main() -> None:
            driver = LinkDriver(bench.pty.path)
            box["link"] = StationLink(station, driver, asyncio.get_running_loop())
            try:
                await serve(station, driver, emit)
            finally:
                driver.close()

        def station_thread() -> None:
            # its own loop: the link's heartbeats must not wait for the session's imports,
            # TLS handshakes or SLAC (the firmware fails safe after 500 ms of silence)
            try:
                asyncio.run(station_main())
            except asyncio.CancelledError:
                pass  # stopped by us (below)
            except Exception as exc:  # noqa: BLE001 - said in the verdict
                box["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                left.set()
                offered.set()

        thread = threading.Thread(target=station_thread, name="station", daemon=True)
        thread.start()
        try:
            await asyncio.to_thread(offered.wait, PLUG_TIMEOUT)
            if left.is_set() or not offered.is_set():
                raise BenchError(f"no CP B and 5 % offer within {PLUG_TIMEOUT:g} s"
                                 + (f": {box['error']}" if "error" in box else ""))  # fmt: skip
            link = box["link"]
            await session(lambda sim: StationEvseController.taking_over(sim, link))
            link.end_offer()  # session_ended did it already, unless no session started
            if not station.ever_charged:
                return  # S2 never closed: the EV stays plugged in (B), nothing to wait for
            if not await asyncio.to_thread(left.wait, LEAVE_TIMEOUT):
                raise BenchError(f"the EV did not leave (CP A) within {LEAVE_TIMEOUT:g} s of "
                                 "the session's end")  # fmt: skip
            if "error" in box:
                raise BenchError(f"station: {box['error']}")
        finally:
            if not left.is_set() and "link" in box:
                link = box["link"]
                link.loop.call_soon_threadsafe(_stop_all, link.loop)
            await asyncio.to_thread(thread.join, 5.0)

    try:
        await run_bench(runtime, SIM, body)
    except BenchError as exc:
        out.error = out.error or f"firmware bench: {exc}"
    except Exception as exc:  # noqa: BLE001 - the link's NoAnswer, a serial error: said, not raised
        out.error = out.error or f"firmware link: {type(exc).__name__}: {exc}"


def _stop_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


def verdict(out: Outcome, tl: Timeline) -> tuple[bool, str]:
    """Did the firmware do its part: CP A -> B -> C -> B -> A, 5 % PWM before SLAC, the
    contactor closed once after the session asked and open at the end?"""
    s = summarize(out.firmware)
    closed = [c for c in s["contactor_events"] if c["closed"]]
    opened = [c for c in s["contactor_events"] if not c["closed"]]
    events = [r["event"] for r in tl.records]
    slac_after_offer = ("offer" in events and "slac" in events
                        and events.index("offer") < events.index("slac"))  # fmt: skip
    asked = [r["event"] == "power-wanted" and r["on"] for r in out.firmware]
    first_close = next((i for i, r in enumerate(out.firmware)
                        if r["event"] == "contactor" and r["closed"]), None)  # fmt: skip
    on_request = first_close is not None and any(asked[:first_close])
    cp = " -> ".join(s["cp_states"]) or "never moved"
    ok = (_in_order(s["cp_states"], ["A", "B", "C", "B", "A"]) and s["pwm_duty_percent"] == 5.0
          and len(closed) == 1 and len(opened) == 1 and on_request and slac_after_offer
          and not s["faults"])  # fmt: skip
    text = (f"firmware: CP {cp} (expected A -> B -> C -> B -> A), "
            f"{s['pwm_duty_percent']} % PWM{' before SLAC' if slac_after_offer else ', SLAC not after it'}, "
            f"contactor closed {len(closed)}x{' on the session request' if on_request else ''} and "
            f"opened {len(opened)}x (expected once each), {len(s['faults'])} fault(s)")  # fmt: skip
    return ok, text


def _in_order(seq: list[str], want: list[str]) -> bool:
    it = iter(seq)
    return all(any(x == w for x in it) for w in want)
