"""NotifyEVChargingNeeds / NotifyEVChargingSchedule from ISO 15118 data (OCPP 2.0.1 / 2.1
K15-K17), pure functions: the EV's ChargeParameterDiscoveryReq (-2, or -20 with its
ScheduleExchangeReq) to ChargingNeedsType, and the EV's charging profile (-2
PowerDeliveryReq ChargingProfile, -20 EVPowerProfile) to NotifyEVChargingScheduleRequest.
Field correspondences follow the 2.1 schema's "Relates to" notes.

- -2 AC: acChargingParameters (EAmount, EVMin/MaxCurrent, EVMaxVoltage); -2 DC:
  dcChargingParameters (limits, capacity, request, SoC from DC_EVStatus, full/bulk SoC).
- -20 (2.1 only for V2X): v2xChargingParameters from the energy transfer mode's
  EVMinimum/Maximum Charge/Discharge Power (and _L2/_L3), Current, Voltage, TargetSOC, and
  the energy requests of the ScheduleExchangeReq's control mode; discharge values are >= 0
  as the schema says (the sign lives in charging profiles, not here); DC also fills
  dcChargingParameters (evMaxCurrent / evMaxVoltage / evMaxPower); controlMode from the
  ScheduleExchangeReq (Dynamic / Scheduled).
- On 2.0.1 only what 2.0.1 has: no V2X parameters, no controlMode, and BPT reported as
  its plain mode (AC_three_phase / DC).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .store import iso_time

ISO2_MODE = {"AC_single_phase_core": "AC_single_phase", "AC_three_phase_core": "AC_three_phase",
             "DC_core": "DC", "DC_extended": "DC", "DC_combo_core": "DC", "DC_unique": "DC"}  # fmt: skip
PLAIN = {"AC_BPT": "AC_three_phase", "DC_BPT": "DC", "AC": "AC_three_phase"}  # on 2.0.1
V2X_FIELDS = {  # -20 CPDReqEnergyTransferMode field -> V2XChargingParametersType field
    "EVMinimumChargePower": "minChargePower", "EVMaximumChargePower": "maxChargePower",
    "EVMinimumDischargePower": "minDischargePower", "EVMaximumDischargePower": "maxDischargePower",
    "EVMinimumChargeCurrent": "minChargeCurrent", "EVMaximumChargeCurrent": "maxChargeCurrent",
    "EVMinimumDischargeCurrent": "minDischargeCurrent",
    "EVMaximumDischargeCurrent": "maxDischargeCurrent",
    "EVMinimumVoltage": "minVoltage", "EVMaximumVoltage": "maxVoltage",
}  # fmt: skip
ENERGY_FIELDS = {  # -20 SEReqControlMode field -> V2XChargingParametersType field
    "EVTargetEnergyRequest": "evTargetEnergyRequest", "EVMinimumEnergyRequest": "evMinEnergyRequest",
    "EVMaximumEnergyRequest": "evMaxEnergyRequest",
    "EVMinimumV2XEnergyRequest": "evMinV2XEnergyRequest",
    "EVMaximumV2XEnergyRequest": "evMaxV2XEnergyRequest",
}  # fmt: skip


def physical(v: Any) -> float:
    """-2 PhysicalValueType: Value x 10^Multiplier."""
    return float(v.Value * 10.0 ** v.Multiplier)


def rational(v: Any) -> float:
    """-20 RationalNumberType: Value x 10^Exponent."""
    return float(v.Value * 10.0 ** v.Exponent)


def _fit(params: dict, version: str) -> dict:
    """2.0.1 has these AC/DC parameters as integers (2.1: numbers): rounded there."""
    return {k: round(v) for k, v in params.items()} if version == "2.0.1" else params


def needs_from_iso2(req: Any, now: float, version: str = "2.1") -> dict:
    """ChargingNeedsType from a -2 ChargeParameterDiscoveryReq."""
    p = req.EVChargeParameter
    out: dict = {"requestedEnergyTransfer": ISO2_MODE[req.RequestedEnergyTransferMode.value]}
    if p.DepartureTime is not None:
        out["departureTime"] = iso_time(now + p.DepartureTime)
    if hasattr(p, "EAmount"):  # AC
        out["acChargingParameters"] = _fit({"energyAmount": physical(p.EAmount),
                                            "evMinCurrent": physical(p.EVMinCurrent),
                                            "evMaxCurrent": physical(p.EVMaxCurrent),
                                            "evMaxVoltage": physical(p.EVMaxVoltage)}, version)  # fmt: skip
        return out
    dc: dict = {"evMaxCurrent": physical(p.EVMaximumCurrentLimit),
                "evMaxVoltage": physical(p.EVMaximumVoltageLimit),
                "stateOfCharge": p.DC_EVStatus.EVRESSSOC}  # fmt: skip
    for field, name in (("EVMaximumPowerLimit", "evMaxPower"), ("EVEnergyCapacity", "evEnergyCapacity"),
                        ("EVEnergyRequest", "energyAmount")):  # fmt: skip
        if getattr(p, field) is not None:
            dc[name] = physical(getattr(p, field))
    for field, name in (("FullSOC", "fullSoC"), ("BulkSOC", "bulkSoC")):
        if getattr(p, field) is not None:
            dc[name] = getattr(p, field)
    out["dcChargingParameters"] = _fit(dc, version)
    return out


def needs_from_iso20(service: str, cpd: Any, schedule: Any | None, now: float,
                     version: str = "2.1") -> dict:  # fmt: skip
    """ChargingNeedsType from a -20 {AC,DC}[_BPT] ChargeParameterDiscoveryReq and, when it
    has come, the ScheduleExchangeReq. ``service``: "AC", "AC_BPT", "DC" or "DC_BPT"."""
    # a BPT mode comes in the same field (its type extends the plain one)
    mode = getattr(cpd, "DC_CPDReqEnergyTransferMode", None) or cpd.AC_CPDReqEnergyTransferMode
    v2x: dict = {}
    for field, name in V2X_FIELDS.items():
        for suffix in ("", "_L2", "_L3"):
            value = getattr(mode, field + suffix, None)
            if value is not None and (suffix == "" or "Power" in field):
                v2x[name + suffix] = rational(value)
    if getattr(mode, "TargetSOC", None) is not None:
        v2x["targetSoC"] = mode.TargetSOC
    out: dict = {"requestedEnergyTransfer": "AC_three_phase" if service == "AC" else service}
    if service.startswith("DC"):
        out["dcChargingParameters"] = _fit({"evMaxCurrent": v2x["maxChargeCurrent"],
                                            "evMaxVoltage": v2x["maxVoltage"],
                                            "evMaxPower": v2x["maxChargePower"]}, version)  # fmt: skip
    control = None
    if schedule is not None:
        control = schedule.Dynamic_SEReqControlMode or schedule.Scheduled_SEReqControlMode
        out["controlMode"] = ("DynamicControl" if schedule.Dynamic_SEReqControlMode is not None
                              else "ScheduledControl")  # fmt: skip
    if control is not None:
        for field, name in ENERGY_FIELDS.items():
            if getattr(control, field, None) is not None:
                v2x[name] = rational(getattr(control, field))
        if getattr(control, "TargetSOC", None) is not None:
            v2x["targetSoC"] = control.TargetSOC
        if control.DepartureTime is not None:
            out["departureTime"] = iso_time(now + control.DepartureTime)
    if version == "2.1":
        out["v2xChargingParameters"] = v2x
    else:  # 2.0.1 has none of the V2X vocabulary
        out.pop("controlMode", None)
        out["requestedEnergyTransfer"] = PLAIN.get(service, out["requestedEnergyTransfer"])
    return out


def charging_needs(evse_id: int, needs: dict, now: float, max_tuples: int | None = None) -> dict:
    """NotifyEVChargingNeedsRequest."""
    out = {"evseId": evse_id, "chargingNeeds": needs}
    if max_tuples is not None:
        out["maxScheduleTuples"] = max_tuples
    return out


def schedule_from_iso2(evse_id: int, tuple_id: int, profile: Any, time_base: float) -> dict:
    """NotifyEVChargingScheduleRequest from a -2 PowerDeliveryReq's ChargingProfile (entry
    starts in s from the schedule's start, powers in W)."""
    periods = []
    for e in profile.ProfileEntry:
        period = {"startPeriod": e.ChargingProfileEntryStart,
                  "limit": physical(e.ChargingProfileEntryMaxPower)}  # fmt: skip
        if e.ChargingProfileEntryMaxNumberOfPhasesInUse is not None:
            period["numberPhases"] = e.ChargingProfileEntryMaxNumberOfPhasesInUse
        periods.append(period)
    return {"timeBase": iso_time(time_base), "evseId": evse_id,
            "chargingSchedule": {"id": tuple_id, "chargingRateUnit": "W",
                                 "chargingSchedulePeriod": periods}}  # fmt: skip


