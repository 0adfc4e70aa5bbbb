"""What the EVCC asks the car: its battery, its limits, when it is done.

``SimEv`` reads the battery of the same ``host.bench.dcplant.DcPlant`` the simulated
station drives, so the EV's requests follow what the charger actually delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from host.bench.dcplant import Battery


class EvModel(Protocol):
    def soc(self) -> float: ...  # 0..1

    def battery_voltage(self) -> float: ...

    def limits(self) -> EvLimits: ...

    def target_current(self, now: float) -> float: ...  # signed: + charges the battery

    def target_voltage(self) -> float: ...

    def charging_complete(self, now: float) -> bool: ...


@dataclass(frozen=True)
class EvLimits:
    max_voltage: float = 420.0
    max_current: float = 125.0
    max_power: float = 50_000.0
    capacity_wh: float = 60_000.0


class SimEv:
    """Charges at ``charge_current`` until ``target_soc`` or, in tests, for ``charge_for``
    seconds after the first ``target_current`` call."""

    def __init__(self, battery: Battery, *, limits: EvLimits | None = None,
                 charge_current: float = 100.0, target_soc: float = 0.8,
                 charge_for: float | None = None) -> None:  # fmt: skip
        self.battery = battery
        self._limits = limits or EvLimits(capacity_wh=battery.capacity_wh)
        self.charge_current = charge_current
        self.target_soc = target_soc
        self.charge_for = charge_for
        self._charge_started: float | None = None

    def soc(self) -> float:
        return self.battery.soc

    def battery_voltage(self) -> float:
        return self.battery.open_circuit_voltage()

    def limits(self) -> EvLimits:
        return self._limits

    def target_current(self, now: float) -> float:
        if self._charge_started is None:
            self._charge_started = now
        return 0.0 if self.charging_complete(now) else self.charge_current

    def target_voltage(self) -> float:
        return min(self._limits.max_voltage, self.battery.full_voltage + 10.0)

    def charging_complete(self, now: float) -> bool:
        if self.battery.soc >= self.target_soc:
            return True
        started = self._charge_started
        return (self.charge_for is not None and started is not None
                and now - started >= self.charge_for)  # fmt: skip
