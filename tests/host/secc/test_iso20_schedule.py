"""The -20 SECC's check of the EV's power profile in scheduled mode (check_profile), one
test per rejection and per answer: ISO 15118-20 [V2G20-1559] (no entry exceeds the selected
tuple's charging/discharging schedule at any time), [V2G20-1861] (the profile's TimeAnchor is
when its first entry starts), [V2G20-478] / FAILED_EVPowerProfileInvalid, an unoffered tuple
FAILED_ScheduleSelectionInvalid, [V2G20-1070] (anything else is accepted) and [V2G20-1944]
(a confirmed PowerTolerance: OK_PowerToleranceConfirmed)."""

from __future__ import annotations

from typing import Any

from host.exi.schemas import iso20_common_messages as m
from host.secc.controller import Schedule
from host.secc.iso20_schedule import check_profile
from host.secc.iso20_values import rational

ANCHOR = 1_800_000_000  # the TimeAnchor of the schedules the SECC offered
# 20 kW for a minute, then 5 kW; discharge up to 8 kW
FALLING = Schedule(1, ((0, 20_000.0), (60, 5_000.0)), duration=3600,
                   discharge=((0, 8_000.0),))  # fmt: skip
Tolerance = m.powerToleranceAcceptanceType


def profile(*entries: tuple[int, float], anchor: int = ANCHOR, tuple_id: int = 1,
            tolerance: Any = None, phases: int = 1) -> m.EVPowerProfileType:  # fmt: skip
    def entry(duration: int, watts: float) -> m.PowerScheduleEntryType:
        share = rational(watts / phases)
        extra = {"Power_L2": share, "Power_L3": share} if phases == 3 else {}
        return m.PowerScheduleEntryType(Duration=duration, Power=share, **extra)

    return m.EVPowerProfileType(
        TimeAnchor=anchor, Scheduled_EVPPTControlMode=m.Scheduled_EVPPTControlModeType(
            SelectedScheduleTupleID=tuple_id, PowerToleranceAcceptance=tolerance),
        EVPowerProfileEntries=m.EVPowerProfileEntryListType(EVPowerProfileEntry=[
            entry(d, w) for d, w in entries]))


def code(p: m.EVPowerProfileType | None, bpt: bool = True,
         schedules: tuple[Schedule, ...] = (FALLING,)) -> str:  # fmt: skip
    return check_profile(p, list(schedules), bpt, ANCHOR)[0].value


def test_a_profile_inside_the_schedule_is_accepted_with_its_tuple():
    assert check_profile(profile((60, 20_000.0), (3540, 5_000.0)), [FALLING], True, ANCHOR) \
        == (m.responseCodeType.OK, 1)
    # charge, then discharge within the DischargingSchedule, then idle
    assert code(profile((30, 15_000.0), (30, -8_000.0), (100, 0.0))) == "OK"


def test_no_profile_or_a_dynamic_one_is_invalid():
    assert code(None) == "FAILED_EVPowerProfileInvalid"
    dynamic = m.EVPowerProfileType(
        TimeAnchor=ANCHOR, Dynamic_EVPPTControlMode=m.Dynamic_EVPPTControlModeType(),
        EVPowerProfileEntries=m.EVPowerProfileEntryListType(EVPowerProfileEntry=[
            m.PowerScheduleEntryType(Duration=60, Power=rational(1_000.0))]))
    assert code(dynamic) == "FAILED_EVPowerProfileInvalid"


def test_a_tuple_never_offered():
    assert code(profile((60, 1_000.0), tuple_id=2)) == "FAILED_ScheduleSelectionInvalid"


def test_an_entry_that_runs_into_a_lower_slot():
    # starts within the first minute's 20 kW, but covers the 5 kW slot after it
    assert code(profile((120, 20_000.0))) == "FAILED_EVPowerProfileInvalid"
    assert code(profile((60, 20_000.0), (60, 5_001.0))) == "FAILED_EVPowerProfileInvalid"


def test_the_profile_is_placed_by_its_time_anchor():
    # 20 kW from 50 s into the schedule for 20 s: its last 10 s are in the 5 kW slot
    assert code(profile((20, 20_000.0), anchor=ANCHOR + 50)) == "FAILED_EVPowerProfileInvalid"
    # the same entry an hour before the schedule bounds nothing ([V2G20-1559] speaks of the
    # schedule's boundaries); so does one past its end
    assert code(profile((20, 20_000.0), anchor=ANCHOR - 3600)) == "OK"
    assert code(profile((20, 50_000.0), anchor=ANCHOR + 3600)) == "OK"
    # TimeAnchor 0 (the iso15118 package's EV sends it): the profile ended in 1970
    assert code(profile((3600, 50_000.0), anchor=0)) == "OK"
    # one that began before the schedule and runs into it is checked where it overlaps
    assert code(profile((3600, 5_000.0), anchor=ANCHOR - 40)) == "OK"
    assert code(profile((3600, 10_000.0), anchor=ANCHOR - 40)) == "FAILED_EVPowerProfileInvalid"


