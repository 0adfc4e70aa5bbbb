"""EvseController: the one interface between a session machine and the station.

A session machine (DIN 70121, ISO 15118-2, later -20) asks the controller for present values,
limits, the isolation result and the authorization decision, and sends it contactor and
power-module requests. It never touches hardware or I/O; ``now`` is passed in everywhere so
a simulated controller can run on a fake clock.

``SimEvseController`` is the simulated station: one ``host.bench.dcplant.DcPlant``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from host.bench.dcplant import DcPlant, Insulation

__all__ = ["AcLimits", "DcLimits", "Decision", "EvseController", "ExportRules", "Insulation",
           "PowerWindow", "Schedule", "SimEvseController", "StopRequest", "bpt_power"]


class Decision(Enum):
    ACCEPTED = "accepted"
    ONGOING = "ongoing"  # not decided yet: the session answers EVSEProcessing=Ongoing
    REJECTED = "rejected"


class StopRequest(Enum):
    """Why the station wants the session to end (the session tells the EV)."""

    STOP = "stop"  # end the session (operator, CSMS, fault)
    PAUSE = "pause"  # -2 / -20 only: pause and resume later
    EMERGENCY = "emergency"  # shut down now


@dataclass(frozen=True)
class DcLimits:
    max_voltage: float
    min_voltage: float
    max_current: float
    min_current: float
    max_power: float
    max_discharge_current: float  # 0 unless the station can discharge the EV
    current_tolerance: float  # EVSECurrentRegulationTolerance, A
    peak_current_ripple: float  # EVSEPeakCurrentRipple, A


@dataclass(frozen=True)
class AcLimits:
    """What an AC station offers (ISO 15118-2 AC_EVSEChargeParameter)."""

    nominal_voltage: float  # EVSENominalVoltage, V (phase to neutral)
    max_current: float  # EVSEMaxCurrent, A per phase
    phases: int  # 1 or 3


@dataclass(frozen=True)
class Schedule:
    """One SAScheduleTuple: ``entries`` are (start s from now, PMax W), ascending starts;
    the last entry runs to ``duration``."""

    tuple_id: int
    entries: tuple[tuple[int, float], ...]
    duration: int = 86400
    # -20 BPT: (start s, max discharge W as a positive number), the DischargingSchedule;
    # empty: the tuple allows no discharge
    discharge: tuple[tuple[int, float], ...] = ()
    # -20 PriceLevelSchedule: (start s, price level 0..levels-1); empty: no price schedule
    price_levels: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class ExportRules:
    """What limits discharge (V2G export) besides the EV and the stage, read by the station:
    the grid operator's export enable (a bit; Modbus register 0x4002 in the field), the
    station's export limit, and the owner's SoC floor (no discharge at or below it; the
    "Discharge Limit set in the user profile")."""

    export_enabled: bool = False
    export_limit_w: float = 0.0
    soc_floor: float = 1.0  # 0..1


@dataclass(frozen=True)
class PowerWindow:
    """How much may flow each way, W, both as positive numbers."""

    max_charge_w: float
    max_discharge_w: float


def bpt_power(want_w: float, ev: PowerWindow, station: PowerWindow, rules: ExportRules,
              soc: float | None) -> float:  # fmt: skip
    """The signed power (+ into the EV) one charge-loop iteration may deliver: ``want_w``
    (the EV's target or the station's setpoint) clamped to the smallest charge limit and to
    the smallest discharge limit of the EV, the stage, the export limit, the export enable
    and the SoC floor. An unknown SoC allows no discharge."""
    return max(-discharge_allowed_w(ev, station, rules, soc),
               min(want_w, ev.max_charge_w, station.max_charge_w))  # fmt: skip


def discharge_allowed_w(ev: PowerWindow, station: PowerWindow, rules: ExportRules,
                        soc: float | None) -> float:  # fmt: skip
    if not rules.export_enabled or soc is None or soc <= rules.soc_floor:
        return 0.0
    return max(0.0, min(ev.max_discharge_w, station.max_discharge_w, rules.export_limit_w))


class EvseController(Protocol):
    evse_id: str

    def limits(self) -> DcLimits: ...

    def present_voltage(self, now: float) -> float: ...

    def present_current(self, now: float) -> float: ...

    def authorize(self, ev_id: str, now: float) -> Decision:
        """EIM: has the station authorised this EV (RFID, app, free vend)? ``ev_id`` is the
        EVCCID (DIN / -2) or the EMAID (PnC)."""
        ...

    def start_isolation_check(self, now: float) -> None: ...

    def isolation_result(self, now: float) -> Insulation | None:
        """None while the check runs."""
        ...

    def request_voltage(self, volts: float, now: float) -> None:
        """PreCharge: match the EV's battery voltage with the contactors open."""
        ...

    def request_current(self, amps: float, volts: float, now: float) -> None:
        """CurrentDemand: the EV's targets (amps signed, + charges the EV)."""
        ...

    def close_contactors(self, now: float) -> bool:
        """True once closed; False if they cannot close (the session fails)."""
        ...

    def open_contactors(self, now: float) -> None: ...

    def stop_power(self, now: float) -> None:
        """Switch the power module off (end of charge, fault, session end)."""
        ...

    def meter_wh(self, now: float) -> float: ...

    def ac_limits(self) -> AcLimits: ...

    def ac_allow(self, amps_per_phase: float, now: float) -> None:
        """AC: the EV may draw up to this per phase (0: none); contactors are separate."""
        ...

    def schedules(self, now: float) -> list[Schedule]:
        """The SAScheduleList -2 offers in ChargeParameterDiscovery (1..3 tuples)."""
        ...

    def receipt_required(self, now: float) -> bool:
        """-2: ask the EV for a MeteringReceipt after this charging-loop answer."""
        ...

    def stop_requested(self, now: float) -> StopRequest | None: ...

    def session_ended(self, reason: str, now: float) -> None:
        """The session machine finished (for whatever reason): make the output safe."""
        ...

    def export_rules(self, now: float) -> ExportRules:
        """-20 BPT: read at every charge-loop iteration."""
        ...

    def ac_power(self, watts: float, now: float) -> None:
        """-20 AC / AC_BPT: the active power the EV is to take (+) or feed back (-), all
        phases together (the EVSETargetActivePower the loop answer carries)."""
        ...

    def exported_wh(self, now: float) -> float:
        """-20 BPT: energy taken from the EV so far (BPT_DischargedEnergyReadingWh)."""
        ...

    def setpoint_w(self, now: float) -> float | None:
        """-20 dynamic mode: the station's power setpoint (+ charges the EV; later from
        OCPP 2.1 and the firmware's frequency droop), None to follow the EV's needs."""
        ...

    def energy_services(self, now: float) -> frozenset[int] | None:
        """-20: the energy services (ServiceIDs, -20 Table 204) the station offers now, None
        for all the session machine serves. A change while the EV charges asks it for a
        ServiceRenegotiation (e.g. BPT allowed or withdrawn by the grid operator)."""
        ...


