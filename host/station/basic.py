"""One connector's orchestration for basic AC charging (IEC 61851-1, PWM only).

The station reacts to the firmware's CP states: on B it offers `max_current_da` by
PWM; on C/D it grants a PowerLease and renews it every `renew_s` (the lease expires
after `lease_ms` if the host stops, and the firmware then opens by itself); back on
B it withdraws the lease; on A it stops offering. Every step is reported to `emit`
as a dict, which the `v2gate` commands print as text or JSON lines.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from firmware.app import faults, gridfunc, pilot
from firmware.link import messages as m
from host.link import events as ev
from host.link.driver import LinkDriver

Emit = Callable[[dict[str, Any]], None]


class BasicAcStation:
    def __init__(self, driver: LinkDriver, emit: Emit, max_current_da: int = 160,
                 lease_ms: int = 1000, renew_s: float = 0.25, telemetry_ms: int = 250,
                 export: bool = False, config: dict[int, int] | None = None) -> None:
        self.driver = driver
        self.emit = emit
        self.max_current_da = max_current_da
        self.lease_ms = lease_ms
        self.renew_s = renew_s
        self.telemetry_ms = telemetry_ms
        self.export = export
        self.config = config or {}
        self.droop_w = 0  # the firmware's frequency-droop adjustment, applied while charging
        self.current_da = max_current_da
        self.cp = m.CP_UNKNOWN
        self.sessions = 0
        self._charged = False
        self._lease_task: asyncio.Task[None] | None = None

    async def start(self, clear_failsafe: bool = True) -> None:
        up = await self.driver.open()
        self.emit({"event": "link-up", "board": up.board, "proto": up.hello.proto})
        await self._drain_until_status()
        st = self.driver.client.status
        if st is not None and st.safe_reason:
            self.emit({"event": "failsafe-found", "fault": faults.label(st.safe_reason)})
            if clear_failsafe:
                await self.driver.command(m.Reset(m.RESET_CLEAR_FAULTS))
                self.emit({"event": "failsafe-cleared"})
        await self.driver.command(m.SetConfig(m.CFG_TELEMETRY_PERIOD, self.telemetry_ms))
        for key, value in self.config.items():
            await self.driver.command(m.SetConfig(key, value))
            self.emit({"event": "config", "key": m.CONFIG_KEYS[key][0], "value": value})
        await self.driver.command(m.SetPilot(m.PILOT_X1, 10000))
        if st is not None:
            self.cp = st.cp_state

    async def _drain_until_status(self) -> None:
        """Report what the firmware sent right after Hello (e.g. why it is in safe state)."""
        while self.driver.client.status is None or not self.driver.events.empty():
            event = await asyncio.wait_for(self.driver.events.get(), 2.0)
            self.report(event)

    async def run(self, sessions: int | None = None) -> None:
        """Serve the connector until `sessions` sessions have ended (None: forever)."""
        if self.cp != m.CP_UNKNOWN:
            await self._on_cp(m.CP_UNKNOWN, self.cp)
        while sessions is None or self.sessions < sessions:
            event = await self.driver.events.get()
            self.report(event)
            if isinstance(event, ev.FirmwareReported) and isinstance(event.message, m.CpStateChanged):
                await self._on_cp(event.message.old, event.message.new)
            elif isinstance(event, ev.FirmwareReported) and isinstance(event.message, m.GridStatus):
                await self._on_droop(event.message)
            elif isinstance(event, ev.LinkDown):
                self._stop_lease()
                await self.driver.wait_up()
                await self.start()
        self._stop_lease()

    async def _on_cp(self, old: int, new: int) -> None:
        self.cp = new
        if new == m.CP_B:
            if self._lease_task is not None:
                self._stop_lease()
                await self.driver.command(m.PowerLease(0, 0, 0, self.lease_ms))
            duty = pilot.duty_for_current(self.max_current_da)
            await self.driver.command(m.SetPilot(m.PILOT_PWM, duty))
            self.emit({"event": "offer", "current_a": self.max_current_da / 10, "duty_percent": duty / 100})
        elif new in (m.CP_C, m.CP_D):
            self._charged = True
            self._start_lease()
        elif new in (m.CP_A, m.CP_E, m.CP_F):
            self._stop_lease()
            if new == m.CP_A:
                await self.driver.command(m.SetPilot(m.PILOT_X1, 10000))
                if self._charged:
                    self._charged = False
                    self.sessions += 1
                    self.emit({"event": "session-ended"})

    async def _on_droop(self, g: m.GridStatus) -> None:
        """Apply the firmware's frequency-droop adjustment to a charging session.

        With PWM only (IEC 61851) the host can only move the current offer: lower at
        once, higher at most every 5 s (the firmware enforces that). Export sessions
        need ISO 15118-20 BPT to follow the droop; here they keep their lease.
        """
        if self.export or g.droop_w == self.droop_w or self.cp not in (m.CP_C, m.CP_D):
            return
        self.droop_w = g.droop_w
        volts = g.v_rms_mv / 1000 if g.v_rms_mv else 230.0
        charge_w = self.max_current_da / 10 * volts - g.droop_w  # droop_w > 0: charge less
        current_da = max(60, min(self.max_current_da, round(charge_w / volts * 10)))
        if current_da == self.current_da:
            return
        self.current_da = current_da
        await self.driver.command(m.SetPilot(m.PILOT_PWM, pilot.duty_for_current(current_da)))
        self.emit({"event": "droop-applied", "droop_w": g.droop_w, "current_a": current_da / 10})

    def _start_lease(self) -> None:
        if self._lease_task is None or self._lease_task.done():
            self._lease_task = asyncio.get_running_loop().create_task(self._renew())

    def _stop_lease(self) -> None:
        if self._lease_task is not None:
            self._lease_task.cancel()
            self._lease_task = None

    async def _renew(self) -> None:
        lease = m.PowerLease(1, 1 if self.export else 0, self.max_current_da, self.lease_ms)
        first = True
        while True:
            with contextlib.suppress(ConnectionError):
                await self.driver.command(lease)
                if first:
                    self.emit({"event": "lease", "current_a": self.max_current_da / 10,
                               "expiry_ms": self.lease_ms, "export": self.export})
                    first = False
            await asyncio.sleep(self.renew_s)

    def report(self, event: ev.Event) -> None:
        """Turn a link event into a record for the timeline."""
        if isinstance(event, ev.LinkDown):
            self.emit({"event": "link-down", "reason": event.reason})
            return
        if not isinstance(event, ev.FirmwareReported):
            return
        msg = event.message
        if isinstance(msg, m.CpStateChanged):
            self.emit({"event": "cp", "from": m.CP_NAMES[msg.old], "to": m.CP_NAMES[msg.new],
                       "fw_ms": msg.at_ms})
        elif isinstance(msg, m.ContactorChanged):
            self.emit({"event": "contactor", "closed": bool(msg.closed), "reason": msg.reason,
                       "fw_ms": msg.at_ms})
        elif isinstance(msg, m.Fault):
            self.emit({"event": "fault", "code": msg.code, "fault": faults.label(msg.code),
                       "detail_ms": msg.detail_ms, "fw_ms": msg.at_ms})
        elif isinstance(msg, m.Status):
            self.emit({"event": "status", "cp": m.CP_NAMES[msg.cp_state],
                       "pilot": m.PILOT_NAMES[msg.pilot_mode], "duty": msg.duty,
                       "contactor": msg.contactor, "faults": msg.faults, "latched": msg.latched,
                       "refused": msg.refused, "safe_reason": msg.safe_reason,
                       "limit_a": msg.limit_da / 10})
        elif isinstance(msg, m.Telemetry):
            self.emit({"event": "telemetry", "fw_ms": msg.at_ms, "current_a": msg.current_ma / 1000,
                       "temp_c": max(msg.temp_dc, msg.temp2_dc) / 10,
                       "cp_high_v": msg.cp_high_mv / 1000, "cp_low_v": msg.cp_low_mv / 1000})
        elif isinstance(msg, m.GridStatus):
            self.emit({"event": "grid", "fw_ms": msg.at_ms, "freq_hz": msg.freq_mhz / 1000,
                       "rocof_hz_s": msg.rocof_mhz_s / 1000, "v_rms": msg.v_rms_mv / 1000,
                       "refused": gridfunc.refused_names(msg.refused),
                       "trip": gridfunc.TRIP_NAMES[msg.trip] if msg.trip < len(gridfunc.TRIP_NAMES) else msg.trip,
                       "droop_w": msg.droop_w, "phase_err_mrad": msg.phase_err_mrad})
        elif isinstance(msg, m.Nack):
            self.emit({"event": "nack", "reason": m.NACK_NAMES.get(msg.reason, msg.reason)})
