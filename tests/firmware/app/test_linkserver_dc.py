# firmware-vm
"""The link's DC commands and report: DcContactor and IsolationRequest reach the DC stage
(an unknown type on a board without DC hardware), the DC SetConfig keys, and DcStatus on
every change and with every Telemetry."""

from firmware.app.controller import Controller
from firmware.app.linkserver import LinkServer
from firmware.link import dcmessages as dm
from firmware.link import messages as m
from tests.firmware.app.test_linkserver import Fw, ack_of, nacks
from tests.firmware.vmcheck import DcFakeHal, dc_board


class DcFw(Fw):
    def __init__(self, epoch=100):
        Fw.__init__(self, epoch=epoch)
        self.hal = DcFakeHal()
        self.c = Controller(self.hal, dc_board(), 0)
        self.s = LinkServer(self.c, b"sim-dc", 1, 0, epoch=epoch)
        self.s.data_to_send()
        self.s.on_applied = self.applied.append

    def tick(self, ms):
        end = self.now + ms
        while self.now < end:
            self.now += 10
            self.c.host_alive(self.now)
            self.c.tick(self.now)
            self.s.poll(self.now)
        return self.replies()


def _dc(out):
    return [x for x in out if isinstance(x, dm.DcStatus)]


def test_dc_commands_on_an_ac_board_are_unknown_and_its_keys_bad_state():
    # an AC board never loads the DC messages (firmware/link/dcmessages.py); where the
    # module is loaded anyway (this test process), the AC link server has no handler
    fw = Fw()
    fw.hello()
    out = fw.send(dm.DcContactor(1, 3600), 2)
    assert nacks(out) == [(dm.DcContactor.TYPE, 2, m.NACK_UNKNOWN_TYPE, 0xFF)]
    out = fw.send(dm.IsolationRequest(1, 5000), 3)
    assert nacks(out) == [(dm.IsolationRequest.TYPE, 3, m.NACK_UNKNOWN_TYPE, 0xFF)]
    out = fw.send(m.SetConfig(m.CFG_DC_PRECHARGE_MS, 2000), 4)
    assert nacks(out) == [(m.SetConfig.TYPE, 4, m.NACK_BAD_STATE, 0)]
    assert fw.c.want_mode == m.PILOT_X1 and not fw.applied


def test_cable_check_then_close_over_the_link_with_dc_status_on_each_change():
    fw = DcFw()
    fw.hello()
    fw.send(m.SetPilot(m.PILOT_PWM, 500), 2)
    fw.hal.set_cp(6000)
    fw.send(m.PowerLease(1, 0, 800, 5000, 40000), 3)
    fw.tick(100)  # the connector locked (its pulse is 50 ms): a CableCheck needs it
    out = fw.send(dm.IsolationRequest(1, 5000), 4)
    assert ack_of(out[0]) == (dm.IsolationRequest.TYPE, 4)
    seen = _dc(fw.tick(20))
    assert seen and seen[-1].isolation == dm.ISO_RUNNING and seen[-1].stage == 1
    seen = _dc(fw.tick(1000))
    assert seen[-1].isolation == dm.ISO_VALID and seen[-1].imd_kohm == 5000
    out = fw.send(dm.DcContactor(1, 3600), 5)
    assert ack_of(out[0]) == (dm.DcContactor.TYPE, 5)
    phases = [x.phase for x in _dc(fw.tick(100))]
    assert dm.DC_PRECHARGING in phases and phases[-1] == dm.DC_CLOSED
    last = _dc(fw.tick(1000))[-1]  # with the telemetry
    assert last.pair == dm.DC_PLUS | dm.DC_MINUS | dm.DC_PLUS_AUX | dm.DC_MINUS_AUX
    assert last.dc_link_dv == 3600 and last.stage == 1
    out = fw.send(dm.DcContactor(0, 0), 6)
    status = [x for x in out if isinstance(x, m.Status)][-1]
    assert status.contactor == 1  # the command sets what is wanted; the tick acts
    after = _dc(fw.tick(10))
    driven = dm.DC_PLUS | dm.DC_MINUS | dm.DC_PRECHARGE  # the aux contacts are read next tick
    assert after[-1].phase == dm.DC_SETTLING and after[-1].pair & driven == 0 and after[-1].stage == 0


def test_isolation_request_with_the_pair_closed_is_bad_state_and_keys_apply():
    fw = DcFw()
    fw.hello()
    out = fw.send(m.SetConfig(m.CFG_DC_PRECHARGE_TOL, 50), 2)
    assert ack_of(out[0]) == (m.SetConfig.TYPE, 2) and fw.c.dc.tolerance_dv == 50
    out = fw.send(m.SetConfig(m.CFG_DC_IMD_ALARM, 100001), 3)
    assert nacks(out)[0] == (m.SetConfig.TYPE, 3, m.NACK_OUT_OF_RANGE, 1)
    fw.c.dc.phase = dm.DC_CLOSED
    out = fw.send(dm.IsolationRequest(1, 5000), 4)
    assert nacks(out)[0] == (dm.IsolationRequest.TYPE, 4, m.NACK_BAD_STATE, 0)
