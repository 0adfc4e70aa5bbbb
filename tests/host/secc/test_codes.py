"""Every FAILED_* code the DIN and -2 EIM SECCs can send, and every SECC timer, has a test
that provokes it with a scripted EV on a fake clock.

The codes a SECC can send are read from its source (each handler's ``Code.FAILED_*``, plus
the two the core sends) and looked up in INDEX, which names the tests that provoke each
(handler, code); a handler path with no entry fails here, and so does an entry whose
path no longer exists. The schemas' responseCode enumerations are checked against what
is sent plus NOT_SENT, which says why each other code never comes from an EIM SECC. The
paths that had no test yet are tested below."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

from host.bench.dcplant import DcPlant
from host.ev.evcc.ev import SimEv
from host.ev.evcc.iso2 import Iso2Config, Iso2Evcc, ResponseReceived
from host.exi.schemas import din as d
from host.exi.schemas import iso2 as i
from host.secc import common, din, iso2
from host.secc.controller import SimEvseController, StopRequest
from host.secc.core import EndReason, RequestAnswered

from . import test_din as td
from . import test_iso2 as ti
from . import test_iso2_pair as tp

SECC_TESTS = Path(__file__).parent

# (handler, code) -> the tests that provoke it; "core" is SessionCore's own refusals
INDEX: dict[str, dict[tuple[str, str], list[Any]]] = {
    "din": {
        ("core", "FAILED_SequenceError"): [
            td.test_first_message_other_than_session_setup_is_a_sequence_error,
            td.test_request_out_of_sequence_gets_failed_sequence_error],
        ("core", "FAILED_UnknownSession"): [td.test_wrong_session_id_gets_failed_unknown_session],
        ("_authorize", "FAILED"): [
            td.test_contract_authentication_rejected_is_failed,
            td.test_contract_authentication_ongoing_past_its_limit_is_failed],
        ("cable_check", "FAILED"): [td.test_cable_check_fault_is_failed_with_the_isolation_level,
                                    td.test_cable_check_past_its_limit_is_failed],
        ("pre_charge", "FAILED"): [td.test_pre_charge_past_its_limit_is_failed],
        ("pre_charge", "FAILED_WrongChargeParameter"): [
            td.test_pre_charge_above_the_stage_maximum_is_a_wrong_charge_parameter],
        ("charge_parameter_discovery", "FAILED_WrongChargeParameter"): [
            td.test_charge_parameter_discovery_codes],
        ("charge_parameter_discovery", "FAILED_WrongEnergyTransferType"): [
            td.test_charge_parameter_discovery_codes],
        ("current_demand", "FAILED"): [
            td.test_station_emergency_during_current_demand_shuts_down_and_answers_failed],
        ("payment_selection", "FAILED_PaymentSelectionInvalid"): [td.test_payment_selection_codes],
        ("payment_selection", "FAILED_ServiceSelectionInvalid"): [td.test_payment_selection_codes],
        ("power_delivery", "FAILED_PowerDeliveryNotApplied"): [
            td.test_pre_charge_reports_the_ramp_and_power_delivery_needs_the_tolerance],
    },
    "iso2": {
        ("core", "FAILED_SequenceError"): [ti.test_sequence_error_out_of_order,
                                           ti.test_sequence_error_charging_status_in_a_dc_session,
                                           ti.test_sequence_error_current_demand_in_an_ac_session],
        ("core", "FAILED_UnknownSession"): [ti.test_unknown_session],
        ("_authorize", "FAILED"): [ti.test_authorization_rejected_is_failed,
                                   ti.test_authorization_ongoing_ends_after_its_limit],
        ("cable_check", "FAILED"): [ti.test_cable_check_ends_after_its_limit,
                                    "test_iso2_cable_check_fault_is_failed"],
        ("pre_charge", "FAILED"): [ti.test_pre_charge_ends_after_its_limit],
        ("pre_charge", "FAILED_WrongChargeParameter"): [
            ti.test_wrong_charge_parameter_precharge_target],
        ("_check_profile", "FAILED_ChargingProfileInvalid"): [ti.test_charging_profile_invalid],
        ("_check_profile", "FAILED_TariffSelectionInvalid"): [ti.test_tariff_selection_invalid],
        ("charge_parameter_discovery", "FAILED_WrongChargeParameter"): [
            ti.test_wrong_charge_parameter_type],
        ("charge_parameter_discovery", "FAILED_WrongEnergyTransferMode"): [
            ti.test_wrong_energy_transfer_mode],
        ("charging_status", "FAILED"): ["test_iso2_emergency_in_the_charge_loop_is_failed"],
        ("current_demand", "FAILED"): ["test_iso2_emergency_in_the_charge_loop_is_failed"],
        ("metering_receipt", "FAILED_SequenceError"): [
            ti.test_sequence_error_metering_receipt_not_asked_for],
        ("metering_receipt", "FAILED_UnknownSession"): [
            ti.test_metering_receipt_for_another_session],
        ("payment_selection", "FAILED_NoChargeServiceSelected"): [
            ti.test_payment_service_selection_codes],
        ("payment_selection", "FAILED_PaymentSelectionInvalid"): [
            ti.test_payment_service_selection_codes],
        ("payment_selection", "FAILED_ServiceSelectionInvalid"): [
            ti.test_payment_service_selection_codes],
        ("power_delivery", "FAILED"): [ti.test_renegotiate_is_refused],
        ("power_delivery", "FAILED_ContactorError"): [
            ti.test_contactor_error_when_the_contactors_do_not_close],
        ("power_delivery", "FAILED_PowerDeliveryNotApplied"): [
            ti.test_power_delivery_not_applied_before_precharge,
            ti.test_power_delivery_not_applied_while_the_station_wants_to_stop],
        ("service_detail", "FAILED_ServiceIDInvalid"): [ti.test_service_id_invalid],
    },
}  # fmt: skip

# every SECC timer -> its tests (fake clock)
TIMERS: dict[str, dict[str, list[Any]]] = {
    "din": {
        "V2G_SECC_CommunicationSetup_Timeout": [
            td.test_communication_setup_timeout_runs_from_the_tcp_accept],
        "V2G_SECC_Sequence_Timeout": [td.test_sequence_timeout_after_the_last_response,
                                      td.test_each_request_restarts_the_sequence_timer],
        "ContractAuthentication Ongoing": [
            td.test_contract_authentication_ongoing_past_its_limit_is_failed],
        "CableCheck Ongoing": [td.test_cable_check_past_its_limit_is_failed],
        "PreCharge Ongoing": [td.test_pre_charge_past_its_limit_is_failed],
        "per-message performance": ["test_each_response_comes_in_the_call_of_its_request"],
    },
    "iso2": {
        "V2G_SECC_CommunicationSetup_Timeout": [ti.test_communication_setup_timeout],
        "V2G_SECC_Sequence_Timeout": [ti.test_sequence_timeout],
        "Authorization Ongoing": [ti.test_authorization_ongoing_ends_after_its_limit],
        "CableCheck Ongoing": [ti.test_cable_check_ends_after_its_limit],
        "PreCharge Ongoing": [ti.test_pre_charge_ends_after_its_limit],
        "per-message performance": ["test_each_response_comes_in_the_call_of_its_request"],
    },
}  # fmt: skip

PNC = "Plug & Charge (PaymentDetails, the signed Authorization, certificates): not EIM"
NOT_SENT: dict[str, dict[str, str]] = {
    "din": {
        "FAILED_SignatureError": PNC, "FAILED_CertChainError": PNC,
        "FAILED_CertificateExpired": PNC,
        "FAILED_ChallengeInvalid": PNC, "FAILED_ContractCanceled": PNC,
        "FAILED_NoCertificateAvailable": PNC,
        "FAILED_ServiceIDInvalid": "DIN ServiceDetail is not offered (FAILED_SequenceError)",
        "FAILED_TariffSelectionInvalid": "one SAScheduleTuple, the EV's choice is not checked",
        "FAILED_ChargingProfileInvalid": "DIN ChargingProfile is not checked",
        "FAILED_EVSEPresentVoltageToLow": "PreCharge ramps until the EV is satisfied",
        "FAILED_MeteringSignatureNotValid": "no MeteringReceipt in DIN DC",
    },
    "iso2": {
        "FAILED_SignatureError": PNC, "FAILED_CertChainError": PNC,
        "FAILED_CertificateExpired": PNC, "FAILED_CertificateRevoked": PNC,
        "FAILED_CertificateNotAllowedAtThisEVSE": PNC, "FAILED_ChallengeInvalid": PNC,
        "FAILED_ContractCanceled": PNC, "FAILED_NoCertificateAvailable": PNC,
        "FAILED_MeteringSignatureNotValid": "EIM receipts carry no signature",
    },
}  # fmt: skip

MODULES = {"din": (din, d), "iso2": (iso2, i)}
CORE = {("core", "FAILED_SequenceError"), ("core", "FAILED_UnknownSession")}


def sent_paths(module: Any) -> set[tuple[str, str]]:
    """(handler, code) for each ``X.FAILED*`` in the SECC module and the shared handlers."""
    found = set(CORE)
    for source in (inspect.getsource(common), inspect.getsource(module)):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef):
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Attribute) and sub.attr.startswith("FAILED"):
                        found.add((node.name, sub.attr))
    return found


def _named(test: Any) -> str:
    return test if isinstance(test, str) else test.__name__


@pytest.mark.parametrize("protocol", ["din", "iso2"])
def test_every_failed_path_has_a_test(protocol: str) -> None:
    module, schema = MODULES[protocol]
    paths = sent_paths(module)
    index = INDEX[protocol]
    tests_text = "\n".join(p.read_text() for p in SECC_TESTS.glob("test_*.py"))
    pnc = {code for code, why in NOT_SENT[protocol].items() if why == PNC}
    missing = []
    for handler, code in sorted(paths - set(index)):
        # a Plug & Charge path (its own worktree) may be tested by any SECC test file
        if not (code in pnc and code in tests_text.replace(f'"{code}"', "")):
            missing.append(f"{handler}: {code}")
    assert not missing, f"{protocol}: FAILED paths with no test in INDEX: {missing}"
    assert not set(index) - paths, f"{protocol}: INDEX names paths that no longer exist"
    for tests in index.values():
        for test in tests:
            assert _named(test).startswith("test_")
            assert _named(test) in tests_text, test


@pytest.mark.parametrize("protocol", ["din", "iso2"])
def test_every_schema_code_is_sent_or_said_why_not(protocol: str) -> None:
    _module, schema = MODULES[protocol]
    codes = {c.value for c in schema.responseCodeType if c.value.startswith("FAILED")}
    sent = {code for _handler, code in sent_paths(MODULES[protocol][0])}
    assert sent <= codes  # no typo in the source
    assert set(NOT_SENT[protocol]) <= codes  # nor here
    unexplained = codes - sent - set(NOT_SENT[protocol])
    assert not unexplained, f"{protocol}: neither sent nor said why not: {unexplained}"


def test_every_timer_has_a_test() -> None:
    tests_text = "\n".join(p.read_text() for p in SECC_TESTS.glob("test_*.py"))
    for protocol, timers in TIMERS.items():
        module = MODULES[protocol][0]
        k = din.k if protocol == "din" else iso2.k
        assert k.COMMUNICATION_SETUP_TIMEOUT == 20.0 and k.SEQUENCE_TIMEOUT == 60.0
        assert {"V2G_SECC_CommunicationSetup_Timeout", "V2G_SECC_Sequence_Timeout",
                "CableCheck Ongoing", "PreCharge Ongoing"} <= set(timers), module  # fmt: skip
        for tests in timers.values():
            assert all(f"def {_named(t)}(" in tests_text for t in tests)


# --- the paths that had no test --------------------------------------------------------------


def test_iso2_cable_check_fault_is_failed() -> None:
    script, controller = ti.make()
    controller.plant.insulation_ohm = 10_000.0  # 20 ohm/V at 500 V: a fault
    ti.to_power_delivery(script, ti.DC)
    res = script.send(i.CableCheckReq(DC_EVStatus=ti.ev_status()), 0.0)
    assert res.EVSEProcessing is i.EVSEProcessingType.Ongoing
    res = script.send(i.CableCheckReq(DC_EVStatus=ti.ev_status()), 2.0)
    ti.assert_failed(script, res, ti.C.FAILED)
    assert res.DC_EVSEStatus.EVSEIsolationStatus is i.isolationLevelType.Fault
    assert not controller.plant.energised


@pytest.mark.parametrize("mode", [ti.DC, ti.AC], ids=["DC", "AC"])
def test_iso2_emergency_in_the_charge_loop_is_failed(mode: Any) -> None:
    plant = DcPlant(isolation_time=1.0)
    controller = SimEvseController(plant)
    pair = tp.Iso2Pair(Iso2Evcc(SimEv(plant.battery, charge_for=1000.0), Iso2Config(mode=mode)),
                       controller)  # fmt: skip
    loop = "CurrentDemandReq" if mode is ti.DC else "ChargingStatusReq"
    pair.run(stop_at=lambda p: p.evcc.sent.count(loop) >= 3)
    assert plant.contactors_closed
    controller.stop = StopRequest.EMERGENCY
    pair.run()
    assert pair.answered()[-1] == (loop, "FAILED")
    assert pair.ended().reason is EndReason.FAILED
    assert not plant.energised and not plant.contactors_closed
    assert controller.ended == EndReason.FAILED.value


@pytest.mark.parametrize("protocol", ["din", "iso2-dc", "iso2-ac"])
def test_each_response_comes_in_the_call_of_its_request(protocol: str) -> None:
    """The SECC's per-message performance time: on the fake clock every answer leaves in
    the call that took its request (no answer is deferred to a later event or timer), so
    the SECC adds nothing to the EV's V2G_EVCC_Msg_Timeout budget but the driver's I/O
    (measured by benchmarks/secc.py)."""
    if protocol == "din":
        pair, _plant = td._pair()
        pair.run()
    else:
        pair = tp.session(ti.DC if protocol == "iso2-dc" else ti.AC)
    answered = [e for e in pair.secc_events if isinstance(e, RequestAnswered)]
    received = [e for e in pair.ev_events if isinstance(e, ResponseReceived)]
    assert len(answered) == len(received) > 10
    for request, response in zip(answered, received, strict=True):
        assert request.request.replace("Req", "Res") == response.name
        assert response.at == request.at  # the same instant on the fake clock