class SimEvseController:
    """The station as the plant model sees it; an authorization ``decision`` and an
    ``ongoing_for`` delay stand in for the station's RFID / CSMS round trip."""

    def __init__(self, plant: DcPlant, *, evse_id: str = "DE*V2G*E0001",
                 decision: Decision = Decision.ACCEPTED, authorize_after: float = 0.0,
                 min_current: float = 0.0, current_tolerance: float = 5.0,
                 peak_current_ripple: float = 2.0, ac: AcLimits | None = None,
                 receipt: bool = False) -> None:  # fmt: skip
        self.plant = plant
        self.evse_id = evse_id
        self.decision = decision
        self.authorize_after = authorize_after
        self.min_current = min_current
        self.current_tolerance = current_tolerance
        self.peak_current_ripple = peak_current_ripple
        self.stop: StopRequest | None = None
        self.ended: str | None = None
        self._auth_asked: float | None = None
        self.ac = ac or AcLimits(230.0, 32.0, 3)
        self.receipt = receipt
        self.schedule_list: list[Schedule] | None = None  # None: one tuple at max power
        self.export = ExportRules()  # no export until the station says so
        self.setpoint: float | None = None
        self.services: frozenset[int] | None = None  # -20 energy services; None: all

    def limits(self) -> DcLimits:
        lim = self.plant.limits
        return DcLimits(lim.max_voltage, lim.min_voltage, lim.max_current, self.min_current,
                        lim.max_power, lim.max_discharge_current, self.current_tolerance,
                        self.peak_current_ripple)  # fmt: skip

    def present_voltage(self, now: float) -> float:
        self.plant.advance(now)
        return self.plant.output_voltage

    def present_current(self, now: float) -> float:
        self.plant.advance(now)
        return self.plant.current

    def authorize(self, ev_id: str, now: float) -> Decision:
        if self._auth_asked is None:
            self._auth_asked = now
        if self.decision is Decision.ACCEPTED and now - self._auth_asked < self.authorize_after:
            return Decision.ONGOING
        return self.decision

    def start_isolation_check(self, now: float) -> None:
        self.plant.start_isolation_check(now)

    def isolation_result(self, now: float) -> Insulation | None:
        return self.plant.isolation_result(now)

    def request_voltage(self, volts: float, now: float) -> None:
        self.plant.set_voltage(volts, now)

    def request_current(self, amps: float, volts: float, now: float) -> None:
        self.plant.set_current(amps, now)

    def close_contactors(self, now: float) -> bool:
        self.plant.close_contactors(now)
        return True

    def open_contactors(self, now: float) -> None:
        self.plant.open_contactors(now)

    def stop_power(self, now: float) -> None:
        self.plant.set_current(0.0, now)
        self.plant.switch_off(now)

    def meter_wh(self, now: float) -> float:
        self.plant.advance(now)
        return self.plant.energy_in_wh - self.plant.energy_out_wh

    def ac_limits(self) -> AcLimits:
        return self.ac

    def ac_allow(self, amps_per_phase: float, now: float) -> None:
        # The EV's on-board charger is the same plant's stage feeding the same battery: the
        # AC power it may draw, as DC current at the battery's voltage.
        power = max(0.0, amps_per_phase) * self.ac.nominal_voltage * self.ac.phases
        if power <= 0:
            self.plant.set_current(0.0, now)
            return
        self.plant.energised = True
        self.plant.set_current(power / self.plant.battery.open_circuit_voltage(), now)

    def schedules(self, now: float) -> list[Schedule]:
        if self.schedule_list is not None:
            return self.schedule_list
        lim = self.plant.limits
        discharge = ((0, lim.max_power),) if lim.max_discharge_current > 0 else ()
        return [Schedule(1, ((0, lim.max_power),), discharge=discharge)]

    def receipt_required(self, now: float) -> bool:
        return self.receipt

    def stop_requested(self, now: float) -> StopRequest | None:
        return self.stop

    def session_ended(self, reason: str, now: float) -> None:
        self.ended = reason
        self.plant.switch_off(now)
        self.plant.open_contactors(now)

    def export_rules(self, now: float) -> ExportRules:
        return self.export

    def setpoint_w(self, now: float) -> float | None:
        return self.setpoint

    def energy_services(self, now: float) -> frozenset[int] | None:
        return self.services

    def exported_wh(self, now: float) -> float:
        self.plant.advance(now)
        return self.plant.energy_out_wh

    def ac_power(self, watts: float, now: float) -> None:
        # as ac_allow, signed: the on-board charger is the plant's stage; a bidirectional
        # one feeds the battery's energy back (the plant clamps to its discharge limit)
        self.plant.energised = True
        self.plant.set_current(watts / self.plant.battery.open_circuit_voltage(), now)
