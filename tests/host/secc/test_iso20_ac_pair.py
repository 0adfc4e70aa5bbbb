"""Our -20 EVCC against our -20 SECC for AC and AC_BPT, scheduled and dynamic: the session
without cable check, pre-charge or welding detection, three-phase targets, discharge under
the same rules as DC, and the messages through the reference codec."""

from __future__ import annotations

from typing import Any

import pytest

from host import exi
from host.ev.evcc.iso20 import SessionStopped
from host.exi.schemas import iso20_ac as acs
from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import iso20_dc as dcs
from host.secc import iso20_constants as k
from host.secc.controller import AcLimits, ExportRules, StopRequest
from host.secc.core import EndReason
from host.secc.iso20_ac import Iso20AcSecc
from host.secc.iso20_values import from_rational, rational
from host.v2g.v2gtp import PayloadType
from tests.host.secc.iso20_helpers import SID, Iso20Pair, Script, bpt_plant, make_secc, pair

AC, AC_BPT = k.SERVICE_AC, k.SERVICE_AC_BPT
SCHEDULED, DYNAMIC = k.CONTROL_SCHEDULED, k.CONTROL_DYNAMIC
SEQUENCE = ["SessionSetupReq", "AuthorizationSetupReq", "AuthorizationReq",
            "ServiceDiscoveryReq", "ServiceDetailReq", "ServiceSelectionReq",
            "AC_ChargeParameterDiscoveryReq", "ScheduleExchangeReq", "PowerDeliveryReq",
            "AC_ChargeLoopReq"]


def check_complete(p: Iso20Pair) -> None:
    assert isinstance(p.evcc.result, SessionStopped), (p.evcc.result, p.answered()[-3:])
    names = p.names()
    assert names[:len(SEQUENCE)] == SEQUENCE
    assert names[-2:] == ["PowerDeliveryReq", "SessionStopReq"]
    assert not {"DC_CableCheckReq", "DC_PreChargeReq", "DC_WeldingDetectionReq"} & set(names)
    assert all(code.startswith("OK") for _name, code in p.answered()), p.answered()
    assert p.ended().reason is EndReason.STOPPED
    assert not p.controller.plant.contactors_closed and not p.controller.plant.energised


@pytest.mark.parametrize("mode", [SCHEDULED, DYNAMIC])
def test_ac_session_charges_at_the_evs_power(mode):
    p = pair(AC, mode)
    check_complete(p)
    assert p.evcc.targets and max(p.evcc.targets) == pytest.approx(11_000, abs=5)
    assert p.controller.plant.energy_in_wh > 5 and p.controller.plant.energy_out_wh == 0


def test_ac_station_limit_caps_the_target_and_targets_are_per_phase():
    p = pair(AC, SCHEDULED, run=False)
    p.controller.ac = AcLimits(230.0, 10.0, 3)  # 6.9 kW over three phases
    p.run()
    check_complete(p)
    assert max(p.evcc.targets) == pytest.approx(6_900, abs=5)
    assert p.secc.controller.ac_limits().phases == 3


def test_ac_service_never_discharges():
    p = pair(AC, SCHEDULED, discharge=True)
    check_complete(p)
    assert p.controller.plant.energy_out_wh == 0 and min(p.evcc.targets) >= 0


def test_ac_bpt_scheduled_discharge_under_the_export_limit():
    p = pair(AC_BPT, SCHEDULED, discharge=True, export=ExportRules(True, 7_000.0, 0.4))
    check_complete(p)
    assert min(p.evcc.targets) == pytest.approx(-7_000, abs=5)
    assert p.controller.plant.energy_out_wh > 2


def test_ac_bpt_dynamic_follows_the_setpoint_and_the_export_enable():
    p = pair(AC_BPT, DYNAMIC, setpoint=-5_000.0, charge_for=60.0, run=False)
    p.run(stop_at=lambda q: q.loops() >= 2)
    assert p.evcc.targets[-1] == pytest.approx(-5_000, abs=5)
    p.controller.export = ExportRules(False, 7_000.0, 0.4)
    seen = p.loops()
    p.run(stop_at=lambda q: q.loops() > seen)
    assert p.evcc.targets[-1] == 0 and p.secc.last_power == 0
    p.controller.setpoint = 4_000.0
    seen = p.loops()
    p.run(stop_at=lambda q: q.loops() > seen)
    assert p.evcc.targets[-1] == pytest.approx(4_000, abs=5)
    p.controller.stop = StopRequest.STOP
    p.run()
    check_complete(p)
    assert p.evcc.notifications[-1] == "Terminate"


