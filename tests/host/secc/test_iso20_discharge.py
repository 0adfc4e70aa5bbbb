"""The discharge rules: at every charge-loop iteration discharge is held to the smallest of
the EV's discharge limit, the stage's, the export limit, the export enable and the owner's
SoC floor (controller.bpt_power), and a -20 DC_BPT session applies them within one loop."""

from __future__ import annotations

import pytest

from host.secc import iso20_constants as k
from host.secc.controller import ExportRules, PowerWindow, bpt_power
from tests.host.secc.iso20_helpers import Iso20Pair, bpt_plant, pair

EV = PowerWindow(50_000.0, 11_000.0)
STAGE = PowerWindow(50_000.0, 40_000.0)
OPEN = ExportRules(export_enabled=True, export_limit_w=20_000.0, soc_floor=0.4)


@pytest.mark.parametrize(("want", "ev", "stage", "rules", "soc", "power"), [
    (-30_000, EV, STAGE, OPEN, 0.8, -11_000),  # the EV's discharge limit is the smallest
    (-30_000, PowerWindow(50e3, 50e3), STAGE, OPEN, 0.8, -20_000),  # the export limit
    (-30_000, PowerWindow(50e3, 50e3), PowerWindow(50e3, 15e3), OPEN, 0.8, -15_000),  # stage
    (-5_000, EV, STAGE, OPEN, 0.8, -5_000),  # within every limit: as asked
    (-5_000, EV, STAGE, ExportRules(False, 20e3, 0.4), 0.8, 0),  # export disabled
    (-5_000, EV, STAGE, OPEN, 0.4, 0),  # at the floor
    (-5_000, EV, STAGE, OPEN, 0.3, 0),  # below it
    (-5_000, EV, STAGE, OPEN, None, 0),  # SoC unknown
    (8_000, EV, STAGE, ExportRules(False, 0.0, 1.0), 0.4, 8_000),  # charging is not export
    (80_000, EV, PowerWindow(30e3, 0), OPEN, 0.8, 30_000),  # the stage's charge limit
])  # fmt: skip
def test_bpt_power_takes_the_smallest_limit(want, ev, stage, rules, soc, power):
    assert bpt_power(want, ev, stage, rules, soc) == pytest.approx(power)


def loop_answered(p: Iso20Pair) -> int:
    return p.names().count("DC_ChargeLoopReq")


def one_more_loop(p: Iso20Pair) -> None:
    seen = loop_answered(p)
    p.run(stop_at=lambda q: loop_answered(q) > seen)


@pytest.mark.parametrize("mode", [k.CONTROL_DYNAMIC, k.CONTROL_SCHEDULED])
def test_discharge_follows_export_enable_and_soc_floor_within_one_loop(mode):
    """The issue's bar: EV at 80 % SoC, floor 40 %, export enabled -> power negative within
    one loop; export enable dropped -> |power| to 0 within one loop; SoC at the floor -> no
    discharge, charge allowed."""
    plant = bpt_plant(soc=0.80)
    p = pair(k.SERVICE_DC_BPT, mode, plant=plant, setpoint=-10_000.0, discharge=True,
             export=ExportRules(True, 10_000.0, 0.40), charge_for=600.0, run=False)
    controller = p.controller
    p.run(stop_at=lambda q: loop_answered(q) >= 1)
    # the first loop iteration already discharges: the stage is told a negative current
    assert p.secc.last_power < -9_000 and plant.target_current < 0
    one_more_loop(p)
    assert p.evcc.present_power[-1] < 0  # and the present values show it flowing out

    controller.export = ExportRules(False, 10_000.0, 0.40)  # the grid operator's bit drops
    one_more_loop(p)
    assert p.secc.last_power == 0 and plant.target_current == 0

    controller.export = ExportRules(True, 10_000.0, 0.40)
    one_more_loop(p)
    assert p.secc.last_power < 0
    plant.battery.soc = 0.40  # the EV reaches the owner's floor
    one_more_loop(p)
    assert p.secc.last_power == 0 and plant.target_current == 0
    if mode == k.CONTROL_DYNAMIC:
        controller.setpoint = 10_000.0  # charging stays allowed at the floor
    else:
        p.evcc.config.discharge = False
    one_more_loop(p)
    assert p.secc.last_power > 9_000 and plant.target_current > 0
    # the loop answer tells the EV no discharge is available at the floor
    assert p.secc.state.name == "CHARGING"


def test_the_evs_own_minimum_soc_also_stops_discharge():
    plant = bpt_plant(soc=0.30)
    p = pair(k.SERVICE_DC_BPT, k.CONTROL_DYNAMIC, plant=plant, setpoint=-10_000.0,
             export=ExportRules(True, 10_000.0, 0.10), min_soc=0.35)
    assert p.controller.plant.energy_out_wh == 0
    assert p.names().count("DC_ChargeLoopReq") > 5
