"""The ISO 15118-20 scenarios of `v2gate simulate` (iso20-dc, iso20-dc-bpt, iso20-ac-bpt):
what they add to the session machinery of host.bench.v2g_transport.

TLS 1.3 as -20 wants it: a -2 and a -20 lab PKI (`v2gate pki init`, `--profile iso20`:
secp521r1), the SECC's context as `v2gate secc` builds it (host.secc.serve.tls_context,
mutual), the EV with the -20 V2G root and its OEM provisioning chain. Our -20 EVCC in
dynamic control on the plant's battery (80 % SoC), so the SoC it reports is the one that
moves.

The station's side of the loop (``LoopScript``), one step per charge-loop iteration, read
by the SECC at the next one: BPT: +10 kW (charge), then a -10 kW setpoint (discharge, export
enabled), the grid operator's export enable dropped (no discharge from the next iteration
on), and enabled again; the owner's SoC floor is 40 %. -20 DC: the EV's own needs, no
export. Each iteration goes into the timeline: the power the SECC gave the stage, the SoC,
the export enable and the setpoint.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOC = 0.80
FLOOR = 0.40
EXPORT_LIMIT_W = 10_000.0
LOOP_INTERVAL = 0.1  # s
CHARGE_FOR = 2.6  # s of loop: the script's four steps, ~24 iterations
# (from iteration, setpoint W, export enabled); BPT only
STEPS = ((1, 10_000.0, True), (4, -10_000.0, True), (10, -10_000.0, False),
         (14, -10_000.0, True))  # fmt: skip
LOOP_REQUESTS = ("DC_ChargeLoopReq", "AC_ChargeLoopReq")


def lab_pki20(pki: Path) -> Path:
    """The -20 lab PKI, in ``pki``/iso20."""
    from host.pki import hierarchy
    from host.pki.profiles import PROFILES

    folder = pki / "iso20"
    hierarchy.init(folder, PROFILES["iso20"], hierarchy.Names(), dt.datetime.now(dt.UTC))
    return folder


def service_of(protocol: str) -> tuple[int, Any, bool]:
    """The -20 service, the SupportedAppProtocol offer, BPT or not."""
    from host.secc import iso20_constants as k
    from host.v2g import sap

    return {"iso20-dc": (k.SERVICE_DC, sap.ISO20_DC, False),
            "iso20-dc-bpt": (k.SERVICE_DC_BPT, sap.ISO20_DC, True),
            "iso20-ac-bpt": (k.SERVICE_AC_BPT, sap.ISO20_AC, True)}[protocol]  # fmt: skip


@dataclass
class Iso20Sides:
    offers: tuple[Any, ...]
    server_ctx: Any
    client_ctx: Any
    ev: Any
    controller: Any  # the simulated station (SimEvseController) on the plant
    bpt: bool


def sides(protocol: str, pki: Path, charge_for: float) -> Iso20Sides:
    from host.bench.dcplant import Battery, DcPlant, StageLimits
    from host.ev.evcc.ev import SimEv
    from host.ev.evcc.iso20 import Iso20Config, Iso20Evcc
    from host.secc import iso20_constants as k
    from host.secc import serve
    from host.secc.controller import ExportRules, SimEvseController
    from host.v2g import tls

    service, offer, bpt = service_of(protocol)
    pki20 = pki / "iso20"
    client_ctx = tls.client_context(pki20 / "v2g_root.pem", tls13=True,
                                    cert_chain=pki20 / "oem_prov_chain.pem",
                                    key=pki20 / "oem_prov.key")  # fmt: skip
    plant = DcPlant(StageLimits(max_voltage=600.0, voltage_ramp=20_000.0,
                                max_discharge_current=100.0 if bpt else 0.0),
                    Battery(soc=SOC), isolation_time=0.3, now=time.monotonic())  # fmt: skip
    controller = SimEvseController(plant)
    controller.export = ExportRules(False, EXPORT_LIMIT_W, FLOOR)
    LoopScript(bpt).apply(1, controller)
    ev = Iso20Evcc(SimEv(plant.battery, charge_for=charge_for, target_soc=0.95),
                   Iso20Config(service=service, control_mode=k.CONTROL_DYNAMIC,
                               target_soc=0.95, loop_interval=LOOP_INTERVAL))  # fmt: skip
    return Iso20Sides((offer,), serve.tls_context(pki, pki20, mutual=True), client_ctx, ev,
                      controller, bpt)  # fmt: skip


class LoopScript:
    """The station's setpoint and export enable per loop iteration (see the module text);
    the iterations go into the timeline (``event`` "power"), which --json gives whole."""

    def __init__(self, bpt: bool) -> None:
        self.bpt = bpt
        self.loops = 0

    def apply(self, iteration: int, controller: Any) -> None:
        """Set what the SECC reads at loop ``iteration``."""
        import dataclasses

        if not self.bpt:
            return
        for start, setpoint, export in STEPS:
            if iteration >= start:
                controller.setpoint = setpoint
                controller.export = dataclasses.replace(controller.export,
                                                        export_enabled=export)  # fmt: skip

    def answered(self, conn: Any, controller: Any, tl: Any) -> None:
        """A loop request was answered: its record, then the next iteration's settings."""
        self.loops += 1
        plant = controller.plant
        power = float(getattr(conn.machine, "last_power", 0.0)) + 0.0  # no -0.0
        export = controller.export.export_enabled
        setpoint = controller.setpoint
        shown = "-" if setpoint is None else f"{setpoint / 1000:+.0f} kW"
        tl.add("power", f"loop {self.loops:2d}: power {power / 1000:+6.2f} kW, SoC "
                        f"{plant.battery.soc * 100:6.3f} %, export {'on ' if export else 'off'}, "
                        f"setpoint {shown}",
               loop=self.loops, power_w=round(power, 1),
               soc_percent=round(plant.battery.soc * 100, 3),
               export_enabled=export, setpoint_w=setpoint)  # fmt: skip
        self.apply(self.loops + 1, controller)


def verdict(records: list[dict[str, Any]], bpt: bool, energy_out_wh: float) -> tuple[bool, str]:
    """BPT: charged, discharged from the first iteration of a negative setpoint, nothing
    while export was disabled (from the first such iteration), energy taken from the EV.
    -20 DC: never negative."""
    loops = [r for r in records if r["event"] == "power"]
    if not loops:
        return False, "no charge-loop iteration"
    if not bpt:
        ok = all(r["power_w"] >= 0 for r in loops) and any(r["power_w"] > 0 for r in loops)
        return ok, f"{len(loops)} loop iterations, charging only"
    first_neg = next((r for r in loops if r["setpoint_w"] < 0 and r["export_enabled"]), None)
    off = [r for r in loops if not r["export_enabled"]]
    problems = []
    if not any(r["power_w"] > 0 for r in loops):
        problems.append("never charged")
    if first_neg is None or first_neg["power_w"] >= 0:
        problems.append("no discharge on the first negative setpoint")
    if not off:
        problems.append("the loop ended before the export enable dropped")
    elif any(r["power_w"] != 0 for r in off):
        problems.append("power while export was disabled")
    if energy_out_wh <= 0:
        problems.append("no energy taken from the EV")
    if problems:
        return False, "; ".join(problems)
    low = min(r["power_w"] for r in loops)
    return True, (f"{len(loops)} loop iterations: discharge at {low / 1000:.1f} kW from the "
                  f"first negative setpoint, 0 W from the first of {len(off)} iterations "
                  f"without export enable, {energy_out_wh:.2f} Wh taken from the EV")
