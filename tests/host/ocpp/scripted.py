"""A scripted station behind ``host.ocpp.station.StationPort``: it records every command
OCPP gives it and answers ``unlock`` as the test scripted it. ``wire()`` builds the whole
OCPP side (machine, authorization, station logic) on a temporary database."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from host.ocpp.auth import Authorization
from host.ocpp.certificates import CertificateManager
from host.ocpp.chargingstation import ChargingStation
from host.ocpp.der import DerControls
from host.ocpp.der_map import Grid
from host.ocpp.deralarm import DerAlarms
from host.ocpp.events import ChargingLimitChanged
from host.ocpp.machine import StationConnection

from .helpers import make_station


@dataclass
class ScriptedStation:
    unlock_works: bool = True
    commands: list[tuple] = field(default_factory=list)
    limits: list[ChargingLimitChanged] = field(default_factory=list)
    configs: list[tuple[int, int]] = field(default_factory=list)  # link SetConfig (key, value)

    def start_charging(self, evse_id: int, tx_id: str) -> None:
        self.commands.append(("start", evse_id, tx_id))

    def stop_charging(self, evse_id: int, reason: str) -> None:
        self.commands.append(("stop", evse_id, reason))

    def apply_limit(self, limit: ChargingLimitChanged) -> None:
        self.limits.append(limit)

    def set_available(self, evse_id: int, available: bool) -> None:
        self.commands.append(("available", evse_id, available))

    def unlock(self, evse_id: int, connector_id: int) -> bool:
        self.commands.append(("unlock", evse_id, connector_id))
        return self.unlock_works

    def reset(self, kind: str) -> None:
        self.commands.append(("reset", kind))

    def set_config(self, key: int, value: int) -> None:
        self.configs.append((key, value))

    def take(self) -> list[tuple]:
        out, self.commands = self.commands, []
        return out


def wire(tmp_path: Path, *, smart: bool = False, vendors: tuple[str, ...] = (),
         certificates: bool = False, grid: Grid | None = None,
         now: float = 0.0) -> tuple[StationConnection, ChargingStation, ScriptedStation]:  # fmt: skip
    """``certificates``: with a CertificateManager on tmp_path/certs; ``grid``: with DER
    control (its SetConfig commands to the scripted station) and DER alarms, from ``now``."""
    conn = make_station(tmp_path, smart=smart)
    port = ScriptedStation()
    ids = itertools.count(1)
    certs = (CertificateManager(conn, tmp_path / "certs", common_name="SN1") if certificates
             else None)  # fmt: skip
    der = DerControls(conn.queue.db, grid, port, now) if grid is not None else None
    alarms = DerAlarms(grid.f_nom) if grid is not None else None
    cs = ChargingStation(conn, port, Authorization(conn.queue.db, conn.model), evses=(1, 2),
                         vendors=vendors, certificates=certs, der=der, der_alarms=alarms,
                         new_tx_id=lambda: f"tx{next(ids)}")  # fmt: skip
    return conn, cs, port