def test_ac_bpt_at_the_soc_floor_charges_but_does_not_discharge():
    p = pair(AC_BPT, DYNAMIC, plant=bpt_plant(soc=0.4), setpoint=-5_000.0,
             export=ExportRules(True, 7_000.0, 0.4))
    check_complete(p)
    assert p.controller.plant.energy_out_wh == 0 and set(p.evcc.targets) == {0.0}


def test_three_phase_targets_on_the_wire():
    p = pair(AC, DYNAMIC, run=False)
    p.controller.ac = AcLimits(230.0, 10.0, 3)
    p.run()
    answers = [exi.decode(ns, data) for ns, data in p.evcc.exchanged if ns == acs.NAMESPACE]
    loop = [a for a in answers if isinstance(a, acs.AC_ChargeLoopRes)][-1]
    control = loop.CLResControlMode
    phases = [control.EVSETargetActivePower, control.EVSETargetActivePower_L2,
              control.EVSETargetActivePower_L3]
    assert [from_rational(v) for v in phases] == [pytest.approx(2_300, abs=2)] * 3


# --- the AC SECC's own FAILED codes, scripted -------------------------------------------------


def _to_cpd(service: int = AC_BPT) -> Script:
    secc, _controller = make_secc(cls=Iso20AcSecc)
    script = Script(secc)
    H = m.MessageHeaderType(SessionID=bytes(8), TimeStamp=0)
    for request in (m.SessionSetupReq(Header=H, EVCCID="E"), m.AuthorizationSetupReq(Header=H),
                    m.AuthorizationReq(Header=H, SelectedAuthorizationService=(
                        m.authorizationType.EIM), EIM_AReqAuthorizationMode=(
                        m.EIM_AReqAuthorizationModeType())),
                    m.ServiceDiscoveryReq(Header=H),
                    m.ServiceSelectionReq(Header=H, SelectedEnergyTransferService=(
                        m.SelectedServiceType(ServiceID=service, ParameterSetID=2)))):
        assert script.send(request, 0.0).ResponseCode.value.startswith("OK")
    return script


def _cpd(cls: Any, min_power: float = 0.0) -> acs.AC_ChargeParameterDiscoveryReq:
    bpt = {"EVMaximumDischargePower": rational(5_000), "EVMinimumDischargePower": rational(0)}
    mode = cls(EVMaximumChargePower=rational(11_000), EVMinimumChargePower=rational(min_power),
               **(bpt if cls is acs.BPT_AC_CPDReqEnergyTransferMode else {}))
    return acs.AC_ChargeParameterDiscoveryReq(Header=m.MessageHeaderType(
        SessionID=bytes(8), TimeStamp=0), AC_CPDReqEnergyTransferMode=mode)


@pytest.mark.parametrize("request_", [
    _cpd(acs.AC_CPDReqEnergyTransferMode),  # AC_BPT selected, plain AC parameters
    _cpd(acs.BPT_AC_CPDReqEnergyTransferMode, min_power=50_000.0),  # above the station
])  # fmt: skip
def test_ac_wrong_charge_parameters(request_):
    script = _to_cpd()
    res = script.send(request_, 0.1)
    assert res.ResponseCode is m.responseCodeType.FAILED_WrongChargeParameter
    assert script.secc.end is not None and script.secc.end.reason is EndReason.FAILED


def test_a_dc_request_in_an_ac_session_does_not_decode():
    script = _to_cpd()
    payload = exi.encode(dcs.DC_CableCheckReq(Header=m.MessageHeaderType(
        SessionID=SID, TimeStamp=0)), dcs.NAMESPACE)
    script.secc.receive(PayloadType.ISO20_DC, payload, 0.1)
    assert script.secc.end.reason is EndReason.UNDECODABLE
