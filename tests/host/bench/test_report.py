"""What `v2gate simulate` prints and its JSON, from host records as the station emits them."""

from __future__ import annotations

import io

import pytest

from firmware.app import faults, interlocks
from host.bench import report

pytestmark = pytest.mark.unit


def status(**kw: object) -> dict:
    base = {"event": "status", "cp": "C", "pilot": "pwm", "duty": 2666, "contactor": 1,
            "faults": 0, "latched": 0, "refused": 0, "safe_reason": 0, "limit_a": 16.0}
    return {**base, **kw}


def lines(printer: report.Printer) -> list[str]:
    assert isinstance(printer.out, io.StringIO)
    return printer.out.getvalue().splitlines()


def test_each_record_prints_as_it_is_fed() -> None:
    p = report.Printer(out=io.StringIO())
    p.feed({"t": 0.5, "event": "cp", "from": "A", "to": "B", "fw_ms": 1})
    assert lines(p)[-1].endswith("CP A -> B")
    p.feed({"t": 0.9, "event": "cp", "from": "B", "to": "C", "fw_ms": 2})
    assert lines(p)[-1].endswith("CP B -> C") and len(lines(p)) == 3  # header + 2


@pytest.mark.parametrize(("grid", "thermal", "want", "not_want"), [
    (False, False, [], ["freq", "voltage", "temp", "limit"]),
    (True, False, ["freq", "voltage"], ["temp"]),
    (False, True, ["temp", "limit"], ["freq"]),
])
def test_columns_only_where_they_matter(grid: bool, thermal: bool, want: list[str],
                                        not_want: list[str]) -> None:
    p = report.Printer(grid=grid, thermal=thermal, out=io.StringIO())
    p.feed({"t": 0.1, "event": "grid", "fw_ms": 1, "freq_hz": 49.9, "rocof_hz_s": 0.0,
            "v_rms": 231.0, "refused": [], "trip": "", "droop_w": 0, "phase_err_mrad": 0})
    p.feed({"t": 0.2, "event": "telemetry", "fw_ms": 2, "current_a": 0.0, "temp_c": 41.0,
            "cp_high_v": 9.0, "cp_low_v": -12.0})
    head = lines(p)[0].split()
    assert all(w in head for w in want) and not any(w in head for w in not_want)
    if grid:
        assert "49.900Hz" in lines(p)[1] and "231V" in lines(p)[1]
    if thermal:
        assert "41C" in lines(p)[-1]


def test_no_stale_current_after_the_contactor_moves_and_a_weld_shows_as_welded() -> None:
    p = report.Printer(out=io.StringIO())
    p.feed(status())
    p.feed({"t": 1.0, "event": "telemetry", "fw_ms": 10, "current_a": 16.0, "temp_c": 30.0,
            "cp_high_v": 6.0, "cp_low_v": -12.0})
    assert "16.0A" in lines(p)[-1]
    p.feed({"t": 2.0, "event": "contactor", "closed": False, "reason": interlocks.CP_NOT_READY,
            "fw_ms": 20})
    opened = lines(p)[-1]
    assert "contactor opened (cp-not-ready)" in opened
    assert "16.0A" not in opened and " open " in opened
    p.feed({"t": 2.1, "event": "fault", "code": 92, "fault": "F-092 contactor-weld",
            "detail_ms": 0, "fw_ms": 30})
    assert " welded " in lines(p)[-1] and "fault F-092 contactor-weld" in lines(p)[-1]
    # the coil is open (contactor 0) but the contacts are welded shut: still welded
    p.feed(status(contactor=0, latched=faults.CONTACTOR_WELD, refused=interlocks.FAULT))
    p.feed({"t": 3.0, "event": "cp", "from": "B", "to": "A", "fw_ms": 40})
    assert " welded " in lines(p)[-1]


def test_verdict_then_result_end_the_output() -> None:
    p = report.Printer(out=io.StringIO())
    p.finish({"result": "fail", "firmware_runtime": "cpython",
              "verdict": "contacts parted 170 ms after the sag, limit 160 ms"})
    assert lines(p)[-2:] == ["verdict: contacts parted 170 ms after the sag, limit 160 ms",
                             "result: fail  (firmware on cpython)"]


