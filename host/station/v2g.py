"""The station under an ISO 15118 session: the firmware's pilot and contactor, driven over
the link by the session's requests.

``DigitalStation`` is the basic-AC ``Station`` policy with digital communication: on CP B
it offers 5 % PWM (IEC 61851-1: ISO 15118 required) instead of a current, and it grants the
PowerLease, on which the firmware closes its contactor, only while the session asks for
power (``PowerWanted``), not merely because the EV is in C. ``OfferEnded`` (the session is
over) takes the 5 % back (X1, B1), so the EV opens S2 and leaves.

``StationEvseController`` is the ``EvseController`` a session gets: present values,
limits, isolation and the DC stage from ``SimEvseController`` (the plant model), but
contactor requests go to the firmware through ``StationLink``, power flows only while the
firmware reports its contactor closed, and ``close_contactors`` answers False when the
firmware refuses for a reason a lease cannot lift (EV not in C, a latched fault, E-stop...).
The session runs in another thread (its own event loop, its own network namespace), so the
link takes its requests as events on the runner's queue (thread-safe) and publishes what the
firmware reports as plain attributes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from firmware.app import interlocks, pilot
from firmware.link import messages as m
from host.bench.dcplant import DcPlant
from host.link.driver import LinkDriver
from host.secc.controller import SimEvseController
from host.station.policy import Phase, Station

# what a PowerLease lifts by itself: the firmware then tests its RCD and diode, and closes
LIFTED_BY_LEASE = interlocks.NO_LEASE | interlocks.RCD_UNTESTED | interlocks.DIODE_UNCHECKED

# what SimEvseController takes from its caller (the rest is its running state)
SETTINGS = ("evse_id", "decision", "authorize_after", "min_current", "current_tolerance",
            "peak_current_ripple", "ac", "receipt", "schedule_list", "export",
            "setpoint", "services")  # fmt: skip


@dataclass(frozen=True)
class PowerWanted:
    """The session asks for the contactor closed (True) or open (False)."""

    on: bool


@dataclass(frozen=True)
class OfferEnded:
    """The session is over: stop offering digital communication."""


class DigitalStation(Station):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.want_power = False
        self.offer_ended = False
        self.ever_charged = False  # the EV was in C or D (then it leaves through A)
        self.fw_contactor = False  # as the firmware last reported it
        self.fw_refused = 0  # Status.refused: the interlocks that hold the contactor open

    def handle_event(self, event: Any, now: float) -> None:
        self._now = now
        if isinstance(event, PowerWanted):
            if event.on != self.want_power:
                self._emit({"event": "power-wanted", "on": event.on})
            self.want_power = event.on
            if event.on and self.cp in (m.CP_C, m.CP_D):
                self._start_lease()
            elif not event.on and self._lease_on:
                self._stop_lease()
        elif isinstance(event, OfferEnded):
            if self.offer_ended:
                return
            self.offer_ended = True
            self.want_power = False
            if self._lease_on:
                self._stop_lease()
            self._set_pilot(m.SetPilot(m.PILOT_X1, 10000), {"event": "offer-ended"})
        else:
            super().handle_event(event, now)

    def _start_lease(self) -> None:
        if not self._lease_on and self.phase == Phase.RUNNING:
            self._lease_on = True
            self._lease_reported = False
            self._withdraw = None
            self._renew_at = self._now + self.s.renew_s
            self._renew()

    def _apply_cp(self, new: int, resumed: bool = False) -> None:
        """Like ``Station._apply_cp``, but the lease follows the session, and B offers 5 %."""
        self.cp = new
        if new in (m.CP_C, m.CP_D):
            self._charged = self.ever_charged = True
            if self.want_power:
                self._start_lease()
            if resumed or self._pilot is None:
                self._offer()
            return
        if self._lease_on:
            self._stop_lease()
        if new == m.CP_B and not self.offer_ended:
            self._offer()
        elif (new == m.CP_A or resumed) and (self._pilot is None or self._pilot.mode != m.PILOT_X1):
            self._set_pilot(m.SetPilot(m.PILOT_X1, 10000), None)
        if new == m.CP_A and self._charged:
            self._charged = False
            self.sessions += 1
            self._emit({"event": "session-ended"})
            if self.s.sessions is not None and self.sessions >= self.s.sessions:
                self.phase = Phase.DONE

    def _offer(self) -> None:
        if self._pilot is not None and self._pilot.duty == pilot.DUTY_DIGITAL:
            return
        self._set_pilot(m.SetPilot(m.PILOT_PWM, pilot.DUTY_DIGITAL),
                        {"event": "offer", "digital": True, "duty_percent": 5.0})  # fmt: skip

    def report(self, msg: m.Message) -> None:
        super().report(msg)
        if isinstance(msg, m.Status):
            self.fw_contactor = bool(msg.contactor)
            self.fw_refused = msg.refused
        elif isinstance(msg, m.ContactorChanged):
            self.fw_contactor = bool(msg.closed)


class StationLink:
    """The session side's handle on a ``DigitalStation`` run by ``host.station.runner.serve``
    on ``driver`` in ``loop`` (another thread's, possibly)."""

    def __init__(self, station: DigitalStation, driver: LinkDriver,
                 loop: asyncio.AbstractEventLoop) -> None:  # fmt: skip
        self.station = station
        self.driver = driver
        self.loop = loop

    def _post(self, event: object) -> None:
        try:
            self.loop.call_soon_threadsafe(self.driver.events.put_nowait, event)  # type: ignore[arg-type]
        except RuntimeError:
            pass  # the station's loop is closed: it finished (the EV left) or was stopped

    def want_power(self, on: bool) -> None:
        self._post(PowerWanted(on))

    def end_offer(self) -> None:
        self._post(OfferEnded())

    @property
    def contactor_closed(self) -> bool:
        return self.station.fw_contactor

    def cannot_close(self) -> str | None:
        """Why the firmware will not close on a lease, or None."""
        st = self.station
        if st.cp not in (m.CP_C, m.CP_D):
            return f"the EV is in CP {m.CP_NAMES[st.cp]}, not C"
        blocking = st.fw_refused & ~LIFTED_BY_LEASE
        if blocking:
            return "the firmware refuses: " + ", ".join(interlocks.names(blocking))
        return None


class StationEvseController(SimEvseController):
    """``SimEvseController`` whose contactor is the firmware's (see the module text)."""

    def __init__(self, plant: DcPlant, link: StationLink, **kwargs: Any) -> None:
        super().__init__(plant, **kwargs)
        self.link = link
        self.refusal: str | None = None  # why close_contactors said False

    @classmethod
    def taking_over(cls, sim: SimEvseController, link: StationLink) -> StationEvseController:
        """The same station as ``sim`` (its plant, EVSE ID, decisions, limits), with the
        firmware's contactor."""
        made = cls(sim.plant, link)
        for name in SETTINGS:
            setattr(made, name, getattr(sim, name))
        return made

    def close_contactors(self, now: float) -> bool:
        why = self.link.cannot_close()
        if why is not None:
            self.refusal = why
            return False
        self.link.want_power(True)
        return super().close_contactors(now)

    def open_contactors(self, now: float) -> None:
        self.link.want_power(False)
        super().open_contactors(now)

    def _flowing(self, amps: float) -> float:
        return amps if self.link.contactor_closed else 0.0

    def request_current(self, amps: float, volts: float, now: float) -> None:
        super().request_current(self._flowing(amps), volts, now)

    def ac_allow(self, amps_per_phase: float, now: float) -> None:
        super().ac_allow(self._flowing(amps_per_phase), now)

    def ac_power(self, watts: float, now: float) -> None:  # -20 AC / AC_BPT, signed
        super().ac_power(self._flowing(watts), now)

    def session_ended(self, reason: str, now: float) -> None:
        self.link.end_offer()  # the lease goes with it
        super().session_ended(reason, now)
