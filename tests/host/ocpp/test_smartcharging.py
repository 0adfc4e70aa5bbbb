"""Smart charging with fake time: stacking, purposes, recurrence across midnight and week
boundaries, A/W conversion, validity edges, V2X limits, and refusals with their reasons."""

from __future__ import annotations

import calendar
import json
from pathlib import Path

import pytest

from host.ocpp import rpc
from host.ocpp.smartcharging import EvseSupply, Rejected, SmartCharging
from host.ocpp.store import iso_time, open_db

T0 = 1_800_000_000.0  # Fri 2027-01-15T08:00:00Z
RATING = 22000.0


def utc(*ymdhms: int) -> float:
    return float(calendar.timegm((*ymdhms, 0, 0, 0)[:6]))


def make(tmp_path: Path) -> SmartCharging:
    supply = EvseSupply(RATING)
    return SmartCharging(open_db(tmp_path / "sc.db"), {1: supply, 2: supply}, max_stack_level=10)


def profile(pid: int, purpose: str, periods: list[tuple[int, float]], *, kind: str = "Absolute",
            start: float | None = T0, stack: int = 0, unit: str = "W", duration: int | None = None,
            **extra) -> dict:  # fmt: skip
    schedule: dict = {"id": pid, "chargingRateUnit": unit,
                      "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in periods]}  # fmt: skip
    if start is not None and kind != "Relative":
        schedule["startSchedule"] = iso_time(start)
    if duration is not None:
        schedule["duration"] = duration
    return {"id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind, "chargingSchedule": [schedule], **extra}  # fmt: skip


def limit(sc: SmartCharging, evse: int, t: float) -> float:
    return sc.limit_at(evse, t)[0].limit


def test_higher_stack_level_wins_where_it_has_a_period(tmp_path: Path) -> None:
    sc = make(tmp_path)
    sc.set_profile(1, profile(1, "TxDefaultProfile", [(0, 11000)], start=T0 - 86400))
    sc.set_profile(1, profile(2, "TxDefaultProfile", [(0, 5000)], stack=1, duration=3600))
    got = [(c.start - T0, c.end - T0, c.level.limit) for c in sc.composite(1, T0 - 600, 7800)]
    assert got == [(-600, 0, 11000), (0, 3600, 5000), (3600, 7200, 11000)]
    assert sc.limit_at(1, T0 + 10) == (sc.composite(1, T0, 1)[0].level, T0 + 3600)  # expiry
    assert limit(sc, 2, T0 + 10) == RATING  # EVSE 1's profiles are not EVSE 2's


def test_tx_profile_overrides_tx_default_at_any_level_and_station_max_caps(tmp_path: Path) -> None:
    sc = make(tmp_path)
    sc.set_profile(0, profile(1, "TxDefaultProfile", [(0, 4000)], stack=5))  # station-wide
    assert limit(sc, 1, T0) == 4000 and limit(sc, 2, T0) == 4000
    sc.tx_started(1, "tx1", T0)
    sc.set_profile(1, profile(2, "TxProfile", [(0, 8000)], transactionId="tx1", duration=600))
    assert limit(sc, 1, T0 + 1) == 8000  # overrides the default although its level is lower
    assert limit(sc, 1, T0 + 600) == 4000  # after its duration the default shows through
    assert limit(sc, 2, T0 + 1) == 4000
    sc.set_profile(0, profile(3, "ChargingStationMaxProfile", [(0, 6000)]))
    assert limit(sc, 1, T0 + 1) == 6000 and limit(sc, 2, T0 + 1) == 4000
    sc.tx_ended("tx1")
    assert limit(sc, 1, T0 + 1) == 4000
    assert [p.id for p in sc.profiles()] == [1, 3]  # the TxProfile went with its transaction


def test_external_constraints_are_local_and_minimum(tmp_path: Path) -> None:
    sc = make(tmp_path)
    ext = profile(9, "ChargingStationExternalConstraints", [(0, 2500)])
    with pytest.raises(Rejected) as e:
        sc.set_profile(1, ext)  # from the CSMS
    assert e.value.reason == "InvalidProfileType"
    sc.set_profile(1, ext, source="EMS")
    sc.set_profile(1, profile(1, "TxDefaultProfile", [(0, 9000)]))
    assert limit(sc, 1, T0) == 2500
    assert sc.clear(None, purpose="ChargingStationExternalConstraints") is False
    with pytest.raises(Rejected) as e:  # K01.FR.05: the EMS's id is not the CSMS's to replace
        sc.set_profile(1, profile(9, "TxDefaultProfile", [(0, 1000)], stack=3))
    assert e.value.reason == "InvalidProfileId"


def test_daily_recurrence_across_midnight(tmp_path: Path) -> None:
    sc = make(tmp_path)
    # 22:00-02:00 cheap-grid night limit 2 kW, then 7 kW, every day since Jan 14
    sc.set_profile(1, profile(1, "TxDefaultProfile", [(0, 2000), (4 * 3600, 7000)],
                              kind="Recurring", start=utc(2027, 1, 14, 22), recurrencyKind="Daily"))  # fmt: skip
    assert limit(sc, 1, utc(2027, 1, 14, 21, 59)) == RATING  # before the first occurrence
    assert limit(sc, 1, utc(2027, 1, 15, 23, 30)) == 2000
    assert limit(sc, 1, utc(2027, 1, 16, 1, 59)) == 2000
    assert limit(sc, 1, utc(2027, 1, 16, 2, 0)) == 7000
    assert limit(sc, 1, utc(2027, 1, 16, 21, 59)) == 7000
    level, expiry = sc.limit_at(1, utc(2027, 1, 20, 23, 30))
    assert (level.limit, expiry) == (2000, utc(2027, 1, 21, 2))


def test_weekly_recurrence_across_the_week_boundary(tmp_path: Path) -> None:
    sc = make(tmp_path)
    # Sunday 20:00 for 10 h: 1 kW until Monday 04:00, then 5 kW until 06:00, then nothing
    sc.set_profile(1, profile(1, "TxDefaultProfile", [(0, 1000), (8 * 3600, 5000)],
                              kind="Recurring", start=utc(2027, 1, 17, 20), duration=10 * 3600,
                              recurrencyKind="Weekly"))  # fmt: skip
    assert limit(sc, 1, utc(2027, 1, 24, 19, 59)) == RATING
    assert limit(sc, 1, utc(2027, 1, 24, 21)) == 1000
    assert limit(sc, 1, utc(2027, 1, 25, 5)) == 5000
    assert limit(sc, 1, utc(2027, 1, 25, 7)) == RATING
    assert limit(sc, 1, utc(2027, 1, 20, 21)) == RATING  # a Wednesday


def test_relative_profile_starts_with_the_transaction(tmp_path: Path) -> None:
    sc = make(tmp_path)
    sc.set_profile(0, profile(1, "TxDefaultProfile", [(0, 3000), (600, 6000)], kind="Relative"))
    sc.tx_started(1, "tx1", T0 + 100)
    assert limit(sc, 1, T0 + 650) == 3000
    assert limit(sc, 1, T0 + 700) == 6000
    assert limit(sc, 2, T0 + 650) == 3000  # no transaction on 2: the first period holds
    assert sc.limit_at(2, T0 + 650)[1] is None  # ... without expiry, until one starts
    assert sc.limit_at(1, T0 + 650)[1] == T0 + 700
    shape = [(c.start - T0, c.level.limit) for c in sc.composite(2, T0, 1200)]
    assert shape == [(0, 3000), (600, 6000)]  # GetCompositeSchedule: as if it started now


def test_amps_and_watts_convert_with_phases_and_voltage(tmp_path: Path) -> None:
    sc = make(tmp_path)
    tx_default = profile(1, "TxDefaultProfile", [(0, 16)], unit="A")
    tx_default["chargingSchedule"][0]["chargingSchedulePeriod"][0]["numberPhases"] = 1
    sc.set_profile(1, tx_default)
    assert limit(sc, 1, T0) == 16 * 230  # one phase
    body = sc.composite_json(1, T0, 60, "A", "2.0.1")
    assert body["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16.0, "numberPhases": 1}]
    sc.clear(1)
    sc.set_profile(1, profile(2, "TxDefaultProfile", [(0, 16)], unit="A"))  # 3 phases: 11040 W
    sc.set_profile(0, profile(3, "ChargingStationMaxProfile", [(0, 7360)]))
    assert limit(sc, 1, T0) == 7360
    body = sc.composite_json(1, T0, 60, "A", "2.0.1")
    assert body["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 10.7, "numberPhases": 3}]
    assert rpc.schema_error(rpc.CALLRESULT, "GetCompositeSchedule",
                            {"status": "Accepted", "schedule": body}, "2.0.1") is None  # fmt: skip


def test_validity_window_is_half_open(tmp_path: Path) -> None:
    sc = make(tmp_path)
    sc.set_profile(1, profile(1, "TxDefaultProfile", [(0, 1000)], validFrom=iso_time(T0 + 100),
                              validTo=iso_time(T0 + 200)))  # fmt: skip
    assert limit(sc, 1, T0 + 99.999) == RATING
    assert limit(sc, 1, T0 + 100) == 1000
    assert limit(sc, 1, T0 + 199.999) == 1000
    assert limit(sc, 1, T0 + 200) == RATING
    # the same level on the same EVSE is fine when the windows do not overlap (K01.FR.06)
    sc.set_profile(1, profile(2, "TxDefaultProfile", [(0, 2000)], validFrom=iso_time(T0 + 200)))
    assert limit(sc, 1, T0 + 200) == 2000


def _periods(p: dict) -> list[dict]:
    return p["chargingSchedule"][0]["chargingSchedulePeriod"]


BAD = [  # (evse, profile change, reasonCode)
    (1, lambda p: _periods(p).__setitem__(0, {"startPeriod": 5, "limit": 1}), "InvalidSchedule"),
    (1, lambda p: _periods(p).append({"startPeriod": 0, "limit": 1}), "InvalidSchedule"),
    (1, lambda p: p.update(chargingProfileKind="Relative"), "InvalidSchedule"),
    (1, lambda p: p["chargingSchedule"][0].pop("startSchedule"), "InvalidSchedule"),
    (1, lambda p: p.update(chargingProfileKind="Recurring"), "InvalidSchedule"),
    (1, lambda p: p.update(chargingProfilePurpose="ChargingStationMaxProfile"), "InvalidEvseId"),
    (1, lambda p: p.update(chargingProfilePurpose="TxProfile"), "TxNotFound"),
    (1, lambda p: p.update(chargingProfilePurpose="TxProfile", transactionId="other"), "TxNotFound"),
    (0, lambda p: p.update(chargingProfilePurpose="TxProfile", transactionId="tx1"), "InvalidEvseId"),
    (3, lambda p: None, "UnknownEVSE"),
    (1, lambda p: _periods(p)[0].update(limit=-1), "InvalidValue"),
    (1, lambda p: _periods(p)[0].update(numberPhases=1, phaseToUse=2), "UnsupportedParam"),
    (1, lambda p: p.update(stackLevel=11), "InvalidStackLevel"),
    (1, lambda p: p.update(stackLevel=2), "DuplicateProfile"),  # overlaps profile 50
    (1, lambda p: p.update(validFrom=iso_time(T0), validTo=iso_time(T0)), "InvalidValidity"),
    (1, lambda p: p["chargingSchedule"].append(dict(p["chargingSchedule"][0], id=2)), "UnsupportedParam"),
    # OCPP 2.1 V2X
    (1, lambda p: _periods(p)[0].update(dischargeLimit=100), "InvalidValue"),
    (1, lambda p: _periods(p)[0].update(operationMode="CentralSetpoint"), "InvalidSchedule"),
    (1, lambda p: p["chargingSchedule"][0].update(chargingSchedulePeriod=[{"startPeriod": 0}]),
     "InvalidSchedule"),  # ChargingOnly without a limit
    (0, lambda p: (p.update(chargingProfilePurpose="ChargingStationMaxProfile"),
                   _periods(p)[0].update(operationMode="CentralSetpoint", setpoint=5)),
     "InvalidOperationMode"),
    (1, lambda p: p.update(chargingProfilePurpose="PriorityCharging"), "UnsupportedPurpose"),
]  # fmt: skip


@pytest.mark.parametrize("evse,change,reason", BAD)
def test_invalid_profiles_are_rejected_with_a_reason(tmp_path: Path, evse, change, reason) -> None:
    sc = make(tmp_path)
    sc.tx_started(1, "tx1", T0)
    sc.set_profile(1, profile(50, "TxDefaultProfile", [(0, 1000)], stack=2))
    p = profile(1, "TxDefaultProfile", [(0, 1000)], stack=1)
    change(p)
    with pytest.raises(Rejected) as e:
        sc.set_profile(evse, p)
    assert e.value.reason == reason
    assert len(e.value.reason) <= 20  # StatusInfoType.reasonCode
    assert [q.id for q in sc.profiles()] == [50]


def test_same_id_replaces_and_profiles_survive_a_restart(tmp_path: Path) -> None:
    sc = make(tmp_path)
    sc.set_profile(1, profile(1, "TxDefaultProfile", [(0, 5000)]))
    sc.set_profile(1, profile(1, "TxDefaultProfile", [(0, 3000)]))  # K01.FR.05
    sc.tx_started(1, "tx1", T0)
    again = make(tmp_path)
    assert [p.id for p in again.profiles()] == [1]
    assert limit(again, 1, T0) == 3000
    assert again.transaction(1) == ("tx1", T0)


def test_clear_by_id_and_by_criteria(tmp_path: Path) -> None:
    sc = make(tmp_path)
    sc.set_profile(1, profile(1, "TxDefaultProfile", [(0, 5000)]))
    sc.set_profile(2, profile(2, "TxDefaultProfile", [(0, 5000)]))
    sc.set_profile(0, profile(3, "ChargingStationMaxProfile", [(0, 5000)], stack=4))
    assert sc.clear(99) is False
    assert sc.clear(None, purpose="TxProfile") is False
    assert sc.clear(None, evse_id=2) is True
    assert [p.id for p in sc.profiles()] == [1, 3]
    assert sc.clear(None, purpose="ChargingStationMaxProfile", stack_level=4) is True
    assert sc.clear(1, evse_id=7) is True  # the id alone decides (K10)
    assert sc.profiles() == []


def test_v2x_setpoint_and_discharge_limits_carry_through(tmp_path: Path) -> None:
    sc = make(tmp_path)
    sc.tx_started(1, "tx1", T0)
    tx = profile(1, "TxProfile", [(0, 11000)], transactionId="tx1")
    _periods(tx)[0].update(operationMode="CentralSetpoint", setpoint=-9000, dischargeLimit=-7000)
    _periods(tx).append({"startPeriod": 600, "operationMode": "Idle"})
    sc.set_profile(1, tx)
    level = sc.limit_at(1, T0)[0]
    assert (level.operation_mode, level.discharge_limit, level.setpoint) == ("CentralSetpoint", -7000, -7000)
    ext = profile(2, "ChargingStationExternalConstraints", [(0, 4000)])
    _periods(ext)[0].update(operationMode="ExternalLimits", dischargeLimit=-3000)
    sc.set_profile(1, ext, source="EMS")
    level = sc.limit_at(1, T0)[0]
    assert (level.limit, level.discharge_limit, level.setpoint) == (4000, -3000, -3000)
    assert (sc.limit_at(1, T0 + 600)[0].limit, sc.limit_at(1, T0 + 600)[0].discharge_limit) == (0, 0)
    body = sc.composite_json(1, T0, 1200, "W", "2.1")
    assert body["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 4000, "numberPhases": 3, "operationMode": "CentralSetpoint",
         "dischargeLimit": -3000, "setpoint": -3000},
        {"startPeriod": 600, "limit": 0, "numberPhases": 3, "operationMode": "Idle"},
    ]  # fmt: skip
    assert rpc.schema_error(rpc.CALLRESULT, "GetCompositeSchedule",
                            {"status": "Accepted", "schedule": body}, "2.1") is None  # fmt: skip
    sc.tx_ended("tx1")  # back to charging only: no discharge at all
    assert sc.limit_at(1, T0)[0].discharge_limit == 0


def test_the_device_model_tells_the_csms_what_is_accepted(tmp_path: Path) -> None:
    from host.ocpp.devmodel import DeviceModel
    from host.ocpp.variables import station_variables

    db = open_db(tmp_path / "dm.db")
    dm = DeviceModel(db, station_variables())
    sc = SmartCharging(db, {1: EvseSupply(RATING)})
    most = dm.integer("SmartChargingCtrlr", "PeriodsPerSchedule")
    periods = [(60 * n, 1000.0) for n in range(most + 1)]
    with pytest.raises(Rejected) as e:
        sc.set_profile(1, profile(1, "TxDefaultProfile", periods))
    assert e.value.reason == "TooManyPeriods"
    sc.set_profile(1, profile(1, "TxDefaultProfile", periods[:most],
                              stack=dm.integer("SmartChargingCtrlr", "ProfileStackLevel")))  # fmt: skip
    assert dm.value("SmartChargingCtrlr", "ChargingScheduleChargingRateUnit") == "A,W"


# --- a property: the sweep over segment boundaries agrees with evaluating each instant ---

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st_  # noqa: E402


def _value_at(p: dict, t: float) -> float | None:
    """One profile's limit at t, read straight off its periods (no segments)."""
    s = p["chargingSchedule"][0]
    start = T0 + s["startSchedule_offset"]
    if p["chargingProfileKind"] == "Recurring":
        every = 86400 if p["recurrencyKind"] == "Daily" else 7 * 86400
        if t < start:
            return None
        start += (t - start) // every * every
        if t - start >= min(s.get("duration", every), every):
            return None
    elif t < start or ("duration" in s and t - start >= s["duration"]):
        return None
    current = None
    for period in s["chargingSchedulePeriod"]:
        if period["startPeriod"] <= t - start:
            current = period["limit"]
    return current


@st_.composite
def _profiles(draw) -> list[tuple[int, dict]]:
    out = []
    for pid in range(1, draw(st_.integers(1, 5)) + 1):
        purpose = draw(st_.sampled_from(["TxDefaultProfile", "ChargingStationMaxProfile"]))
        starts = sorted(draw(st_.sets(st_.integers(1, 20000), max_size=3)))
        periods = [(s, float(draw(st_.integers(0, 30)) * 1000)) for s in [0, *starts]]
        recurring = draw(st_.sampled_from([None, "Daily", "Weekly"]))
        offset = draw(st_.integers(-3 * 86400, 86400))
        duration = draw(st_.none() | st_.integers(1, 100000))
        p = profile(pid, purpose, periods, kind="Recurring" if recurring else "Absolute",
                    start=T0 + offset, stack=pid, duration=duration)  # fmt: skip
        if recurring:
            p["recurrencyKind"] = recurring
        p["chargingSchedule"][0]["startSchedule_offset"] = offset
        out.append((0 if purpose == "ChargingStationMaxProfile" else 1, p))
    return out


@settings(max_examples=60, deadline=None)
@given(_profiles(), st_.lists(st_.integers(-86400, 8 * 86400 - 1), min_size=1, max_size=8))
def test_composite_matches_pointwise_evaluation(tmp_path_factory, profiles, instants) -> None:
    sc = make(tmp_path_factory.mktemp("prop"))
    for evse, p in profiles:
        body = json.loads(json.dumps(p))
        body["chargingSchedule"][0].pop("startSchedule_offset")
        sc.set_profile(evse, body)
    window = sc.composite(1, T0 - 86400, 9 * 86400)
    assert window[0].start == T0 - 86400 and window[-1].end == T0 + 8 * 86400
    assert all(a.end == b.start for a, b in zip(window, window[1:], strict=False))
    for offset in instants:
        t = T0 + offset
        layers = []
        for purpose in ("ChargingStationMaxProfile", "TxDefaultProfile"):
            found = [(p["stackLevel"], v) for _, p in profiles
                     if p["chargingProfilePurpose"] == purpose and (v := _value_at(p, t)) is not None]  # fmt: skip
            if found:
                layers.append(max(found)[1])
        expected = min([RATING, *layers])
        got = next(c.level.limit for c in window if c.start <= t < c.end)
        assert got == expected, (offset, profiles)
