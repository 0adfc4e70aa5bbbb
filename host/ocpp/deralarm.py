"""NotifyDERAlarm from the firmware's grid reports, and the interconnection manual's
OCPP-01 frequency drift, sans-I/O.

Alarms (OCPP 2.1 block R, NotifyDERAlarmRequest): the firmware reports its grid guard's
trip in every GridStatus (``trip``: 0 in service, else gridfunc.TRIP_NAMES' index) until
the enter-service conditions hold again, and raises Fault grid-trip (detail: the same
index) when a trip opens the contactor while exporting. An alarm starts when a trip
appears and ends (``alarmEnded``) when the guard is back in service; one alarm at a time
(a different trip ends the running alarm first), so a trip that stays for minutes is two
messages, not one per GridStatus. The mapping (our reading, *verify*): OF1/OF2 ->
HFMustTrip OverFrequency, UF1/UF2 -> LFMustTrip UnderFrequency, OV1/OV2 -> HVMustTrip
OverVoltage, UV1/UV2 and loss of grid -> LVMustTrip UnderVoltage, ROCOF -> HF/LFMustTrip by
the sign of the rate. The guard starts tripped (loss of grid until it has seen the grid):
that first trip is no alarm (local choice, else every boot raises one).

OCPP-01: the frequency more than 0.1 Hz from nominal. Logged (warning, code first) once
it has stayed beyond ``enter_mhz`` for ``hold_s``, and cleared once it has stayed within
``leave_mhz`` for ``hold_s``: the band between the two and the hold times keep a noisy
frequency at the threshold from logging an entry per sample. Local log only, no OCPP message.
"""

from __future__ import annotations

import logging

from firmware.app import faults
from firmware.app import gridfunc as gf
from firmware.link import messages as m

from .store import iso_time

log = logging.getLogger("v2gate.ocpp.der")

DRIFT_CODE = "OCPP-01"
DRIFT_ENTER_MHZ = 100  # the manual's 0.1 Hz
DRIFT_LEAVE_MHZ = 80  # local choice: 20 mHz of hysteresis
DRIFT_HOLD_S = 5.0  # local choice: how long either side must hold

_BY_TRIP = {
    gf.OF2: ("HFMustTrip", "OverFrequency"),
    gf.OF1: ("HFMustTrip", "OverFrequency"),
    gf.UF1: ("LFMustTrip", "UnderFrequency"),
    gf.UF2: ("LFMustTrip", "UnderFrequency"),
    gf.LOSS: ("LVMustTrip", "UnderVoltage"),
    gf.OV2: ("HVMustTrip", "OverVoltage"),
    gf.OV1: ("HVMustTrip", "OverVoltage"),
    gf.UV1: ("LVMustTrip", "UnderVoltage"),
    gf.UV2: ("LVMustTrip", "UnderVoltage"),
}


def alarm_of(trip: int, rocof_mhz_s: int = 0) -> tuple[str, str]:
    """(controlType, gridEventFault) for a gridfunc trip index."""
    if trip == gf.ROCOF:
        return ("HFMustTrip", "OverFrequency") if rocof_mhz_s >= 0 else ("LFMustTrip",
                                                                         "UnderFrequency")  # fmt: skip
    return _BY_TRIP.get(trip, ("LVMustTrip", "UnderVoltage"))


class DerAlarms:
    def __init__(self, f_nom: int, *, enter_mhz: int = DRIFT_ENTER_MHZ,
                 leave_mhz: int = DRIFT_LEAVE_MHZ, hold_s: float = DRIFT_HOLD_S) -> None:  # fmt: skip
        self.f_nom_mhz = f_nom * 1000
        self.enter_mhz = enter_mhz
        self.leave_mhz = leave_mhz
        self.hold_s = hold_s
        self.trip = 0  # the trip the running alarm is about, 0: none
        self.in_service_seen = False
        self.drifting = False
        self.drift_entries = 0
        self._since: float | None = None  # when the frequency crossed to the other side
        self._calls: list[tuple[str, dict]] = []

    def take_calls(self) -> list[tuple[str, dict]]:
        out, self._calls = self._calls, []
        return out

    def link_event(self, event: object, now: float) -> None:
        """Feed any host.link event: the firmware's GridStatus and Fault reports count."""
        from host.link.events import FirmwareReported

        if isinstance(event, FirmwareReported):
            if isinstance(event.message, m.GridStatus):
                self.grid_status(event.message, now)
            elif isinstance(event.message, m.Fault):
                self.fault(event.message, now)

    def grid_status(self, msg: m.GridStatus, now: float) -> None:
        self._drift(msg.freq_mhz, now)
        if msg.trip == 0:
            self.in_service_seen = True
            if self.trip:
                self._end(now)
        elif msg.trip != self.trip and self.in_service_seen:
            self._start(msg.trip, msg.rocof_mhz_s, now, gf.TRIP_NAMES[msg.trip]
                        if msg.trip < len(gf.TRIP_NAMES) else str(msg.trip))  # fmt: skip

    def fault(self, msg: m.Fault, now: float) -> None:
        """Fault grid-trip: a must-trip while exporting (detail_ms: the trip index)."""
        if msg.code & faults.GRID_TRIP and msg.detail_ms != self.trip:
            trip = msg.detail_ms
            name = gf.TRIP_NAMES[trip] if 0 < trip < len(gf.TRIP_NAMES) else str(trip)
            self._start(trip, 0, now, f"{name} trip while exporting")

    def _start(self, trip: int, rocof: int, now: float, info: str) -> None:
        if self.trip:
            self._end(now)
        self.trip = trip
        control, fault = alarm_of(trip, rocof)
        self._calls.append(("NotifyDERAlarm", {"controlType": control, "gridEventFault": fault,
                                               "timestamp": iso_time(now),
                                               "extraInfo": info[:200]}))  # fmt: skip

    def _end(self, now: float) -> None:
        control, fault = alarm_of(self.trip)
        self._calls.append(("NotifyDERAlarm", {"controlType": control, "gridEventFault": fault,
                                               "alarmEnded": True,
                                               "timestamp": iso_time(now)}))  # fmt: skip
        self.trip = 0

    def _drift(self, freq_mhz: int, now: float) -> None:
        if freq_mhz <= 0:  # no measurement: neither side
            self._since = None
            return
        off = abs(freq_mhz - self.f_nom_mhz)
        beyond = off < self.leave_mhz if self.drifting else off > self.enter_mhz
        if not beyond:
            self._since = None
            return
        if self._since is None:
            self._since = now
        if now - self._since < self.hold_s:
            return
        self._since = None
        self.drifting = not self.drifting
        if self.drifting:
            self.drift_entries += 1
            log.warning("%s: grid frequency %.3f Hz, more than %.3f Hz from nominal for %.0f s",
                        DRIFT_CODE, freq_mhz / 1000, self.enter_mhz / 1000, self.hold_s)  # fmt: skip
        else:
            log.info("%s cleared: grid frequency %.3f Hz, within %.3f Hz of nominal for %.0f s",
                     DRIFT_CODE, freq_mhz / 1000, self.leave_mhz / 1000, self.hold_s)  # fmt: skip
