"""NotifyEVChargingNeeds / NotifyEVChargingSchedule from ISO 15118 -2 and -20 messages:
the values, their units (multipliers, exponents), the V2X parameters on 2.1 only, and
schema-valid payloads on 2.1 and 2.0.1."""

from __future__ import annotations

import pytest

from host.exi.schemas import iso2 as i
from host.exi.schemas import iso20_common_messages as cm
from host.exi.schemas import iso20_common_types as ct
from host.exi.schemas import iso20_dc as dc
from host.ocpp import rpc
from host.ocpp.evneeds import (
    charging_needs,
    needs_from_iso2,
    needs_from_iso20,
    schedule_from_iso2,
    schedule_from_iso20,
)
from host.ocpp.store import iso_time

T0 = 1_800_000_000.0


def pv(value: int, mult: int, unit: str) -> i.PhysicalValueType:
    return i.PhysicalValueType(Multiplier=mult, Unit=i.unitSymbolType(unit), Value=value)


def rn(value: int, exp: int = 0) -> ct.RationalNumberType:
    return ct.RationalNumberType(Exponent=exp, Value=value)


def valid(action: str, payload: dict, versions: tuple[str, ...] = ("2.1", "2.0.1")) -> dict:
    for version in versions:
        assert rpc.schema_error(rpc.CALL, action, payload, version) is None, (version, payload)
    return payload


def test_iso2_ac_needs() -> None:
    req = i.ChargeParameterDiscoveryReq(
        RequestedEnergyTransferMode=i.EnergyTransferModeType.AC_three_phase_core,
        EVChargeParameter=i.AC_EVChargeParameter(
            DepartureTime=7200, EAmount=pv(25, 3, "Wh"), EVMaxVoltage=pv(400, 0, "V"),
            EVMaxCurrent=pv(320, -1, "A"), EVMinCurrent=pv(6, 0, "A")))  # fmt: skip
    needs = needs_from_iso2(req, T0)
    assert needs == {"requestedEnergyTransfer": "AC_three_phase", "departureTime": iso_time(T0 + 7200),
                     "acChargingParameters": {"energyAmount": 25000.0, "evMinCurrent": 6.0,
                                              "evMaxCurrent": 32.0, "evMaxVoltage": 400.0}}  # fmt: skip
    valid("NotifyEVChargingNeeds", charging_needs(1, needs, T0, max_tuples=3), versions=("2.1",))
    old = needs_from_iso2(req, T0, version="2.0.1")["acChargingParameters"]
    assert old == {"energyAmount": 25000, "evMinCurrent": 6, "evMaxCurrent": 32, "evMaxVoltage": 400}
    valid("NotifyEVChargingNeeds", charging_needs(1, needs_from_iso2(req, T0, "2.0.1"), T0))


def test_iso2_dc_needs() -> None:
    req = i.ChargeParameterDiscoveryReq(
        RequestedEnergyTransferMode=i.EnergyTransferModeType.DC_extended,
        EVChargeParameter=i.DC_EVChargeParameter(
            DC_EVStatus=i.DC_EVStatusType(EVReady=True, EVErrorCode=i.DC_EVErrorCodeType.NO_ERROR,
                                          EVRESSSOC=42),
            EVMaximumCurrentLimit=pv(200, 0, "A"), EVMaximumPowerLimit=pv(150, 3, "W"),
            EVMaximumVoltageLimit=pv(920, 0, "V"), EVEnergyCapacity=pv(77, 3, "Wh"),
            EVEnergyRequest=pv(40, 3, "Wh"), FullSOC=100, BulkSOC=80))  # fmt: skip
    needs = needs_from_iso2(req, T0)
    assert needs == {"requestedEnergyTransfer": "DC", "dcChargingParameters": {
        "evMaxCurrent": 200.0, "evMaxVoltage": 920.0, "stateOfCharge": 42, "evMaxPower": 150000.0,
        "evEnergyCapacity": 77000.0, "energyAmount": 40000.0, "fullSoC": 100, "bulkSoC": 80}}
    valid("NotifyEVChargingNeeds", charging_needs(1, needs, T0), versions=("2.1",))
    valid("NotifyEVChargingNeeds", charging_needs(1, needs_from_iso2(req, T0, "2.0.1"), T0))


def _bpt_cpd() -> dc.DC_ChargeParameterDiscoveryReq:
    header = ct.MessageHeaderType(SessionID=bytes(8), TimeStamp=int(T0))
    mode = dc.BPT_DC_CPDReqEnergyTransferMode(
        EVMaximumChargePower=rn(50, 3), EVMinimumChargePower=rn(0), EVMaximumChargeCurrent=rn(125),
        EVMinimumChargeCurrent=rn(0), EVMaximumVoltage=rn(450), EVMinimumVoltage=rn(250),
        TargetSOC=90, EVMaximumDischargePower=rn(11, 3), EVMinimumDischargePower=rn(0),
        EVMaximumDischargeCurrent=rn(300, -1), EVMinimumDischargeCurrent=rn(0))  # fmt: skip
    return dc.DC_ChargeParameterDiscoveryReq(Header=header, DC_CPDReqEnergyTransferMode=mode)


