"""DER control wired into the station logic, through the scripted station: SetDERControl
from the CSMS becomes SetConfig commands at the StationPort (which the real firmware
controller takes), sent again after a LinkUp; a scheduled control starts on the station's
alarm; the link's grid trips become NotifyDERAlarm and alarmEnded. Schema-valid on 2.1."""

from __future__ import annotations

from pathlib import Path

from firmware.app import faults
from firmware.app import gridfunc as gf
from firmware.link import messages as m
from host.link.events import FirmwareReported, LinkUp
from host.ocpp import rpc
from host.ocpp.store import iso_time

from .helpers import T0, answer, boot_ok, one, sent
from .scripted import ScriptedStation, wire
from .test_chargingstation import Csms
from .test_der import GRID50, Sink, droop, set_req
from .test_der_alarm import status

ANSWERS = {"NotifyDERAlarm": lambda p: {}, "NotifyDERStartStop": lambda p: {},
           "ReportDERControl": lambda p: {}}  # fmt: skip
HELLO = m.FirmwareHello(proto=3, fw_major=1, fw_minor=0, fw_patch=0, board=b"sim",
                        capabilities=0, reset_reason=0, epoch=7)  # fmt: skip


def setup(tmp_path: Path) -> tuple[Csms, ScriptedStation]:
    conn, cs, port = wire(tmp_path, grid=GRID50, now=T0)
    conn.connection_made("ocpp2.1", T0)
    boot = one(conn)
    answer(conn, boot, boot_ok(boot), T0)
    csms = Csms(conn, cs, ANSWERS)
    csms.settle()
    csms.take()
    return csms, port


def firmware_takes(configs: list[tuple[int, int]]) -> Sink:
    """Each command, in order, into a real firmware controller on its defaults."""
    sink = Sink(GRID50.f_nom)
    for key, value in configs:
        sink.set_config(key, value)  # asserts the controller takes it
    return sink


def valid_calls(csms: Csms, action: str) -> list[dict]:
    got = csms.take(action)
    for payload in got:
        assert rpc.schema_error(rpc.CALL, action, payload, "2.1") is None, payload
    return got


def test_set_der_control_goes_to_the_port_and_again_after_link_up(tmp_path: Path) -> None:
    csms, port = setup(tmp_path)
    assert port.configs == []  # nothing in force yet: the firmware's own settings stand
    res = csms.request("SetDERControl", set_req("d1", "FreqDroop", droop(50.2, 49.8, k=0.05)))
    assert res[2] == {"status": "Accepted"}
    # only what differs from the firmware's defaults (36 mHz, 5 %, 5 s) goes out
    assert port.configs == [(m.CFG_DROOP_DB_OF, 200), (m.CFG_DROOP_DB_UF, 200), (m.CFG_DROOP_RESP, 2000)]
    assert firmware_takes(port.configs).bench.c.droop.db_over == 200
    sent_first = list(port.configs)
    port.configs.clear()
    csms.cs.link_event(LinkUp(HELLO), T0 + 1)  # the firmware may have restarted
    assert port.configs == sent_first
    refused = csms.request("SetDERControl", set_req("d2", "FreqDroop", droop(k=0.001)))
    assert refused[2]["status"] == "Rejected" and port.configs == sent_first  # nothing clamped


def test_a_scheduled_control_starts_and_ends_on_the_station_alarm(tmp_path: Path) -> None:
    csms, port = setup(tmp_path)
    sched = droop(50.05, 49.95, startTime=iso_time(T0 + 60), duration=120)
    assert csms.request("SetDERControl", set_req("s1", "FreqDroop", sched, is_default=False))[2] == {
        "status": "Accepted"}
    assert port.configs == [] and csms.conn.get_timer() == T0 + 60
    csms.conn.handle_timer(T0 + 60)
    csms.settle(T0 + 60)
    [start] = valid_calls(csms, "NotifyDERStartStop")
    assert (start["controlId"], start["started"]) == ("s1", True)
    assert firmware_takes(port.configs).bench.c.droop.db_over == 50
    assert csms.conn.get_timer() == T0 + 180
    csms.conn.handle_timer(T0 + 180)
    csms.settle(T0 + 180)
    [stop] = valid_calls(csms, "NotifyDERStartStop")
    assert (stop["controlId"], stop["started"]) == ("s1", False)
    assert firmware_takes(port.configs).bench.c.droop.db_over == 36  # the firmware's default again


def test_a_grid_trip_is_an_alarm_then_its_end(tmp_path: Path) -> None:
    csms, port = setup(tmp_path)
    cs = csms.cs
    cs.link_event(FirmwareReported(1, status(trip=gf.LOSS)), T0)  # the guard starts tripped
    cs.link_event(FirmwareReported(2, status()), T0 + 1)
    csms.settle(T0 + 1)
    assert csms.take("NotifyDERAlarm") == []
    cs.link_event(FirmwareReported(3, status(freq_mhz=51600, trip=gf.OF1)), T0 + 2)
    for n in range(3):  # the trip stays in every GridStatus: still one alarm
        cs.link_event(FirmwareReported(4 + n, status(freq_mhz=51600, trip=gf.OF1)), T0 + 3 + n)
    csms.settle(T0 + 6)
    [start] = valid_calls(csms, "NotifyDERAlarm")
    assert (start["controlType"], start["gridEventFault"]) == ("HFMustTrip", "OverFrequency")
    assert "alarmEnded" not in start
    cs.link_event(FirmwareReported(8, status()), T0 + 7)
    csms.settle(T0 + 7)
    [end] = valid_calls(csms, "NotifyDERAlarm")
    assert (end["controlType"], end["alarmEnded"]) == ("HFMustTrip", True)
    # a must-trip while exporting comes as a Fault too
    cs.link_event(FirmwareReported(9, m.Fault(code=faults.GRID_TRIP, active=0, latched=0,
                                              detail_ms=gf.UV1, at_ms=0)), T0 + 8)  # fmt: skip
    csms.settle(T0 + 8)
    assert [a["controlType"] for a in valid_calls(csms, "NotifyDERAlarm")] == ["LVMustTrip"]


def test_alarms_raised_offline_go_out_after_the_reconnect(tmp_path: Path) -> None:
    csms, port = setup(tmp_path)
    conn, cs = csms.conn, csms.cs
    cs.link_event(FirmwareReported(1, status()), T0)
    conn.connection_lost(T0 + 1)
    cs.link_event(FirmwareReported(2, status(trip=gf.UV1)), T0 + 2)
    cs.link_event(FirmwareReported(3, status()), T0 + 3)
    assert sent(conn) == []
    conn.connection_made("ocpp2.1", T0 + 4)
    csms.settle(T0 + 4)
    got = valid_calls(csms, "NotifyDERAlarm")
    assert [(a["controlType"], a.get("alarmEnded", False)) for a in got] == [
        ("LVMustTrip", False), ("LVMustTrip", True)]
