"""The host's link client against our firmware on a DC board: the DC commands are
ordered commands like the rest (acked, with the Status after them), the firmware's
DcStatus reaches the host as a report and as `LinkClient.dc_status`."""

from __future__ import annotations

from firmware.app.controller import Controller
from firmware.app.linkserver import LinkServer
from firmware.link import dcmessages as dm
from firmware.link import messages as m
from host.link import events as ev
from tests.firmware.vmcheck import DcFakeHal, dc_board
from tests.host.link.test_protocol import Pair


def _dc_pair() -> Pair:
    p = Pair()
    p.hal = DcFakeHal()
    p.ctrl = Controller(p.hal, dc_board(), 0)
    p.fw = LinkServer(p.ctrl, b"sim-dc", 1, 0)
    p.fw.on_applied = p.applied.append
    p.host.connect(p.t)
    p.pump()
    assert len(p.of(ev.LinkUp)) == 1
    return p


def test_cable_check_and_close_over_the_link_client() -> None:
    p = _dc_pair()
    p.hal.set_cp(6000)
    for cmd in (m.SetPilot(m.PILOT_PWM, 500), m.PowerLease(1, 0, 800, 5000, 40000)):
        p.host.send(cmd, p.t)
        p.pump()
    p.advance(0.1)
    seq = p.host.send(dm.IsolationRequest(1, 5000), p.t)
    p.pump()
    assert p.of(ev.CommandAcked)[-1].seq == seq
    p.advance(1.1)
    assert p.host.dc_status is not None and p.host.dc_status.isolation == dm.ISO_VALID
    seq = p.host.send(dm.DcContactor(1, 3600), p.t)
    p.pump()
    assert p.of(ev.CommandAcked)[-1].seq == seq
    p.advance(0.1)
    st = p.host.dc_status
    assert st.phase == dm.DC_CLOSED and st.stage == 1 and st.dc_link_dv == 3600
    assert p.host.status is not None and p.host.status.contactor == 1
    reports = [e.message for e in p.of(ev.FirmwareReported) if isinstance(e.message, dm.DcStatus)]
    assert [r.phase for r in reports].count(dm.DC_PRECHARGING) >= 1
    # a refused DC command is a rejection the host can read
    seq = p.host.send(dm.IsolationRequest(1, 5000), p.t)
    p.pump()
    rejected = p.of(ev.CommandRejected)[-1]
    assert rejected.seq == seq and rejected.describe() == "bad-state (IsolationRequest.run)"
