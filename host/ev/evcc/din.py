"""DIN SPEC 70121 DC EVCC (EIM), sans-I/O: the car side of one TCP connection, from
supportedAppProtocolReq to SessionStopRes.

``start(now)``, ``receive(data, now)`` (TCP bytes), ``handle_timer(now)``, ``get_timer()``,
``next_event()``, ``data_to_send() -> [bytes]`` (V2GTP frames). ``done`` says the driver
may close the connection (the EVCC closes it after SessionStopRes).

Timers: V2G_EVCC_Msg_Timeout per request, V2G_EVCC_CommunicationSetup_Timeout up to
SessionSetupRes, and the Ongoing limits of ContractAuthentication / CableCheck / PreCharge.
Loops (Ongoing answers, PreCharge, CurrentDemand, WeldingDetection) are paced by
``EvccConfig.loop_interval`` so a fake clock moves the plant between requests.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from host.exi import codec
from host.exi.runtime import ExiError
from host.exi.schemas import din as d
from host.secc import din_constants as k
from host.secc.din import amps, volts, watts
from host.secc.physical import from_physical, to_physical
from host.v2g import constants as vc
from host.v2g import sap
from host.v2g.errors import RemoteProtocolError
from host.v2g.v2gtp import PayloadType, V2gtpReader, frame

from .ev import EvModel

NAMESPACE = d.NAMESPACE
Code = d.responseCodeType
SCHEMA_ID = 1
OK_CODES = {Code.OK, Code.OK_NewSessionEstablished, Code.OK_OldSessionJoined,
            Code.OK_CertificateExpiresSoon}  # fmt: skip
ONGOING = d.EVSEProcessingType.Ongoing


class Failure(StrEnum):
    NO_NEGOTIATION = "supportedAppProtocol failed"
    MSG_TIMEOUT = "V2G_EVCC_Msg_Timeout"
    SETUP_TIMEOUT = "V2G_EVCC_CommunicationSetup_Timeout"
    ONGOING_TIMEOUT = "ongoing timeout"
    FAILED_CODE = "FAILED response"
    UNEXPECTED = "unexpected response"
    SESSION_ID = "SessionID changed"
    ISOLATION = "isolation not valid"
    CONNECTION_LOST = "connection lost"


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    name: str
    response_code: str
    at: float


@dataclass(frozen=True, slots=True)
class SessionStopped:
    """SessionStopRes OK: the session ended as it should."""

    session_id: bytes
    at: float


@dataclass(frozen=True, slots=True)
class SessionFailed:
    reason: Failure
    detail: str
    at: float


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
ANSWERS = {req: res for req, res in (
    (d.SessionSetupReq, d.SessionSetupRes), (d.ServiceDiscoveryReq, d.ServiceDiscoveryRes),
    (d.ServicePaymentSelectionReq, d.ServicePaymentSelectionRes),
    (d.ContractAuthenticationReq, d.ContractAuthenticationRes),
    (d.ChargeParameterDiscoveryReq, d.ChargeParameterDiscoveryRes),
    (d.CableCheckReq, d.CableCheckRes), (d.PreChargeReq, d.PreChargeRes),
    (d.PowerDeliveryReq, d.PowerDeliveryRes), (d.CurrentDemandReq, d.CurrentDemandRes),
    (d.WeldingDetectionReq, d.WeldingDetectionRes), (d.SessionStopReq, d.SessionStopRes))}


class DinEvcc:
    def __init__(self, ev: EvModel, config: EvccConfig | None = None) -> None:
        self.ev = ev
        self.config = config or EvccConfig()
        self.session_id = k.NEW_SESSION
        self.reader = V2gtpReader((PayloadType.EXI,))
        self.done = False
        self.result: SessionStopped | SessionFailed | None = None
        self.awaiting: type | None = None  # the response class we wait for
        self.sent: list[str] = []  # request names in order, for tests and the log
        self.evse_present_voltage = 0.0
        self.energy_transfer = d.EVRequestedEnergyTransferType.DC_extended
        self.service_id = k.CHARGE_SERVICE_ID
        self._charging = False
        self._welding_tries = 0
        self._handshake = True
        self._timers: dict[str, float] = {}
        self._phase_started: dict[type, float] = {}
        self._pending: Callable[[float], Any] | None = None  # the next request, paced
        self._out: list[bytes] = []
        self._events: deque[object] = deque()

    # --- surface ------------------------------------------------------------------------

    def start(self, now: float) -> None:
        self._timers["setup"] = now + k.COMMUNICATION_SETUP_TIMEOUT
        self._out.append(frame(PayloadType.EXI, sap.push_request([(sap.DIN, SCHEMA_ID, 1)])))
        self._timers["msg"] = now + vc.SAP_RESPONSE_TIMEOUT

    def receive(self, data: bytes, now: float) -> None:
        if self.done:
            return
        if not data:
            self._fail(Failure.CONNECTION_LOST, "", now)
            return
        self.reader.feed(data)
        while not self.done:
            try:
                message = self.reader.maybe_read_message()
            except RemoteProtocolError as exc:
                self._fail(Failure.UNEXPECTED, str(exc), now)
                return
            if message is None:
                return
            self._timers.pop("msg", None)
            if self._handshake:
                self._on_handshake(message.payload, now)
            else:
                self._on_message(message.payload, now)

    def handle_timer(self, now: float) -> None:
        for name, deadline in list(self._timers.items()):
            if self.done or self._timers.get(name) != deadline or now < deadline:
                continue
            del self._timers[name]
            if name == "send" and self._pending is not None:
                build, self._pending = self._pending, None
                self._send(build(now), now)
            elif name == "setup":
                self._fail(Failure.SETUP_TIMEOUT, "", now)
            elif name == "msg":
                self._fail(Failure.MSG_TIMEOUT, f"no answer to {self.sent[-1:]}", now)

    def get_timer(self) -> float | None:
        return None if self.done or not self._timers else min(self._timers.values())

    def next_event(self) -> object | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    # --- plumbing -----------------------------------------------------------------------

    def _send(self, request: Any, now: float) -> None:
        message = d.V2G_Message(Header=d.MessageHeaderType(SessionID=self.session_id),
                                Body=d.BodyType(BodyElement=request))
        self._out.append(frame(PayloadType.EXI, codec.encode(message, NAMESPACE)))
        self.awaiting = ANSWERS[type(request)]
        self.sent.append(type(request).__name__)
        timeout = self.config.msg_timeouts.get(type(request), self.config.msg_timeout)
        self._timers["msg"] = now + timeout

    def _later(self, build: Callable[[float], Any], now: float) -> None:
        """Send what ``build(now)`` makes after the loop interval."""
        self._pending = build
        self._timers["send"] = now + self.config.loop_interval

    def _fail(self, reason: Failure, detail: str, now: float) -> None:
        self.done = True
        self._timers.clear()
        self.result = SessionFailed(reason, detail, now)
        self._events.append(self.result)

    def _on_handshake(self, payload: bytes, now: float) -> None:
        self._handshake = False
        try:
            res = sap.pull_response(payload)
        except RemoteProtocolError as exc:
            self._fail(Failure.NO_NEGOTIATION, str(exc), now)
            return
        if res.SchemaID != SCHEMA_ID or not res.ResponseCode.value.startswith("OK"):
            self._fail(Failure.NO_NEGOTIATION, res.ResponseCode.value, now)
            return
        self._send(d.SessionSetupReq(EVCCID=self.config.evcc_id), now)

    def _on_message(self, payload: bytes, now: float) -> None:
        try:
            message = codec.decode(NAMESPACE, payload)
        except (ExiError, ValueError, IndexError) as exc:
            self._fail(Failure.UNEXPECTED, f"does not decode: {exc}", now)
            return
        body: Any = message.Body.BodyElement if isinstance(message, d.V2G_Message) else None
        if body is None or type(body) is not self.awaiting:
            self._fail(Failure.UNEXPECTED, f"{type(body).__name__}, expected "
                       f"{getattr(self.awaiting, '__name__', None)}", now)  # fmt: skip
            return
        code = body.ResponseCode
        self._events.append(ResponseReceived(type(body).__name__, code.value, now))
        if code not in OK_CODES:
            self._fail(Failure.FAILED_CODE, f"{type(body).__name__} {code.value}", now)
            return
        if isinstance(body, d.SessionSetupRes):
            self.session_id = message.Header.SessionID
        elif message.Header.SessionID != self.session_id:
            self._fail(Failure.SESSION_ID, message.Header.SessionID.hex(), now)
            return
        getattr(self, HANDLERS[type(body)])(body, now)

    def _ongoing(self, request: type, limit: float, now: float) -> bool:
        """True while the phase of ``request`` is within its limit (fails it otherwise)."""
        started = self._phase_started.setdefault(request, now)
        if now - started > limit:
            self._fail(Failure.ONGOING_TIMEOUT, request.__name__, now)
            return False
        return True

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

    def _on_session_stop(self, res: d.SessionStopRes, now: float) -> None:
        self.done = True
        self._timers.clear()
        self.result = SessionStopped(self.session_id, now)
        self._events.append(self.result)


def _wh(value: float) -> d.PhysicalValueType:
    return to_physical(d.PhysicalValueType, d.unitSymbolType.Wh, value)