def test_more_than_the_charging_schedule():
    assert code(profile((60, 20_001.0))) == "FAILED_EVPowerProfileInvalid"


def test_more_discharge_than_the_discharging_schedule():
    assert code(profile((60, -8_001.0))) == "FAILED_EVPowerProfileInvalid"


def test_discharge_without_bpt_or_without_a_discharging_schedule():
    assert code(profile((60, -1_000.0)), bpt=False) == "FAILED_EVPowerProfileInvalid"
    charge_only = Schedule(1, ((0, 20_000.0),), duration=3600)
    assert code(profile((60, -1_000.0)), schedules=(charge_only,)) == \
        "FAILED_EVPowerProfileInvalid"


def test_before_the_first_entry_nothing_is_allowed():
    # discharge only from the tenth minute on
    later = Schedule(1, ((0, 20_000.0),), duration=3600, discharge=((600, 8_000.0),))
    assert code(profile((600, -1_000.0)), schedules=(later,)) == "FAILED_EVPowerProfileInvalid"
    assert code(profile((600, 1_000.0), (600, -8_000.0)), schedules=(later,)) == "OK"


def test_ac_per_phase_entries_count_as_their_sum():
    assert code(profile((60, 19_800.0), phases=3)) == "OK"
    assert code(profile((60, 21_000.0), phases=3)) == "FAILED_EVPowerProfileInvalid"


def test_power_tolerance_acceptance():
    inside = ((60, 10_000.0),)
    assert code(profile(*inside, tolerance=Tolerance.PowerToleranceConfirmed)) == \
        "OK_PowerToleranceConfirmed"
    # we offer no PowerTolerance: declining one neither stops nor renegotiates
    assert code(profile(*inside, tolerance=Tolerance.PowerToleranceNotConfirmed)) == "OK"
    assert code(profile(*inside)) == "OK"  # optional (minOccurs=0)
    # a confirmed tolerance does not excuse a profile beyond the schedule
    assert code(profile((60, 30_000.0), tolerance=Tolerance.PowerToleranceConfirmed)) == \
        "FAILED_EVPowerProfileInvalid"


def test_a_profile_that_repeats_the_sent_schedule_is_accepted():
    # 22170.6 W (32 A on three 230.9 V phases) goes out as 22171 W and 7777.7 W as 7778 W
    # (a short holds no more digits): an EV taking exactly the powers it was sent must not
    # be refused for the rounding
    from host.secc.iso20_schedule import schedule_tuple

    odd = Schedule(1, ((0, 22_170.6), (60, 7_777.7)), duration=3600, discharge=((0, 7_777.7),))
    sent = schedule_tuple(odd, 12, ANCHOR, True)
    for schedule in (sent.ChargingSchedule, sent.DischargingSchedule):
        entries = schedule.PowerSchedule.PowerScheduleEntries.PowerScheduleEntry
        repeated = profile(anchor=schedule.PowerSchedule.TimeAnchor)
        repeated.EVPowerProfileEntries.EVPowerProfileEntry = entries
        assert code(repeated, schedules=(odd,)) == "OK"
    # what exceeds the sent value by one step of its exponent still does not pass
    assert code(profile((60, 22_180.0)), schedules=(odd,)) == "FAILED_EVPowerProfileInvalid"


def test_no_discharge_without_bpt_even_outside_the_schedule():
    # outside the schedule's span the schedule bounds nothing, but a session without BPT
    # (or a tuple without a DischargingSchedule) allows no discharge at any time
    past_the_end = ANCHOR + 3600
    assert code(profile((60, -1_000.0), anchor=past_the_end), bpt=False) == \
        "FAILED_EVPowerProfileInvalid"
    assert code(profile((60, -1_000.0), anchor=ANCHOR - 600), bpt=False) == \
        "FAILED_EVPowerProfileInvalid"
    charge_only = Schedule(1, ((0, 20_000.0),), duration=3600)
    assert code(profile((60, -1_000.0), anchor=past_the_end), schedules=(charge_only,)) == \
        "FAILED_EVPowerProfileInvalid"
    # with BPT and a DischargingSchedule it is as for charging: nothing bounds it there
    assert code(profile((60, -50_000.0), anchor=past_the_end)) == "OK"


def test_the_loop_limits_end_with_the_schedule():
    # the last entry runs to `duration` exclusive, as check_profile's slots do: a second
    # later than that the schedule allows nothing
    from host.secc.iso20_schedule import limits_at

    assert limits_at(FALLING, 59) == (20_000.0, 8_000.0)
    assert limits_at(FALLING, 60) == (5_000.0, 8_000.0)
    assert limits_at(FALLING, 3599) == (5_000.0, 8_000.0)
    assert limits_at(FALLING, 3600) == (0.0, 0.0)
    assert limits_at(FALLING, -1) == (0.0, 0.0)
