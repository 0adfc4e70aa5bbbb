"""NotifyDERAlarm from GridStatus / Fault (one alarm per trip, alarmEnded when back in
service, schema-valid) and the OCPP-01 drift log (hysteresis and hold: a noisy frequency
at the threshold logs one entry, not a flood)."""

from __future__ import annotations

import logging
import random

import pytest

from firmware.app import faults
from firmware.app import gridfunc as gf
from firmware.link import messages as m
from host.ocpp import rpc
from host.ocpp.deralarm import DerAlarms

T0 = 1_800_000_000.0


def status(freq_mhz: int = 50000, trip: int = 0, rocof: int = 0) -> m.GridStatus:
    return m.GridStatus(freq_mhz=freq_mhz, rocof_mhz_s=rocof, v_rms_mv=230000, flags=0, refused=0,
                        trip=trip, droop_w=0, phase_err_mrad=0, at_ms=0)  # fmt: skip


def alarms(a: DerAlarms) -> list[dict]:
    out = []
    for action, payload in a.take_calls():
        assert action == "NotifyDERAlarm"
        assert rpc.schema_error(rpc.CALL, action, payload, "2.1") is None, payload
        out.append(payload)
    return out


def test_a_trip_is_one_alarm_and_its_end_another() -> None:
    a = DerAlarms(50)
    a.grid_status(status(trip=gf.LOSS), T0)  # the guard starts tripped: no alarm at boot
    assert alarms(a) == []
    for n in range(10):
        a.grid_status(status(), T0 + n)
    for n in range(100):  # tripped for 100 reports: still one alarm
        a.grid_status(status(52100, trip=gf.OF2), T0 + 10 + n * 0.1)
    got = alarms(a)
    assert [(x["controlType"], x["gridEventFault"], x.get("alarmEnded")) for x in got] == [
        ("HFMustTrip", "OverFrequency", None)]
    assert got[0]["extraInfo"] == "OF2"
    a.fault(m.Fault(code=faults.GRID_TRIP, active=0, latched=0, detail_ms=gf.OF2, at_ms=0), T0 + 20)
    assert alarms(a) == []  # the same trip, reported by its Fault too
    a.grid_status(status(trip=gf.UV1), T0 + 30)  # another trip: the first ends first
    got = alarms(a)
    assert [(x["controlType"], x.get("alarmEnded")) for x in got] == [
        ("HFMustTrip", True), ("LVMustTrip", None)]
    a.grid_status(status(), T0 + 40)
    assert [(x["controlType"], x["gridEventFault"], x.get("alarmEnded")) for x in alarms(a)] == [
        ("LVMustTrip", "UnderVoltage", True)]


def test_a_must_trip_while_exporting_from_the_fault() -> None:
    a = DerAlarms(60)
    a.grid_status(status(60000), T0)
    a.fault(m.Fault(code=faults.GRID_TRIP, active=faults.GRID_TRIP, latched=0, detail_ms=gf.OV2,
                    at_ms=0), T0 + 1)  # fmt: skip
    got = alarms(a)
    assert [(x["controlType"], x["gridEventFault"]) for x in got] == [("HVMustTrip", "OverVoltage")]
    assert "while exporting" in got[0]["extraInfo"]


def test_a_noisy_frequency_at_the_threshold_logs_ocpp_01_once(caplog: pytest.LogCaptureFixture) -> None:
    """50.1 Hz +/- 30 mHz of noise for ten minutes at 10 reports/s: the deviation crosses
    0.1 Hz about every other sample; without the hold and the band that would be hundreds
    of entries."""
    rng = random.Random(7)
    a = DerAlarms(50)
    caplog.set_level(logging.INFO, logger="v2gate.ocpp.der")
    crossings = 0
    above = False
    for n in range(6000):
        f = 50100 + round(rng.gauss(0, 15)) + (40 if n > 1000 else 0)  # drifts on after 100 s
        crossings += (f - 50000 > 100) != above
        above = f - 50000 > 100
        a.grid_status(status(f), T0 + n / 10)
    for n in range(3000):  # back near nominal, still noisy
        a.grid_status(status(50000 + round(rng.gauss(0, 15))), T0 + 600 + n / 10)
    assert crossings > 100  # the series is as noisy as it says
    entries = [r for r in caplog.records if r.getMessage().startswith("OCPP-01:")]
    cleared = [r for r in caplog.records if r.getMessage().startswith("OCPP-01 cleared")]
    assert (len(entries), len(cleared), a.drift_entries) == (1, 1, 1)
    assert entries[0].levelno == logging.WARNING
    assert alarms(a) == []  # a local log, not a DER alarm


def test_a_short_excursion_is_not_a_drift() -> None:
    a = DerAlarms(50, hold_s=5.0)
    for n in range(40):  # 4 s beyond 0.1 Hz
        a.grid_status(status(50200), T0 + n / 10)
    a.grid_status(status(50000), T0 + 4.0)
    assert not a.drifting and a.drift_entries == 0
    for n in range(60):
        a.grid_status(status(49850), T0 + 10 + n / 10)
    assert a.drifting and a.drift_entries == 1


def test_fed_with_link_events() -> None:
    from host.link.events import FirmwareReported, LinkDown

    a = DerAlarms(50)
    a.link_event(LinkDown("unplugged"), T0)  # not a report: ignored
    a.link_event(FirmwareReported(1, status()), T0)
    a.link_event(FirmwareReported(2, status(trip=gf.UF1)), T0 + 1)
    a.link_event(FirmwareReported(3, m.Fault(code=faults.GRID_TRIP, active=0, latched=0,
                                             detail_ms=gf.OV1, at_ms=0)), T0 + 2)  # fmt: skip
    assert [(x["controlType"], x.get("alarmEnded")) for x in alarms(a)] == [
        ("LFMustTrip", None), ("LFMustTrip", True), ("HVMustTrip", None)]
