"""DIN SPEC 70121 DC SECC, external identification (EIM) only, on the shared session core.

The message sequence is the table below (DIN §8.4 / Figure 107 order); the core answers
everything outside it with FAILED_SequenceError ([V2G-DC-666] as EVerest cites it), a wrong
SessionID with FAILED_UnknownSession ([V2G-DC-391]), and ends the session after any FAILED
answer ([V2G-DC-665]). SessionStopReq is also taken before power flowed (after
ChargeParameterDiscovery), since an EV that gives up in CableCheck or PreCharge ends that way.

Everything about the station goes through ``EvseController``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import Enum, auto
from typing import Any

from host.exi.schemas import din as d
from host.v2g.protocol import ProtocolFactory, SessionContext

from . import din_constants as k
from .common import V2gSecc
from .controller import EvseController, Insulation
from .core import Reply, SessionStarted, Step, step
from .physical import from_physical, to_physical

NAMESPACE = d.NAMESPACE
Code = d.responseCodeType
MAX_PAYLOAD = 8 * 1024  # DIN messages carry no certificates here (EIM only)


class State(Enum):
    """What the SECC waits for next."""

    SESSION_SETUP = auto()
    SERVICE_DISCOVERY = auto()
    PAYMENT_SELECTION = auto()
    CONTRACT_AUTHENTICATION = auto()
    CHARGE_PARAMETER_DISCOVERY = auto()
    CABLE_CHECK = auto()
    PRE_CHARGE = auto()  # PreChargeReq, or PowerDeliveryReq to start
    CURRENT_DEMAND = auto()  # CurrentDemandReq, or PowerDeliveryReq to stop
    WELDING_DETECTION = auto()  # WeldingDetectionReq or SessionStopReq
    STOPPED = auto()


S = State


# (state, request) -> handler and the states it may lead to: the whole DIN sequence
TABLE: dict[tuple[State, type], Step] = {
    (S.SESSION_SETUP, d.SessionSetupReq): step("session_setup", S.SERVICE_DISCOVERY),
    (S.SERVICE_DISCOVERY, d.ServiceDiscoveryReq): step("service_discovery",
                                                       S.PAYMENT_SELECTION),
    (S.PAYMENT_SELECTION, d.ServicePaymentSelectionReq): step(
        "payment_selection", S.CONTRACT_AUTHENTICATION),
    (S.CONTRACT_AUTHENTICATION, d.ContractAuthenticationReq): step(
        "contract_authentication", S.CONTRACT_AUTHENTICATION, S.CHARGE_PARAMETER_DISCOVERY),
    (S.CHARGE_PARAMETER_DISCOVERY, d.ChargeParameterDiscoveryReq): step(
        "charge_parameter_discovery", S.CHARGE_PARAMETER_DISCOVERY, S.CABLE_CHECK),
    (S.CABLE_CHECK, d.CableCheckReq): step("cable_check", S.CABLE_CHECK, S.PRE_CHARGE),
    (S.PRE_CHARGE, d.PreChargeReq): step("pre_charge", S.PRE_CHARGE),
    (S.PRE_CHARGE, d.PowerDeliveryReq): step("power_delivery", S.CURRENT_DEMAND,
                                             S.WELDING_DETECTION, S.PRE_CHARGE),
    (S.CURRENT_DEMAND, d.CurrentDemandReq): step("current_demand", S.CURRENT_DEMAND),
    (S.CURRENT_DEMAND, d.PowerDeliveryReq): step("power_delivery", S.CURRENT_DEMAND,
                                                 S.WELDING_DETECTION),
    (S.WELDING_DETECTION, d.WeldingDetectionReq): step("welding_detection",
                                                       S.WELDING_DETECTION),
} | {  # fmt: skip
    (state, d.SessionStopReq): step("session_stop", S.STOPPED)
    for state in (S.CHARGE_PARAMETER_DISCOVERY, S.CABLE_CHECK, S.PRE_CHARGE,
                  S.WELDING_DETECTION)
}

REQUESTS = (d.SessionSetupReq, d.ServiceDiscoveryReq, d.ServicePaymentSelectionReq,
            d.ContractAuthenticationReq, d.ChargeParameterDiscoveryReq, d.CableCheckReq,
            d.PreChargeReq, d.PowerDeliveryReq, d.CurrentDemandReq, d.WeldingDetectionReq,
            d.SessionStopReq, d.ServiceDetailReq, d.PaymentDetailsReq,
            d.CertificateInstallationReq, d.CertificateUpdateReq, d.ChargingStatusReq,
            d.MeteringReceiptReq)  # fmt: skip
DC_TRANSFER = {d.EVRequestedEnergyTransferType.DC_core, d.EVRequestedEnergyTransferType.DC_extended}


def volts(value: float) -> d.PhysicalValueType:
    return to_physical(d.PhysicalValueType, d.unitSymbolType.V, value)


def amps(value: float) -> d.PhysicalValueType:
    return to_physical(d.PhysicalValueType, d.unitSymbolType.A, value)


def watts(value: float) -> d.PhysicalValueType:
    return to_physical(d.PhysicalValueType, d.unitSymbolType.W, value)


def evse_id_bytes(evse_id: str) -> bytes:
    """DIN SPEC 91286 EVSE ID as DIN's hexBinary: '0'..'9' as nibbles, '*' as 0xA, padded
    with 0xB ("49*89*6360" -> 49 A8 9A 63 60, the iso15118 package's example); an ID with
    other characters goes as ASCII."""
    if evse_id and all(ch in "0123456789*" for ch in evse_id):
        nibbles = "".join("a" if ch == "*" else ch for ch in evse_id)
        return bytes.fromhex(nibbles + "b" * (len(nibbles) % 2))
    return evse_id.encode()


def random_session_id() -> bytes:
    while True:
        sid = os.urandom(k.SESSION_ID_LEN)
        if sid != k.NEW_SESSION:
            return sid


class DinSecc(V2gSecc):
    schema = d
    states = State
    constants = k
    label = "DIN"
    MAX_PAYLOAD = MAX_PAYLOAD
    TABLE = TABLE
    REQUEST_TYPES = REQUESTS

    def __init__(self, context: SessionContext, controller: EvseController, *,
                 new_session_id: Callable[[], bytes] = random_session_id) -> None:  # fmt: skip
        super().__init__(context, new_session_id=new_session_id)
        self.controller = controller
        self.ev_id = ""
        self.isolation: Insulation | None = None
        self.ev_max_voltage = 0.0
        self.precharge_target: float | None = None
        self._phase_started: dict[State, float] = {}  # first request of an Ongoing phase

    # --- station state as DIN types ---------------------------------------------------

    def _status(self, now: float, *, monitoring: bool = False) -> d.DC_EVSEStatus:
        stop = self.controller.stop_requested(now)
        notification = (d.EVSENotificationType.StopCharging if stop is not None
                        else d.EVSENotificationType._None)  # fmt: skip
        return d.DC_EVSEStatus(EVSEIsolationStatus=self._isolation(),
                               EVSEStatusCode=self._dc_status_code(now, monitoring),
                               NotificationMaxDelay=0, EVSENotification=notification)

    def _charge_service(self) -> d.ServiceCharge:
        return d.ServiceCharge(
            ServiceTag=d.ServiceTagType(ServiceID=k.CHARGE_SERVICE_ID,
                                        ServiceCategory=d.serviceCategoryType.EVCharging),
            FreeService=False,
            EnergyTransferType=d.EVSESupportedEnergyTransferType.DC_extended)  # fmt: skip

    def _charge_parameter(self, now: float) -> d.DC_EVSEChargeParameter:
        lim = self.controller.limits()
        return d.DC_EVSEChargeParameter(
            DC_EVSEStatus=self._status(now), EVSEMaximumCurrentLimit=amps(lim.max_current),
            EVSEMaximumPowerLimit=watts(lim.max_power),
            EVSEMaximumVoltageLimit=volts(lim.max_voltage),
            EVSEMinimumCurrentLimit=amps(lim.min_current),
            EVSEMinimumVoltageLimit=volts(lim.min_voltage),
            EVSECurrentRegulationTolerance=amps(lim.current_tolerance),
            EVSEPeakCurrentRipple=amps(lim.peak_current_ripple))  # fmt: skip

    def _schedules(self) -> d.SAScheduleList:
        # one tuple, no tariff; PMax in the schema's short (kW as the iso15118 SECC does)
        pmax = min(max(0, round(self.controller.limits().max_power / 1000)), 32767)
        entry = d.PMaxScheduleEntry(TimeInterval=d.RelativeTimeInterval(start=0, duration=86400),
                                    PMax=pmax)  # fmt: skip
        return d.SAScheduleList(SAScheduleTuple=[d.SAScheduleTupleType(
            SAScheduleTupleID=1,
            PMaxSchedule=d.PMaxScheduleType(PMaxScheduleID=1, PMaxScheduleEntry=[entry]))])

    # --- responses, also the FAILED ones the core sends ---------------------------------

    def respond(self, request: Any, code: Code, now: float, **fields: Any) -> Any:
        """The response to ``request`` with ``code``; mandatory fields from the station."""
        kind = type(request)
        if kind is d.SessionSetupReq:
            return d.SessionSetupRes(ResponseCode=code,
                                     EVSEID=evse_id_bytes(self.controller.evse_id))
        if kind is d.ServiceDiscoveryReq:
            return d.ServiceDiscoveryRes(
                ResponseCode=code, ChargeService=self._charge_service(),
                PaymentOptions=d.PaymentOptionsType(
                    PaymentOption=[d.paymentOptionType.ExternalPayment]))  # fmt: skip
        if kind is d.ServicePaymentSelectionReq:
            return d.ServicePaymentSelectionRes(ResponseCode=code)
        if kind is d.ContractAuthenticationReq:
            return d.ContractAuthenticationRes(
                ResponseCode=code,
                EVSEProcessing=fields.get("processing", d.EVSEProcessingType.Finished))
        if kind is d.ChargeParameterDiscoveryReq:
            return d.ChargeParameterDiscoveryRes(
                ResponseCode=code, EVSEProcessing=d.EVSEProcessingType.Finished,
                SASchedules=self._schedules(), EVSEChargeParameter=self._charge_parameter(now))
        if kind is d.CableCheckReq:
            return d.CableCheckRes(
                ResponseCode=code, DC_EVSEStatus=self._status(
                    now, monitoring=fields.get("monitoring", False)),
                EVSEProcessing=fields.get("processing", d.EVSEProcessingType.Finished))
        if kind is d.PreChargeReq:
            return d.PreChargeRes(ResponseCode=code, DC_EVSEStatus=self._status(now),
                                  EVSEPresentVoltage=volts(self.controller.present_voltage(now)))
        if kind is d.PowerDeliveryReq:
            return d.PowerDeliveryRes(ResponseCode=code, EVSEStatus=self._status(now))
        if kind is d.CurrentDemandReq:
            return d.CurrentDemandRes(DC_EVSEStatus=self._status(now),
                                      **self._demand_res_fields(code, now, fields))
        if kind is d.WeldingDetectionReq:
            return d.WeldingDetectionRes(
                ResponseCode=code, DC_EVSEStatus=self._status(now),
                EVSEPresentVoltage=volts(self.controller.present_voltage(now)))
        if kind is d.SessionStopReq:
            return d.SessionStopRes(ResponseCode=code)
        return self._not_offered(request, code)

    def _not_offered(self, request: Any, code: Code) -> Any:
        """Requests DIN has but a DC EIM SECC never expects (PnC, AC): answered with the
        code (always FAILED_SequenceError here) and the mandatory fields zeroed."""
        kind = type(request)
        if kind is d.ServiceDetailReq:
            return d.ServiceDetailRes(ResponseCode=code, ServiceID=request.ServiceID)
        if kind is d.PaymentDetailsReq:
            return d.PaymentDetailsRes(ResponseCode=code, GenChallenge="", DateTimeNow=0)
        if kind is d.ChargingStatusReq:
            return d.ChargingStatusRes(
                ResponseCode=code, EVSEID=evse_id_bytes(self.controller.evse_id),
                SAScheduleTupleID=1, ReceiptRequired=False, AC_EVSEStatus=_ac_status())
        if kind is d.MeteringReceiptReq:
            return d.MeteringReceiptRes(ResponseCode=code, AC_EVSEStatus=_ac_status())
        chain = d.CertificateChainType(Certificate=b"")
        if kind is d.CertificateInstallationReq:
            return d.CertificateInstallationRes(
                Id="", ResponseCode=code, ContractSignatureCertChain=chain,
                ContractSignatureEncryptedPrivateKey=b"", DHParams=b"", ContractID="")
        return d.CertificateUpdateRes(
            Id="", ResponseCode=code, ContractSignatureCertChain=chain,
            ContractSignatureEncryptedPrivateKey=b"", DHParams=b"", ContractID="",
            RetryCounter=0)  # fmt: skip

    # --- handlers (names from TABLE) ----------------------------------------------------

    def session_setup(self, req: d.SessionSetupReq, now: float) -> Reply:
        # every TCP connection is a new DIN session: DIN has no pause to resume from
        self.start_session(req, now)
        self.ev_id = req.EVCCID.hex()
        self.emit(SessionStarted(self.session_id, self.ev_id))
        return Reply(self.respond(req, Code.OK_NewSessionEstablished, now), S.SERVICE_DISCOVERY)

    def service_discovery(self, req: d.ServiceDiscoveryReq, now: float) -> Reply:
        return Reply(self.respond(req, Code.OK, now), S.PAYMENT_SELECTION)

    def payment_selection(self, req: d.ServicePaymentSelectionReq, now: float) -> Reply:
        if req.SelectedPaymentOption is not d.paymentOptionType.ExternalPayment:
            code = Code.FAILED_PaymentSelectionInvalid  # [V2G-DC-395]: EIM only
        elif not any(s.ServiceID == k.CHARGE_SERVICE_ID
                     for s in req.SelectedServiceList.SelectedService):  # fmt: skip
            code = Code.FAILED_ServiceSelectionInvalid
        else:
            code = Code.OK
        return Reply(self.respond(req, code, now), S.CONTRACT_AUTHENTICATION)

    def contract_authentication(self, req: d.ContractAuthenticationReq, now: float) -> Reply:
        return self._authorize(req, self.ev_id, S.CONTRACT_AUTHENTICATION,
                               S.CHARGE_PARAMETER_DISCOVERY, now)

    def charge_parameter_discovery(self, req: d.ChargeParameterDiscoveryReq,
                                   now: float) -> Reply:  # fmt: skip
        param = req.EVChargeParameter
        if req.EVRequestedEnergyTransferType not in DC_TRANSFER:
            code = Code.FAILED_WrongEnergyTransferType
        elif not isinstance(param, d.DC_EVChargeParameterType):
            code = Code.FAILED_WrongChargeParameter
        else:
            self.ev_max_voltage = from_physical(param.EVMaximumVoltageLimit)
            too_low = self.ev_max_voltage < self.controller.limits().min_voltage
            code = Code.FAILED_WrongChargeParameter if too_low else Code.OK
        return Reply(self.respond(req, code, now), S.CABLE_CHECK)

    def power_delivery(self, req: d.PowerDeliveryReq, now: float) -> Reply:
        if not req.ReadyToChargeState:
            self.controller.stop_power(now)
            self.controller.open_contactors(now)
            return Reply(self.respond(req, Code.OK, now), S.WELDING_DETECTION)
        if self.state is S.CURRENT_DEMAND:  # a repeated start: nothing to do
            return Reply(self.respond(req, Code.OK, now), S.CURRENT_DEMAND)
        target = self.precharge_target
        present = self.controller.present_voltage(now)
        if (target is None or abs(present - target) > k.PRE_CHARGE_TOLERANCE
                or self.controller.stop_requested(now) is not None
                or not self.controller.close_contactors(now)):  # fmt: skip
            return Reply(self.respond(req, Code.FAILED_PowerDeliveryNotApplied, now),
                         S.PRE_CHARGE)  # fmt: skip
        return Reply(self.respond(req, Code.OK, now), S.CURRENT_DEMAND)

    def current_demand(self, req: d.CurrentDemandReq, now: float) -> Reply:
        fields = self._demand(req, now)
        if fields is None:
            return Reply(self.respond(req, Code.FAILED, now), S.CURRENT_DEMAND)
        return Reply(self.respond(req, Code.OK, now, **fields), S.CURRENT_DEMAND)

    def welding_detection(self, req: d.WeldingDetectionReq, now: float) -> Reply:
        return Reply(self.respond(req, Code.OK, now), S.WELDING_DETECTION)

    def session_stop(self, req: d.SessionStopReq, now: float) -> Reply:
        self.controller.stop_power(now)
        self.controller.open_contactors(now)
        return Reply(self.respond(req, Code.OK, now), S.STOPPED)


def _ac_status() -> d.AC_EVSEStatus:
    return d.AC_EVSEStatus(PowerSwitchClosed=False, RCD=False, NotificationMaxDelay=0,
                           EVSENotification=d.EVSENotificationType._None)


def din_factory(controller_for: Callable[[SessionContext], EvseController],
                **kwargs: Any) -> ProtocolFactory:
    """What ``SeccServer`` takes for DIN: one machine per connection, each with the
    controller of the connector the connection belongs to."""
    def make(context: SessionContext) -> DinSecc:
        return DinSecc(context, controller_for(context), **kwargs)
    return make
