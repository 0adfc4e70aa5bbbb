"""-20 scheduled control: the station's ``Schedule`` list as ScheduleExchangeRes tuples
(power, discharge and price-level schedules), the check of the EV's power profile against
the tuple it selects, and the limits of that tuple at a moment of the loop."""

from __future__ import annotations

from typing import Any

from host.exi.schemas import iso20_common_messages as m

from .controller import Schedule
from .iso20_values import durations, from_rational, power_schedule

Code = m.responseCodeType


def level_at(entries: tuple[tuple[int, float], ...], at: int) -> float | None:
    """The value in force ``at`` s into (start, value) entries; None before the first."""
    current = None
    for start, value in entries:
        if start <= at:
            current = value
    return current


def schedule_tuple(schedule: Schedule, points: int, anchor: int,
                   bpt: bool) -> m.ScheduleTupleType:  # fmt: skip
    """One ScheduleTuple of at most ``points`` entries per schedule; a DischargingSchedule
    (negative powers) for BPT when the station allows discharge in this tuple."""
    # our parameter sets say Pricing = 2 (price levels): every schedule carries a
    # PriceLevelSchedule, one level when the station has no tariff
    levels = schedule.price_levels or ((0, 0),)
    prices = m.PriceLevelScheduleType(
        TimeAnchor=anchor, PriceScheduleID=schedule.tuple_id,
        NumberOfPriceLevels=max(level for _s, level in levels) + 1,
        PriceLevelScheduleEntries=m.PriceLevelScheduleEntryListType(
            PriceLevelScheduleEntry=[m.PriceLevelScheduleEntryType(
                Duration=duration, PriceLevel=level) for duration, level in
                durations(levels, schedule.duration)[:points]]))
    charging = m.ChargingScheduleType(PowerSchedule=power_schedule(
        schedule.entries, schedule.duration, anchor, points, 1), PriceLevelSchedule=prices)
    discharging = None
    if bpt and schedule.discharge:
        discharging = m.ChargingScheduleType(PowerSchedule=power_schedule(
            schedule.discharge, schedule.duration, anchor, points, -1),
            PriceLevelSchedule=prices)
    return m.ScheduleTupleType(ScheduleTupleID=schedule.tuple_id, ChargingSchedule=charging,
                               DischargingSchedule=discharging)


def no_schedule(dynamic: bool, anchor: int) -> dict[str, Any]:
    """The control-mode element of an Ongoing or FAILED ScheduleExchangeRes (the schema
    wants one; a scheduled one at least one tuple): nothing to charge with."""
    if dynamic:
        return {"Dynamic_SEResControlMode": m.Dynamic_SEResControlModeType()}
    return {"Scheduled_SEResControlMode": m.Scheduled_SEResControlModeType(
        ScheduleTuple=[schedule_tuple(Schedule(1, ((0, 0.0),)), 1, anchor, False)])}


def check_profile(profile: m.EVPowerProfileType | None, schedules: list[Schedule],
                  bpt: bool) -> tuple[Any, int]:  # fmt: skip
    """(response code, selected tuple ID): the tuple must be one we offered and the EV's
    power profile must stay inside its charging and discharging schedules."""
    chosen_id = getattr(getattr(profile, "Scheduled_EVPPTControlMode", None),
                        "SelectedScheduleTupleID", None)  # fmt: skip
    chosen = next((s for s in schedules if s.tuple_id == chosen_id), None)
    if chosen is None or profile is None:
        return Code.FAILED_ScheduleSelectionInvalid, 0
    start = 0
    for entry in profile.EVPowerProfileEntries.EVPowerProfileEntry:
        power = from_rational(entry.Power)
        high = level_at(chosen.entries, start) or 0.0
        low = -(level_at(chosen.discharge, start) or 0.0) if bpt else 0.0
        if not low <= power <= high:
            return Code.FAILED_EVPowerProfileInvalid, chosen.tuple_id
        start += entry.Duration
    return Code.OK, chosen.tuple_id


def limits_at(schedule: Schedule, at: int) -> tuple[float, float]:
    """(max charge W, max discharge W) ``at`` s into the schedule; nothing past its end."""
    if at > schedule.duration:
        return (0.0, 0.0)
    return (level_at(schedule.entries, at) or 0.0, level_at(schedule.discharge, at) or 0.0)
