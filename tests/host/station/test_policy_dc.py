"""The station's DC session steps (host/station/dc.py) against our firmware on a DC
board: 5 % PWM, a lease with its power, CableCheck, then the close with precharge once
the isolation is valid, and the open when the EV stops; lost DC commands go again."""

from __future__ import annotations

from firmware.app.controller import Controller
from firmware.app.linkserver import LinkServer
from firmware.link import dcmessages as dm
from firmware.link import messages as m
from host.station.policy import Settings
from tests.firmware.vmcheck import DcFakeHal, dc_board
from tests.host.station.rig import Rig

DC = Settings(dc_target_dv=3600, dc_power_w=30000)


class DcRig(Rig):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, DcFakeHal())

    def boot(self) -> None:
        self.ctrl = Controller(self.hal, dc_board(), self.ms())
        self.fw = LinkServer(self.ctrl, b"rig-dc", 1, self.ms())
        self.fw.on_applied = self.applied.append


def _plugged(settings: Settings = DC) -> DcRig:
    rig = DcRig(settings)
    rig.connect()
    rig.advance(0.1)
    rig.cp(m.CP_B)
    rig.advance(0.2)
    rig.cp(m.CP_C)
    return rig


def test_a_dc_session_checks_isolation_then_closes_with_precharge_then_opens() -> None:
    rig = _plugged()
    assert rig.ctrl.out_mode == m.PILOT_PWM and rig.ctrl.out_duty == 500  # 5 %: ISO 15118
    rig.advance(0.2)
    assert rig.ctrl.lease_allow and rig.ctrl.lease_w == 30000
    assert rig.rec("cable-check") and rig.ctrl.dc.isolation == dm.ISO_RUNNING
    assert not rig.rec("dc-close-asked")  # not before the IMD has answered
    rig.advance(1.2)
    asked = rig.rec("dc-close-asked")
    assert asked and asked[0]["target_v"] == 360.0
    assert rig.ctrl.dc.phase == dm.DC_CLOSED and rig.hal.stage_on
    dc = [r for r in rig.rec("dc") if r["phase"] == "closed"]
    assert dc and dc[-1]["isolation"] == "valid" and dc[-1]["aux"] == ["+", "-"]
    rig.cp(m.CP_B)  # the EV stops
    rig.advance(0.1)
    assert rig.ctrl.dc.phase == dm.DC_SETTLING and rig.hal.dc_bits == 0
    opens = [c for c in rig.commands if isinstance(c, dm.DcContactor) and not c.close]
    assert len(opens) == 1
    assert not rig.rec("command-error") and not rig.ctrl.latched


def test_an_isolation_fault_asks_for_no_close() -> None:
    rig = _plugged()
    rig.hal.kohm = 40  # 80 ohm/V at 500 V: fault
    rig.advance(1.5)
    assert rig.ctrl.dc.isolation == dm.ISO_FAULT and rig.rec("dc")[-1]["isolation"] == "fault"
    assert not rig.rec("dc-close-asked") and rig.hal.dc_bits == 0


def test_a_lost_dc_close_goes_again() -> None:
    rig = _plugged()
    send = rig.host.send

    def lose_the_first_close(command: m.Message, now: float) -> int:
        if isinstance(command, dm.DcContactor) and command.close and rig.drop_to_fw == 0 \
                and not rig.rec("command-error"):
            rig.drop_to_fw = 8  # the close, its three copies, and the heartbeats between
        return send(command, now)

    rig.host.send = lose_the_first_close  # type: ignore[method-assign]
    rig.advance(2.0)
    errors = rig.rec("command-error")
    assert errors and errors[0]["command"] == "DcContactor" and "unanswered" in errors[0]["error"]
    closes = [c for c in rig.commands if isinstance(c, dm.DcContactor) and c.close]
    assert len(closes) == 2 and closes[0] is closes[1]  # the same command, again
    assert rig.ctrl.dc.phase == dm.DC_CLOSED
