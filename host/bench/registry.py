"""The scenarios of `v2gate simulate`, by name.

Scenario modules call `register` when imported; `load` imports them all. Nothing here
imports a scenario module at import time, so any of them can be imported on its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Scenario = Callable[[str], Awaitable[dict[str, Any]]]

# in the order `v2gate simulate --list` shows them
MODULES = ("host.bench.scenarios", "host.bench.fault_scenarios", "host.bench.grid_scenarios",
           "host.bench.cable_scenarios", "host.bench.dc_scenarios", "host.bench.v2g_scenario")


@dataclass(frozen=True)
class Entry:
    run: Scenario
    text: str
    host_only: bool  # starts no firmware
    columns: tuple[str, ...] = ()  # extra timeline columns that matter: "grid", "thermal"


SCENARIOS: dict[str, Entry] = {}


def register(name: str, run: Scenario, text: str, host_only: bool = False,
             columns: tuple[str, ...] = ()) -> None:
    if name in SCENARIOS and SCENARIOS[name].run is not run:
        raise ValueError(f"two scenarios named {name!r}")
    SCENARIOS[name] = Entry(run, text, host_only, columns)


def register_many(table: dict[str, tuple[Scenario, str]], columns: tuple[str, ...] = ()) -> None:
    for name, (run, text) in table.items():
        register(name, run, text, columns=columns)


def load() -> dict[str, Entry]:
    for module in MODULES:
        importlib.import_module(module)
    return SCENARIOS