def schedule_from_iso20(evse_id: int, schedule_id: int, profile: Any) -> dict:
    """NotifyEVChargingScheduleRequest from a -20 EVPowerProfile (entries of a duration
    each from TimeAnchor, epoch seconds; power > 0 charging, < 0 discharging, as in -20)."""
    periods, start = [], 0
    for e in profile.EVPowerProfileEntries.EVPowerProfileEntry:
        periods.append({"startPeriod": start, "limit": rational(e.Power)})
        start += e.Duration
    return {"timeBase": iso_time(profile.TimeAnchor), "evseId": evse_id,
            "chargingSchedule": {"id": schedule_id, "chargingRateUnit": "W", "duration": start,
                                 "chargingSchedulePeriod": periods}}  # fmt: skip


def attach_allowed_energy_transfer(st: Any, allowed: Callable[[str, list[str]], None]) -> None:
    """NotifyAllowedEnergyTransfer (2.1, CSMS -> station): the energy transfer modes the
    CSMS accepts for a running transaction, for the SECC to offer (``allowed(tx_id,
    modes)``); an unknown transaction is Rejected (reason code *verify*)."""
    from .machine import Route

    def handle(req: dict, now: float) -> dict:
        tx_id = req["transactionId"]
        if tx_id not in {t.tx_id for t in st.queue.open_transactions()}:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownTransaction",
                                                         "additionalInfo": tx_id}}  # fmt: skip
        allowed(tx_id, list(req["allowedEnergyTransfer"]))
        return {"status": "Accepted"}

    st.add_routes({"NotifyAllowedEnergyTransfer": Route(lambda obj: obj, handle)})
