"""-20 scheduled control: the station's ``Schedule`` list as ScheduleExchangeRes tuples
(power, discharge and price-level schedules), the check of the EV's power profile against
the tuple it selects, and the limits of that tuple at a moment of the loop."""

from __future__ import annotations

from typing import Any

from host.exi.schemas import iso20_common_messages as m

from .controller import Schedule
from .iso20_values import durations, from_rational, power_schedule, rational, total

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


def slots(entries: tuple[tuple[int, float], ...], duration: int) -> list[tuple[int, int, float]]:
    """(start, end, W) of each entry, the last one running to ``duration``; 0 W before the
    first entry (nothing allowed there, as ``limits_at`` says). W as the EV got it: the
    RationalNumber the schedule went out as, which may round up (22170.6 W is 22171)."""
    first = entries[0][0] if entries else duration
    spans = [(0, first, 0.0)] + [(start, start + length, from_rational(rational(value)))
                                 for (start, _v), (length, value)
                                 in zip(entries, durations(entries, duration), strict=True)]
    return [(low, high, value) for low, high, value in spans if low < high]


def check_profile(profile: m.EVPowerProfileType | None, schedules: list[Schedule], bpt: bool,
                  anchor: int) -> tuple[Any, int]:  # fmt: skip
    """(response code, selected tuple ID) for a scheduled-mode PowerDeliveryReq(Start) whose
    EV has settled its profile; ``anchor`` is the TimeAnchor of the schedules we offered.

    - The profile must be in the scheduled control mode (a dynamic one, or none, selects
      nothing): FAILED_EVPowerProfileInvalid.
    - SelectedScheduleTupleID must be one we offered: FAILED_ScheduleSelectionInvalid
      ([V2G20-479] names -2's FAILED_TariffSelectionInvalid, which -20's responseCodeType
      lacks).
    - Every entry's power, over the whole span it covers, must stay within every slot of
      the tuple's ChargingSchedule and (BPT) DischargingSchedule it overlaps ([V2G20-1559]):
      FAILED_EVPowerProfileInvalid ([V2G20-478]). The profile's TimeAnchor is when its
      first entry starts ([V2G20-1861]); where it covers no part of the schedule, the
      schedule bounds nothing. No discharge (negative power) without BPT and a
      DischargingSchedule.
    - Otherwise the SECC accepts it ([V2G20-1070]): OK, or OK_PowerToleranceConfirmed when
      the EV confirmed a PowerTolerance ([V2G20-1944]). PowerToleranceAcceptance is optional
      (the schema's minOccurs=0); our schedules carry no PowerTolerance, so a
      PowerToleranceNotConfirmed changes nothing: we neither stop ([V2G20-1945]) nor
      renegotiate ([V2G20-1946]) for it.
    """
    scheduled = getattr(profile, "Scheduled_EVPPTControlMode", None)
    if profile is None or scheduled is None:
        return Code.FAILED_EVPowerProfileInvalid, 0
    chosen = next((s for s in schedules if s.tuple_id == scheduled.SelectedScheduleTupleID),
                  None)  # fmt: skip
    if chosen is None:
        return Code.FAILED_ScheduleSelectionInvalid, 0
    charge = slots(chosen.entries, chosen.duration)
    discharge = slots(chosen.discharge if bpt else (), chosen.duration)
    start = profile.TimeAnchor - anchor  # s into the schedule
    for entry in profile.EVPowerProfileEntries.EVPowerProfileEntry:
        end = start + entry.Duration
        power = total(entry, "Power")  # AC: Power_L2/_L3 too; our schedules are totals
        if power < 0 and not (bpt and chosen.discharge):  # at no time, in or out of the span
            return Code.FAILED_EVPowerProfileInvalid, chosen.tuple_id
        for low, high, limit in charge if power > 0 else discharge:
            if low < end and start < high and abs(power) > limit:
                return Code.FAILED_EVPowerProfileInvalid, chosen.tuple_id
        start = end
    if scheduled.PowerToleranceAcceptance is m.powerToleranceAcceptanceType.PowerToleranceConfirmed:
        return Code.OK_PowerToleranceConfirmed, chosen.tuple_id
    return Code.OK, chosen.tuple_id


def limits_at(schedule: Schedule, at: int) -> tuple[float, float]:
    """(max charge W, max discharge W) ``at`` s into the schedule; nothing past its end."""
    if at >= schedule.duration:  # its last entry ends there, as in ``slots``
        return (0.0, 0.0)
    return (level_at(schedule.entries, at) or 0.0, level_at(schedule.discharge, at) or 0.0)