def test_json_names_words_and_codes_and_has_a_schema_version() -> None:
    records = [
        status(t=0.1, contactor=0, refused=interlocks.NO_LEASE | interlocks.CP_NOT_READY),
        {"t": 0.2, "event": "contactor", "closed": False, "reason": interlocks.FAULT, "fw_ms": 5},
        {"t": 0.3, "event": "fault", "code": 60, "fault": "F-060 grid-trip", "detail_ms": 10,
         "fw_ms": 6},
        {"t": 0.4, "event": "fault", "code": 10, "fault": "F-010 link-timeout", "detail_ms": 512,
         "fw_ms": 7},
        status(t=0.5, contactor=0, latched=faults.RCD_TRIP, faults=faults.RCD_TRIP,
               safe_reason=30, refused=interlocks.FAULT),
    ]
    summary = {"result": "pass", "faults": [{"t": 0.3, "code": 60, "fault": "F-060 grid-trip",
                                             "detail_ms": 10}],
               "fault_codes": [60], "contactor_events": [{"t": 0.2, "closed": False, "reason": 4}],
               "timeline": records}
    doc = report.to_json(summary, grid=False)
    assert doc["schema_version"] == report.SCHEMA_VERSION
    assert doc["faults_raised"] == ["F-060 grid-trip"] and "fault_codes" not in doc
    assert doc["faults"] == [{"t": 0.3, "fault": "F-060 grid-trip", "trip": "UV2"}]
    assert doc["contactor_events"] == [{"t": 0.2, "closed": False, "reason": "fault"}]
    events = doc["timeline"]
    assert [e["event"] for e in events] == ["contactor", "fault", "fault"]
    assert events[2]["safe_state_ms"] == 512 and "code" not in events[2]
    first, last = doc["status_changes"]
    assert first["refused"] == ["cp-not-ready", "no-lease"] and first["contactor"] == "open"
    assert last["latched"] == ["rcd-trip"] and last["safe_reason"] == "F-030 rcd-trip"
    assert first["duty_percent"] == 26.66 and "duty" not in first


def test_json_samples_are_decimated_and_rounded() -> None:
    steady = [{"t": 1 + i * 0.25, "event": "telemetry", "fw_ms": i, "current_a": 15.9 + (i % 2) * 0.01,
               "temp_c": 30.000000001, "cp_high_v": 6.0, "cp_low_v": -12.0} for i in range(500)]
    steady[250] = {**steady[250], "current_a": 8.123456}
    statuses = [status(t=1 + i * 0.1) for i in range(500)]
    doc = report.to_json({"result": "pass", "timeline": steady + statuses}, grid=False)
    currents = [s["current_a"] for s in doc["telemetry"]]
    assert currents == [15.9, 8.12, 15.91, 15.91]  # the changes and the last sample
    assert doc["samples_received"]["telemetry"] == 500
    assert len(doc["status_changes"]) == 2  # unchanged: the first and the last
    assert doc["telemetry"][0]["temp_c"] == 30.0


def test_nothing_is_shown_as_known_while_the_host_was_away() -> None:
    p = report.Printer(out=io.StringIO())
    p.feed(status())
    p.feed({"t": 1.0, "event": "telemetry", "fw_ms": 10, "current_a": 16.0, "temp_c": 30.0,
            "cp_high_v": 6.0, "cp_low_v": -12.0})
    p.feed({"t": 2.0, "event": "host-killed", "signal": "SIGKILL"})
    p.feed({"t": 3.0, "event": "link-up", "board": "sim", "proto": 1})
    p.feed({"t": 3.0, "event": "fault", "code": 10, "fault": "F-010 link-timeout",
            "detail_ms": 505, "fw_ms": 30})
    for line in lines(p)[-3:]:
        assert " closed " not in line and "16.0A" not in line, line
    assert "fault F-010 link-timeout (safe_state_ms 505)" in lines(p)[-1]
    p.feed(status(cp="F", pilot="F", contactor=0, faults=faults.LINK_TIMEOUT))
    p.feed({"t": 3.1, "event": "failsafe-found", "fault": "F-010 link-timeout"})
    assert lines(p)[-1].split()[1:4] == ["F", "F", "open"]


def test_each_contactors_wear_is_shown_and_kept_when_it_changes() -> None:
    """A DC board reports three contactors' wear in turn with every Telemetry: each is
    shown once until its own counters move, not again because another came between."""
    def wear(t: float, i: int, ops: int) -> dict:
        return {"t": t, "event": "wear", "fw_ms": int(t * 1000), "contactor": i,
                "operations": ops, "under_load": 0, "guard_ms": 0}

    records = [wear(1 + k, i, 1) for k in range(3) for i in range(3)] + [wear(4.5, 1, 2)]
    p = report.Printer(out=io.StringIO())
    for r in records:
        p.feed(r)
    shown = [line for line in lines(p) if "wear:" in line]
    assert [line.split("wear: ")[1].split(",")[0] for line in shown] == [
        "contactor 0", "contactor 1", "contactor 2", "contactor 1"]
    assert "operations 2" in shown[-1]
    doc = report.to_json({"result": "pass", "timeline": records}, grid=False)
    kept = [(s["contactor"], s["operations"], s["t"]) for s in doc["wear_changes"]]
    # each contactor's first report and its last (unchanged ones: the first and the last)
    assert kept == [(0, 1, 1), (1, 1, 1), (2, 1, 1), (0, 1, 3), (2, 1, 3), (1, 2, 4.5)]
