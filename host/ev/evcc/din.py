"""DIN SPEC 70121 DC EVCC (EIM), sans-I/O: the car side of one TCP connection, from
supportedAppProtocolReq to SessionStopRes.

The surface and plumbing are ``EvccBase`` (``host.ev.evcc.common``), shared with ISO 15118-2.

Timers: V2G_EVCC_Msg_Timeout per request, V2G_EVCC_CommunicationSetup_Timeout up to
SessionSetupRes, and the Ongoing limits of ContractAuthentication / CableCheck / PreCharge.
Loops (Ongoing answers, PreCharge, CurrentDemand, WeldingDetection) are paced by
``EvccConfig.loop_interval`` so a fake clock moves the plant between requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from host.exi.schemas import din as d
from host.secc import din_constants as k
from host.secc.din import amps, volts, watts
from host.secc.physical import from_physical, to_physical
from host.v2g import sap

from .common import EvccBase, Failure, ResponseReceived, SessionFailed, SessionStopped
from .ev import EvModel

__all__ = ["DinEvcc", "EvccConfig", "Failure", "ResponseReceived", "SessionFailed",
           "SessionStopped"]

NAMESPACE = d.NAMESPACE
Code = d.responseCodeType
SCHEMA_ID = 1
OK_CODES = {Code.OK, Code.OK_NewSessionEstablished, Code.OK_OldSessionJoined,
            Code.OK_CertificateExpiresSoon}  # fmt: skip
ONGOING = d.EVSEProcessingType.Ongoing


@dataclass
class EvccConfig:
    evcc_id: bytes = bytes.fromhex("020000000001")  # the EV's MAC
    loop_interval: float = 0.1  # between repeated requests
    msg_timeouts: dict[type, float] = field(default_factory=lambda: {
        d.CurrentDemandReq: k.CURRENT_DEMAND_MSG_TIMEOUT})  # fmt: skip
    msg_timeout: float = k.MSG_TIMEOUT
    welding_tries: int = 20


# response class -> the method handling it
HANDLERS: dict[type, str] = {
    d.SessionSetupRes: "_on_session_setup",
    d.ServiceDiscoveryRes: "_on_service_discovery",
    d.ServicePaymentSelectionRes: "_on_payment_selection",
    d.ContractAuthenticationRes: "_on_contract_authentication",
    d.ChargeParameterDiscoveryRes: "_on_charge_parameter_discovery",
    d.CableCheckRes: "_on_cable_check",
    d.PreChargeRes: "_on_pre_charge",
    d.PowerDeliveryRes: "_on_power_delivery",
    d.CurrentDemandRes: "_on_current_demand",
    d.WeldingDetectionRes: "_on_welding_detection",
    d.SessionStopRes: "_on_session_stop",
}
ANSWERS: dict[type, type] = {req: res for req, res in (
    (d.SessionSetupReq, d.SessionSetupRes), (d.ServiceDiscoveryReq, d.ServiceDiscoveryRes),
    (d.ServicePaymentSelectionReq, d.ServicePaymentSelectionRes),
    (d.ContractAuthenticationReq, d.ContractAuthenticationRes),
    (d.ChargeParameterDiscoveryReq, d.ChargeParameterDiscoveryRes),
    (d.CableCheckReq, d.CableCheckRes), (d.PreChargeReq, d.PreChargeRes),
    (d.PowerDeliveryReq, d.PowerDeliveryRes), (d.CurrentDemandReq, d.CurrentDemandRes),
    (d.WeldingDetectionReq, d.WeldingDetectionRes), (d.SessionStopReq, d.SessionStopRes))}


class DinEvcc(EvccBase):
    schema = d
    sap_protocol = sap.DIN
    schema_id = SCHEMA_ID
    setup_timeout = k.COMMUNICATION_SETUP_TIMEOUT
    ok_codes = OK_CODES
    answers = ANSWERS
    handlers = HANDLERS

    def __init__(self, ev: EvModel, config: EvccConfig | None = None) -> None:
        super().__init__(ev, k.NEW_SESSION)
        self.config = config or EvccConfig()
        self.evse_present_voltage = 0.0
        self.energy_transfer = d.EVRequestedEnergyTransferType.DC_extended
        self.service_id = k.CHARGE_SERVICE_ID

    def _msg_timeout(self, request: Any) -> float:
        return self.config.msg_timeouts.get(type(request), self.config.msg_timeout)

    # --- what the car says --------------------------------------------------------------

    def _ev_status(self) -> d.DC_EVStatus:
        return d.DC_EVStatus(EVReady=True, EVErrorCode=d.DC_EVErrorCodeType.NO_ERROR,
                             EVRESSSOC=round(self.ev.soc() * 100))

    def _charge_parameter_req(self, now: float) -> d.ChargeParameterDiscoveryReq:
        lim = self.ev.limits()
        return d.ChargeParameterDiscoveryReq(
            EVRequestedEnergyTransferType=self.energy_transfer,
            EVChargeParameter=d.DC_EVChargeParameter(
                DC_EVStatus=self._ev_status(), EVMaximumCurrentLimit=amps(lim.max_current),
                EVMaximumPowerLimit=watts(lim.max_power),
                EVMaximumVoltageLimit=volts(lim.max_voltage),
                EVEnergyCapacity=_wh(lim.capacity_wh),
                EVEnergyRequest=_wh(lim.capacity_wh * (1 - self.ev.soc())),
                FullSOC=100, BulkSOC=80))  # fmt: skip

    def _pre_charge_req(self, now: float) -> d.PreChargeReq:
        return d.PreChargeReq(DC_EVStatus=self._ev_status(),
                              EVTargetVoltage=volts(self.ev.battery_voltage()),
                              EVTargetCurrent=amps(1.0))  # fmt: skip

    def _current_demand_req(self, now: float) -> d.CurrentDemandReq:
        lim = self.ev.limits()
        complete = self.ev.charging_complete(now)
        return d.CurrentDemandReq(
            DC_EVStatus=self._ev_status(), EVTargetCurrent=amps(self.ev.target_current(now)),
            EVMaximumVoltageLimit=volts(lim.max_voltage),
            EVMaximumCurrentLimit=amps(lim.max_current),
            EVMaximumPowerLimit=watts(lim.max_power), BulkChargingComplete=complete,
            ChargingComplete=complete, EVTargetVoltage=volts(self.ev.target_voltage()))

    def _power_delivery_req(self, start: bool) -> d.PowerDeliveryReq:
        return d.PowerDeliveryReq(ReadyToChargeState=start, EVPowerDeliveryParameter=(
            d.DC_EVPowerDeliveryParameter(DC_EVStatus=self._ev_status(),
                                          ChargingComplete=not start)))  # fmt: skip

    # --- response handlers (names from HANDLERS) ---------------------------------------

    def _on_session_setup(self, res: d.SessionSetupRes, now: float) -> None:
        self._timers.pop("setup", None)
        self._send(d.ServiceDiscoveryReq(ServiceCategory=d.serviceCategoryType.EVCharging), now)

    def _on_service_discovery(self, res: d.ServiceDiscoveryRes, now: float) -> None:
        if d.paymentOptionType.ExternalPayment not in res.PaymentOptions.PaymentOption:
            self._fail(Failure.UNEXPECTED, "no ExternalPayment offered", now)
            return
        self.service_id = res.ChargeService.ServiceTag.ServiceID
        if res.ChargeService.EnergyTransferType is d.EVSESupportedEnergyTransferType.DC_core:
            self.energy_transfer = d.EVRequestedEnergyTransferType.DC_core
        self._send(d.ServicePaymentSelectionReq(
            SelectedPaymentOption=d.paymentOptionType.ExternalPayment,
            SelectedServiceList=d.SelectedServiceListType(SelectedService=[
                d.SelectedServiceType(ServiceID=self.service_id)])), now)  # fmt: skip

    def _on_payment_selection(self, res: d.ServicePaymentSelectionRes, now: float) -> None:
        self._send(d.ContractAuthenticationReq(), now)

    def _on_contract_authentication(self, res: d.ContractAuthenticationRes,
                                    now: float) -> None:  # fmt: skip
        if res.EVSEProcessing is ONGOING:
            if self._ongoing(d.ContractAuthenticationReq, k.ONGOING_TIMEOUT, now):
                self._later(lambda _now: d.ContractAuthenticationReq(), now)
            return
        self._send(self._charge_parameter_req(now), now)

    def _on_charge_parameter_discovery(self, res: d.ChargeParameterDiscoveryRes,
                                       now: float) -> None:  # fmt: skip
        if res.EVSEProcessing is ONGOING:
            if self._ongoing(d.ChargeParameterDiscoveryReq, k.ONGOING_TIMEOUT, now):
                self._later(self._charge_parameter_req, now)
            return
        self._send(d.CableCheckReq(DC_EVStatus=self._ev_status()), now)

    def _on_cable_check(self, res: d.CableCheckRes, now: float) -> None:
        if res.EVSEProcessing is ONGOING:
            if self._ongoing(d.CableCheckReq, k.CABLE_CHECK_TIMEOUT, now):
                self._later(lambda _now: d.CableCheckReq(DC_EVStatus=self._ev_status()), now)
            return
        isolation = res.DC_EVSEStatus.EVSEIsolationStatus
        if isolation not in (d.isolationLevelType.Valid, d.isolationLevelType.Warning):
            self._fail(Failure.ISOLATION, str(isolation), now)
            return
        self._send(self._pre_charge_req(now), now)

    def _on_pre_charge(self, res: d.PreChargeRes, now: float) -> None:
        self.evse_present_voltage = from_physical(res.EVSEPresentVoltage)
        if abs(self.evse_present_voltage - self.ev.battery_voltage()) <= k.PRE_CHARGE_TOLERANCE:
            self._send(self._power_delivery_req(True), now)
        elif self._ongoing(d.PreChargeReq, k.PRE_CHARGE_TIMEOUT, now):
            self._later(self._pre_charge_req, now)

    def _on_power_delivery(self, res: d.PowerDeliveryRes, now: float) -> None:
        if not self._charging:
            self._charging = True
            self._send(self._current_demand_req(now), now)
        else:
            self._send(d.WeldingDetectionReq(DC_EVStatus=self._ev_status()), now)

    def _on_current_demand(self, res: d.CurrentDemandRes, now: float) -> None:
        self.evse_present_voltage = from_physical(res.EVSEPresentVoltage)
        status = res.DC_EVSEStatus
        evse_stops = (status.EVSENotification is d.EVSENotificationType.StopCharging
                      or status.EVSEStatusCode is not d.DC_EVSEStatusCodeType.EVSE_Ready)
        if evse_stops or self.ev.charging_complete(now):
            self._send(self._power_delivery_req(False), now)
        else:
            self._later(self._current_demand_req, now)

    def _on_welding_detection(self, res: d.WeldingDetectionRes, now: float) -> None:
        self._welding_tries += 1
        present = from_physical(res.EVSEPresentVoltage)
        if present < k.SAFE_VOLTAGE or self._welding_tries >= self.config.welding_tries:
            self._send(d.SessionStopReq(), now)
        else:
            self._later(lambda _now: d.WeldingDetectionReq(DC_EVStatus=self._ev_status()), now)


def _wh(value: float) -> d.PhysicalValueType:
    return to_physical(d.PhysicalValueType, d.unitSymbolType.Wh, value)
