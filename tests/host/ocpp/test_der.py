"""OCPP 2.1 DER control: the mapping to the firmware's SetConfig keys (units, ranges of
adjustability, refusals with a reason), the commands taken by the real firmware
controller one by one, priorities / defaults / schedules, persistence across a restart,
and the machine's routes with schema-valid payloads both ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware.link import messages as m
from host.ocpp import der_map, rpc
from host.ocpp.der import DerControls, attach, tick
from host.ocpp.der_map import Grid, Refused
from host.ocpp.store import iso_time, open_db
from tests.firmware.app.test_controller_grid import GridBench

from .helpers import T0, accepted, answer, sent

GRID60 = Grid(f_nom=60, category="II")
GRID50 = Grid(f_nom=50, category="II")


class Sink:
    """The station's link: each SetConfig goes to a real firmware controller, which must
    take it (configure_grid returns its Nack reason)."""

    def __init__(self, f_nom: int = 50) -> None:
        self.bench = GridBench(f_nom=f_nom)
        self.sent: list[tuple[int, int]] = []

    def set_config(self, key: int, value: int) -> None:
        assert self.bench.c.configure_grid(key, value) == 0, (m.CONFIG_KEYS[key][0], value)
        self.sent.append((key, value))


def curve(points: list[tuple[float, float]], unit: str = "Not_Applicable", priority: int = 1,
          **extra) -> dict:  # fmt: skip
    return {"priority": priority, "yUnit": unit, "curveData": [{"x": x, "y": y} for x, y in points],
            **extra}  # fmt: skip


def droop(over: float = 50.1, under: float = 49.9, k: float = 0.04, t: float = 2.0,
          priority: int = 1, **extra) -> dict:  # fmt: skip
    return {"priority": priority, "overFreq": over, "underFreq": under, "overDroop": k,
            "underDroop": k, "responseTime": t, **extra}  # fmt: skip


def set_req(cid: str, ctype: str, setting: dict, is_default: bool = True) -> dict:
    req = {"controlId": cid, "controlType": ctype, "isDefault": is_default,
           der_map.FIELD_OF.get(ctype, "curve"): setting}  # fmt: skip
    assert rpc.schema_error(rpc.CALL, "SetDERControl", req, "2.1") is None
    return req


def valid(action: str, payload: dict, kind: int = rpc.CALL) -> dict:
    assert rpc.schema_error(kind, action, payload, "2.1") is None, (action, payload)
    return payload


# --- the mapping -----------------------------------------------------------------------


def test_controls_map_to_firmware_keys_in_its_units() -> None:
    got = der_map.control_settings("FreqDroop", droop(), GRID50)
    assert got == [(m.CFG_DROOP_DB_OF, 100), (m.CFG_DROOP_DB_UF, 100), (m.CFG_DROOP_K_OF, 40),
                   (m.CFG_DROOP_K_UF, 40), (m.CFG_DROOP_RESP, 2000)]  # fmt: skip
    # two stages: the more severe threshold is stage 2, whatever the order of the points
    hv = der_map.control_settings("HVMustTrip", curve([(13.0, 115.0), (0.16, 120.0)]), GRID60)
    assert sorted(hv) == [(m.CFG_OV2_PM, 1200), (m.CFG_OV2_MS, 160), (m.CFG_OV1_PM, 1150),
                          (m.CFG_OV1_MS, 13000)]  # fmt: skip
    lv = der_map.control_settings("LVMustTrip", curve([(2.0, 45.0), (10.0, 70.0)]), GRID60)
    assert sorted(lv) == [(m.CFG_UV1_PM, 700), (m.CFG_UV1_MS, 10000), (m.CFG_UV2_PM, 450),
                          (m.CFG_UV2_MS, 2000)]  # fmt: skip
    lf = der_map.control_settings("LFMustTrip", curve([(300, 58.5)], "Not_Applicable"), GRID60)
    assert lf == [(m.CFG_UF1_MHZ, 58500), (m.CFG_UF1_MS, 300000)]  # one point: stage 1
    vw = der_map.control_settings("VoltWatt", curve([(106, 100), (110, -20)], "PctMaxW",
                                                    responseTime=10.0), GRID60)  # fmt: skip
    assert vw == [(m.CFG_VW_ENABLE, 1), (m.CFG_VW_V1, 1060), (m.CFG_VW_V2, 1100),
                  (m.CFG_VW_P2, -200), (m.CFG_VW_RESP, 10000)]  # fmt: skip
    es = {"priority": 0, "lowVoltage": 91.7, "highVoltage": 105.0, "lowFreq": 59.5,
          "highFreq": 60.1, "delay": 300, "rampRate": 300}  # fmt: skip
    assert dict(der_map.control_settings("EnterService", es, GRID60)) == {
        m.CFG_ENTER_V_MIN: 917, m.CFG_ENTER_V_MAX: 1050, m.CFG_ENTER_F_MIN: 59500,
        m.CFG_ENTER_F_MAX: 60100, m.CFG_ENTER_DELAY: 300000, m.CFG_ENTER_RAMP: 300000}


@pytest.mark.parametrize(("ctype", "setting", "grid", "status", "says"), [
    # outside IEEE 1547's ranges of adjustability at 60 Hz (Cat II)
    ("HVMustTrip", curve([(13.0, 115.0), (0.16, 130.0)]), GRID60, "Rejected", "grid_ov2_pm=1300"),
    ("FreqDroop", droop(60.036, 59.964, k=0.02), GRID60, "Rejected", "grid_droop_k_of_pm=20"),
    ("HFMustTrip", curve([(0.1, 62.0)], "Not_Applicable"), GRID60, "Rejected", "grid_of1_ms=100"),
    # outside the link's range (any board)
    ("HVMustTrip", curve([(0.005, 110.0)]), GRID50, "Rejected", "grid_ov1_ms=5 outside 10..60000"),
    # stage 1 beyond stage 2: the order of the stages
    ("LVMustTrip", curve([(1.0, 40.0), (0.5, 80.0)]), GRID50, "Rejected", "conflict"),
    # a trip curve's yUnit is Not_Applicable (R04.FR.51)
    ("HVMustTrip", curve([(1.5, 111.0)], "PctEffectiveV"), GRID50, "Rejected", "Not_Applicable"),
    # functions the firmware does not have
    ("VoltVar", curve([(100, 0)], "PctMaxVar"), GRID50, "NotSupported", "reactive"),
    ("FreqWatt", curve([(50.2, 100)], "PctMaxW"), GRID50, "NotSupported", "FreqDroop"),
    ("HVMustTrip", curve([(1, 110), (0.5, 115), (0.1, 120)]), GRID50, "NotSupported", "two stages"),
    ("HVMustTrip", curve([(1, 110)], hysteresis={"hysteresisHigh": 1.0}), GRID50, "NotSupported",
     "hysteresis"),
    ("VoltWatt", curve([(106, 90), (110, 0)], "PctMaxW"), GRID50, "NotSupported", "y=100"),
    ("EnterService", {"priority": 0, "lowVoltage": 90, "highVoltage": 105, "lowFreq": 49.5,
                      "highFreq": 50.1, "randomDelay": 60}, GRID50, "NotSupported", "randomDelay"),
])  # fmt: skip
def test_controls_the_firmware_cannot_take_are_refused_with_a_reason(
        tmp_path: Path, ctype: str, setting: dict, grid: Grid, status: str, says: str) -> None:  # fmt: skip
    sink = Sink(grid.f_nom)
    der = DerControls(open_db(tmp_path / "s.db"), grid, sink, T0)
    res = valid("SetDERControl", der.set_control(set_req("c1", ctype, setting), T0), rpc.CALLRESULT)
    assert res["status"] == status
    assert says in res["statusInfo"]["additionalInfo"], res
    assert sink.sent == [] and der.controls() == []  # nothing stored, nothing clamped


def test_the_edges_of_a_range_are_taken_and_refused_one_step_beyond() -> None:
    ok = der_map.control_settings("FreqDroop", droop(60.017, 59.983, k=0.03, t=1.0), GRID60)
    der_map.check(der_map.defaults(GRID60) | dict(ok), GRID60)  # Table 24's fastest, Cat II
    beyond = der_map.control_settings("FreqDroop", droop(60.016, 59.983, k=0.03, t=1.0), GRID60)
    with pytest.raises(Refused, match="grid_droop_db_of_mhz=16"):
        der_map.check(der_map.defaults(GRID60) | dict(beyond), GRID60)


def test_plan_orders_the_commands_so_the_firmware_takes_each() -> None:
    """Both OF stages slower: the naive key order (OF2 first) would make OF2 slower than
    OF1 on the way (conflict); the plan moves OF1 first, and the firmware takes it all."""
    grid = GRID50
    want = der_map.defaults(grid) | {m.CFG_OF2_MS: 500000, m.CFG_OF1_MS: 900000,
                                     m.CFG_OF2_MHZ: 52500}  # fmt: skip
    naive = [(k, v) for k, v in sorted(want.items()) if der_map.defaults(grid)[k] != v]
    bench = GridBench()
    assert [bench.c.configure_grid(k, v) for k, v in naive] != [0] * len(naive)
    steps = der_map.plan(der_map.defaults(grid), want, grid)
    assert sorted(steps) == sorted(naive)
    bench = GridBench()
    assert [bench.c.configure_grid(k, v) for k, v in steps] == [0] * len(steps)


# --- priorities, schedules, persistence ---------------------------------------------------


def test_default_controls_by_priority_and_a_schedule_over_them(tmp_path: Path) -> None:
    sink = Sink()
    der = DerControls(open_db(tmp_path / "s.db"), GRID50, sink, T0)
    assert der.set_control(set_req("d2", "FreqDroop", droop(50.2, 49.8, priority=2)), T0) == {
        "status": "Accepted"}
    assert sink.sent[-5:][0] == (m.CFG_DROOP_DB_OF, 200)
    # a lower priority value wins and supersedes
    res = der.set_control(set_req("d1", "FreqDroop", droop(50.1, 49.9, priority=1)), T0)
    assert res == {"status": "Accepted", "supersededIds": ["d2"]}
    assert sink.bench.c.droop.db_over == 100
    # a weaker default changes nothing in force, and is superseded from the start (R04.FR.08)
    n = len(sink.sent)
    assert der.set_control(set_req("d3", "FreqDroop", droop(50.3, 49.7, priority=5)), T0) == {
        "status": "Accepted", "supersededIds": ["d3"]}
    assert len(sink.sent) == n
    # an equal priority supersedes nothing (R04.FR.03: strictly lower); the later is carried out
    assert der.set_control(set_req("d4", "FreqDroop", droop(50.15, 49.85, priority=1)), T0) == {
        "status": "Accepted"}
    assert sink.bench.c.droop.db_over == 150
    assert der.clear_control({"isDefault": True, "controlId": "d4"}, T0)["status"] == "Accepted"
    assert sink.bench.c.droop.db_over == 100
    # a scheduled control overrides the defaults while it runs, then they come back
    sched = droop(50.05, 49.95, priority=9, startTime=iso_time(T0 + 60), duration=120)
    assert der.set_control(set_req("s1", "FreqDroop", sched, is_default=False), T0) == {
        "status": "Accepted"}
    assert der.get_timer() == T0 + 60 and der.take_calls() == []
    der.handle_timer(T0 + 60)
    assert sink.bench.c.droop.db_over == 50
    start = der.take_calls()
    assert start == [("NotifyDERStartStop", {"controlId": "s1", "started": True,
                                             "timestamp": iso_time(T0 + 60),
                                             "supersededIds": ["d2", "d1", "d3"]})]  # fmt: skip
    valid("NotifyDERStartStop", start[0][1])
    assert der.get_timer() == T0 + 180
    der.handle_timer(T0 + 180)
    assert der.take_calls() == [("NotifyDERStartStop", {"controlId": "s1", "started": False,
                                                        "timestamp": iso_time(T0 + 180)})]  # fmt: skip
    assert sink.bench.c.droop.db_over == 100  # d1 again
    assert [c.control_id for c in der.controls()] == ["d2", "d1", "d3"]  # the ended one is gone


def test_controls_survive_a_restart_and_only_changes_go_out(tmp_path: Path) -> None:
    sink = Sink()
    db = open_db(tmp_path / "s.db")
    der = DerControls(db, GRID50, sink, T0)
    der.set_control(set_req("hv", "HVMustTrip", curve([(0.2, 118), (1.5, 111)])), T0)
    first = list(sink.sent)
    assert (m.CFG_OV2_PM, 1180) in first and (m.CFG_OV1_MS, 1500) in first
    db.close()
    again = DerControls(open_db(tmp_path / "s.db"), GRID50, sink, T0 + 5)
    assert sink.sent == first  # the firmware has them already: nothing resent
    assert [c.control_id for c in again.controls()] == ["hv"]
    fresh = Sink()  # the firmware restarted: it is back on its defaults
    again.sink = fresh
    again.resync(T0 + 6)
    assert sorted(fresh.sent) == sorted(first)
    assert again.clear_control({"isDefault": True, "controlType": "HVMustTrip"}, T0 + 7) == {
        "status": "Accepted"}
    assert sorted(fresh.sent[len(first):]) == sorted(
        (k, der_map.defaults(GRID50)[k]) for k, _ in first)  # back to the firmware's own


def test_get_reports_in_parts_and_clear_answers_not_found(tmp_path: Path) -> None:
    der = DerControls(open_db(tmp_path / "s.db"), GRID50, Sink(), T0)
    for n in range(30):
        der.set_control(set_req(f"d{n}", "FreqDroop", droop(priority=n)), T0)
    der.set_control(set_req("hv", "HVMustTrip", curve([(1.5, 111)])), T0)
    assert der.get_control({"requestId": 4}, T0) == {"status": "Accepted"}
    reports = [p for a, p in der.take_calls() if a == "ReportDERControl"]
    assert [r.get("tbc", False) for r in reports] == [True, False]
    for r in reports:
        valid("ReportDERControl", r)
    items = [i for r in reports for i in r.get("freqDroop", [])]
    assert len(items) == 30 and [i["isSuperseded"] for i in items] == [False] + [True] * 29
    assert reports[1]["curve"][0] == {"id": "hv", "isDefault": True, "isSuperseded": False,
                                      "curveType": "HVMustTrip",
                                      "curve": curve([(1.5, 111)])}  # fmt: skip
    assert der.get_control({"requestId": 5, "controlId": "nope"}, T0) == {"status": "NotFound"}
    assert der.get_control({"requestId": 6, "controlType": "VoltVar"}, T0)["status"] == "NotSupported"
    assert der.clear_control({"isDefault": False}, T0) == {"status": "NotFound"}
    assert der.clear_control({"isDefault": True, "controlType": "WattVar"}, T0)["status"] == "NotSupported"
    bad = droop(startTime="tomorrow-ish", duration=60)  # the schema does not check the format
    res = der.set_control(set_req("dt", "FreqDroop", bad, is_default=False), T0)
    assert res["status"] == "Rejected" and "tomorrow-ish" in res["statusInfo"]["additionalInfo"]
    timed = droop(startTime=iso_time(T0), duration=60)  # R04.FR.13: a default has neither
    res = der.set_control(set_req("dx", "FreqDroop", timed), T0)
    assert res["status"] == "Rejected" and "startTime" in res["statusInfo"]["additionalInfo"]
    assert der.clear_control({"isDefault": True, "controlId": "d0"}, T0) == {"status": "Accepted"}
    assert len(der.controls()) == 30


# --- through the machine ------------------------------------------------------------------


def test_der_routes_on_a_2_1_connection(tmp_path: Path) -> None:
    st = accepted(tmp_path, "ocpp2.1")
    sink = Sink()
    der = DerControls(st.queue.db, GRID50, sink, T0)
    attach(st, der)
    req = set_req("hv", "HVMustTrip", curve([(0.2, 118), (1.5, 111)]))
    st.receive(json.dumps([2, "c1", "SetDERControl", req]), T0)
    assert sent(st) == [[3, "c1", {"status": "Accepted"}]]
    st.receive(json.dumps([2, "c2", "GetDERControl", {"requestId": 9}]), T0)
    frames = sent(st)
    assert frames[0] == [3, "c2", {"status": "Accepted"}]  # the answer before the report
    assert frames[1][2] == "ReportDERControl" and frames[1][3]["requestId"] == 9
    answer(st, frames[1], {}, T0)
    bad = dict(req, controlType="Bogus")
    st.receive(json.dumps([2, "c3", "SetDERControl", bad]), T0)
    assert sent(st)[0][:3] == [4, "c3", "PropertyConstraintViolation"]
    sched = droop(startTime=iso_time(T0 + 10), duration=5)
    st.receive(json.dumps([2, "c4", "SetDERControl", set_req("s", "FreqDroop", sched, False)]), T0)
    sent(st)
    tick(st, der, T0 + 10)
    note = sent(st)
    assert note[0][2] == "NotifyDERStartStop" and note[0][3]["started"] is True
    valid("NotifyDERStartStop", note[0][3])


def test_der_actions_are_unknown_on_2_0_1(tmp_path: Path) -> None:
    st = accepted(tmp_path, "ocpp2.0.1")
    attach(st, DerControls(st.queue.db, GRID50, Sink(), T0))
    req = set_req("hv", "HVMustTrip", curve([(1.5, 111)]))
    st.receive(json.dumps([2, "c1", "SetDERControl", req]), T0)
    assert sent(st)[0][:3] == [4, "c1", "NotImplemented"]


def test_a_new_link_session_sends_the_settings_again(tmp_path: Path) -> None:
    from host.link.events import LinkUp

    sink = Sink()
    der = DerControls(open_db(tmp_path / "s.db"), GRID50, sink, T0)
    der.set_control(set_req("lf", "LFMustTrip", curve([(200, 47.0)])), T0)
    assert sink.sent == [(m.CFG_UF1_MHZ, 47000), (m.CFG_UF1_MS, 200000)]
    fresh = Sink()  # the firmware rebooted: its defaults again
    der.sink = fresh
    hello = m.FirmwareHello(proto=3, fw_major=1, fw_minor=0, fw_patch=0, board=b"sim",
                            capabilities=0, reset_reason=0, epoch=7)  # fmt: skip
    der.link_event(LinkUp(hello), T0 + 1)
    assert fresh.sent == sink.sent
