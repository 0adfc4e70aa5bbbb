"""A station machine on a temporary database, and the CSMS's end of its frames."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from host.ocpp.devmodel import DeviceModel
from host.ocpp.events import Event
from host.ocpp.machine import StationConnection
from host.ocpp.messages import StationInfo
from host.ocpp.store import open_db
from host.ocpp.txqueue import TxQueue
from host.ocpp.variables import station_variables

T0 = 1_800_000_000.0
STATION = StationInfo("v2gate-test", "v2gate", serial_number="SN1")


def make_station(tmp_path: Path, **kw) -> StationConnection:
    db = open_db(tmp_path / "station.db")
    ids = itertools.count(1)
    return StationConnection(queue=TxQueue(db), model=DeviceModel(db, station_variables(evses=2)),
                             station=STATION, new_msg_id=lambda: f"m{next(ids)}", **kw)  # fmt: skip


def sent(st: StationConnection) -> list[list]:
    return [json.loads(f) for f in st.data_to_send()]


def one(st: StationConnection) -> list:
    frames = sent(st)
    assert len(frames) == 1, frames
    return frames[0]


def events(st: StationConnection) -> list[Event]:
    out = []
    while (e := st.next_event()) is not None:
        out.append(e)
    return out


def answer(st: StationConnection, frame: list, payload: dict, now: float) -> None:
    assert frame[0] == 2
    st.receive(json.dumps([3, frame[1], payload]), now)


def boot_ok(frame: list, interval: int = 300, status: str = "Accepted") -> dict:
    assert frame[2] == "BootNotification"
    return {"currentTime": "2027-01-15T08:00:00.000Z", "interval": interval, "status": status}


def accepted(tmp_path: Path, subprotocol: str = "ocpp2.0.1", **kw) -> StationConnection:
    st = make_station(tmp_path, **kw)
    st.connection_made(subprotocol, T0)
    frame = one(st)
    answer(st, frame, boot_ok(frame), T0)
    events(st)
    return st