def _dynamic() -> cm.ScheduleExchangeReq:
    header = ct.MessageHeaderType(SessionID=bytes(8), TimeStamp=int(T0))
    control = cm.Dynamic_SEReqControlModeType(
        DepartureTime=3600, TargetSOC=90, EVTargetEnergyRequest=rn(30, 3),
        EVMaximumEnergyRequest=rn(40, 3), EVMinimumEnergyRequest=rn(-5, 3),
        EVMaximumV2XEnergyRequest=rn(35, 3), EVMinimumV2XEnergyRequest=rn(2, 3))  # fmt: skip
    return cm.ScheduleExchangeReq(Header=header, MaximumSupportingPoints=24,
                                  Dynamic_SEReqControlMode=control)  # fmt: skip


def test_iso20_dc_bpt_needs_carry_the_v2x_parameters_on_2_1() -> None:
    needs = needs_from_iso20("DC_BPT", _bpt_cpd(), _dynamic(), T0)
    assert needs["requestedEnergyTransfer"] == "DC_BPT"
    assert needs["controlMode"] == "DynamicControl"
    assert needs["departureTime"] == iso_time(T0 + 3600)
    assert needs["dcChargingParameters"] == {"evMaxCurrent": 125.0, "evMaxVoltage": 450.0,
                                             "evMaxPower": 50000.0}  # fmt: skip
    assert needs["v2xChargingParameters"] == {
        "minChargePower": 0.0, "maxChargePower": 50000.0, "minDischargePower": 0.0,
        "maxDischargePower": 11000.0, "minChargeCurrent": 0.0, "maxChargeCurrent": 125.0,
        "minDischargeCurrent": 0.0, "maxDischargeCurrent": 30.0, "minVoltage": 250.0,
        "maxVoltage": 450.0, "targetSoC": 90, "evTargetEnergyRequest": 30000.0,
        "evMinEnergyRequest": -5000.0, "evMaxEnergyRequest": 40000.0,
        "evMaxV2XEnergyRequest": 35000.0, "evMinV2XEnergyRequest": 2000.0}
    valid("NotifyEVChargingNeeds", charging_needs(1, needs, T0), versions=("2.1",))


def test_on_2_0_1_the_same_ev_is_plain_dc() -> None:
    needs = needs_from_iso20("DC_BPT", _bpt_cpd(), _dynamic(), T0, version="2.0.1")
    assert needs == {"requestedEnergyTransfer": "DC", "departureTime": iso_time(T0 + 3600),
                     "dcChargingParameters": {"evMaxCurrent": 125, "evMaxVoltage": 450,
                                              "evMaxPower": 50000}}  # fmt: skip
    valid("NotifyEVChargingNeeds", charging_needs(1, needs, T0))
    with pytest.raises(AssertionError):  # the 2.1 form is not 2.0.1
        valid("NotifyEVChargingNeeds", charging_needs(1, needs_from_iso20("DC_BPT", _bpt_cpd(),
                                                                           _dynamic(), T0), T0),
              versions=("2.0.1",))  # fmt: skip


def test_ev_charging_schedules() -> None:
    profile = i.ChargingProfileType(ProfileEntry=[
        i.ProfileEntryType(ChargingProfileEntryStart=0, ChargingProfileEntryMaxPower=pv(11, 3, "W"),
                           ChargingProfileEntryMaxNumberOfPhasesInUse=3),
        i.ProfileEntryType(ChargingProfileEntryStart=1800, ChargingProfileEntryMaxPower=pv(37, 2, "W"))])  # fmt: skip
    got = valid("NotifyEVChargingSchedule", schedule_from_iso2(1, 2, profile, T0))
    assert got["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 11000.0, "numberPhases": 3}, {"startPeriod": 1800, "limit": 3700.0}]
    pp = cm.EVPowerProfileType(TimeAnchor=int(T0), EVPowerProfileEntries=cm.EVPowerProfileEntryListType(
        EVPowerProfileEntry=[cm.PowerScheduleEntryType(Duration=600, Power=rn(7, 3)),
                             cm.PowerScheduleEntryType(Duration=900, Power=rn(-5, 3))]))  # fmt: skip
    got = valid("NotifyEVChargingSchedule", schedule_from_iso20(1, 4, pp), versions=("2.1",))
    assert got["timeBase"] == iso_time(T0)
    assert got["chargingSchedule"]["duration"] == 1500
    assert [(p["startPeriod"], p["limit"]) for p in got["chargingSchedule"]["chargingSchedulePeriod"]] == [
        (0, 7000.0), (600, -5000.0)]


def test_notify_allowed_energy_transfer(tmp_path) -> None:
    import json

    from host.ocpp.evneeds import attach_allowed_energy_transfer

    from .helpers import accepted, sent

    st = accepted(tmp_path, "ocpp2.1")
    got: list = []
    attach_allowed_energy_transfer(st, lambda tx, modes: got.append((tx, modes)))
    st.transaction_started("tx-1", now=T0, trigger_reason="Authorized", evse_id=1)
    sent(st)
    req = {"transactionId": "tx-1", "allowedEnergyTransfer": ["DC", "DC_BPT"]}
    st.receive(json.dumps([2, "a1", "NotifyAllowedEnergyTransfer", req]), T0)
    st.receive(json.dumps([2, "a2", "NotifyAllowedEnergyTransfer", dict(req, transactionId="tx-9")]), T0)
    assert sent(st) == [[3, "a1", {"status": "Accepted"}],
                        [3, "a2", {"status": "Rejected", "statusInfo": {
                            "reasonCode": "UnknownTransaction", "additionalInfo": "tx-9"}}]]  # fmt: skip
    assert got == [("tx-1", ["DC", "DC_BPT"])]
