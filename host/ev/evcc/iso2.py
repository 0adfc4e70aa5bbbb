"""ISO 15118-2 EVCC, AC or DC, sans-I/O: the car side of one TCP (or TLS) connection, from
supportedAppProtocolReq to SessionStopRes; EIM, or Plug & Charge with ``Iso2Config.pnc``
(``pnc.EvPnc``: Contract, CertificateInstallation/Update when asked, PaymentDetails, the
signed AuthorizationReq and MeteringReceiptReq). The same surface, events and failure
reasons as ``DinEvcc`` (``host.ev.evcc.din``), so the asyncio driver and the tests take either.

``Iso2Config.pause`` ends the session with SessionStopReq(Pause); a later ``Iso2Evcc`` with
``resume`` set to that SessionID asks to rejoin it (OK_OldSessionJoined).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from host.exi.schemas import iso2 as i
from host.secc import iso2_constants as k
from host.secc.iso2 import AC_MODES, amps, volts, watts, wh
from host.secc.physical import from_physical
from host.v2g import sap

from .common import EvccBase, Failure, ResponseReceived, SessionFailed, SessionStopped
from .ev import EvModel
from .pnc import SIGNED_ID, SLOW_MSG_TIMEOUT, SLOW_REQUESTS, EvPnc

__all__ = ["Failure", "Iso2Config", "Iso2Evcc", "ResponseReceived", "SessionFailed",
           "SessionStopped"]

NAMESPACE = i.NAMESPACE
Code = i.responseCodeType
Mode = i.EnergyTransferModeType
SCHEMA_ID = 1
OK_CODES = {Code.OK, Code.OK_NewSessionEstablished, Code.OK_OldSessionJoined,
            Code.OK_CertificateExpiresSoon}  # fmt: skip
ONGOING = {i.EVSEProcessingType.Ongoing, i.EVSEProcessingType.Ongoing_WaitingForCustomerInteraction}
CHARGING_LOOP = (i.CurrentDemandReq, i.ChargingStatusReq)


@dataclass
class Iso2Config:
    mode: Any = Mode.DC_extended  # or AC_three_phase_core / AC_single_phase_core
    evcc_id: bytes = bytes.fromhex("020000000001")
    loop_interval: float = 0.1
    msg_timeout: float = k.MSG_TIMEOUT
    loop_msg_timeout: float = k.CHARGING_LOOP_MSG_TIMEOUT
    welding_tries: int = 20
    pause: bool = False  # SessionStop(Pause) instead of Terminate
    resume: bytes | None = None  # a paused SessionID to rejoin
    ac_max_current: float = 32.0  # A per phase
    # the ChargingProfile sent with PowerDelivery(Start): a fraction of the tuple's first
    # PMax (None: no profile); > 1 makes an invalid one, for tests
    profile_share: float | None = 1.0
    pnc: EvPnc | None = None  # Plug & Charge with these credentials (EIM when None)


HANDLERS: dict[type, str] = {
    i.SessionSetupRes: "_on_session_setup", i.ServiceDiscoveryRes: "_on_service_discovery",
    i.PaymentServiceSelectionRes: "_on_payment_selection",
    i.PaymentDetailsRes: "_on_payment_details",
    i.CertificateInstallationRes: "_on_certificate", i.CertificateUpdateRes: "_on_certificate",
    i.AuthorizationRes: "_on_authorization",
    i.ChargeParameterDiscoveryRes: "_on_charge_parameter_discovery",
    i.CableCheckRes: "_on_cable_check", i.PreChargeRes: "_on_pre_charge",
    i.PowerDeliveryRes: "_on_power_delivery", i.CurrentDemandRes: "_on_charging_loop",
    i.ChargingStatusRes: "_on_charging_loop", i.MeteringReceiptRes: "_on_metering_receipt",
    i.WeldingDetectionRes: "_on_welding_detection", i.SessionStopRes: "_on_session_stop",
}
ANSWERS = {
    i.SessionSetupReq: i.SessionSetupRes, i.ServiceDiscoveryReq: i.ServiceDiscoveryRes,
    i.PaymentServiceSelectionReq: i.PaymentServiceSelectionRes,
    i.PaymentDetailsReq: i.PaymentDetailsRes,
    i.CertificateInstallationReq: i.CertificateInstallationRes,
    i.CertificateUpdateReq: i.CertificateUpdateRes,
    i.AuthorizationReq: i.AuthorizationRes,
    i.ChargeParameterDiscoveryReq: i.ChargeParameterDiscoveryRes,
    i.CableCheckReq: i.CableCheckRes, i.PreChargeReq: i.PreChargeRes,
    i.PowerDeliveryReq: i.PowerDeliveryRes, i.CurrentDemandReq: i.CurrentDemandRes,
    i.ChargingStatusReq: i.ChargingStatusRes, i.MeteringReceiptReq: i.MeteringReceiptRes,
    i.WeldingDetectionReq: i.WeldingDetectionRes, i.SessionStopReq: i.SessionStopRes,
}


class Iso2Evcc(EvccBase):
    schema = i
    sap_protocol = sap.ISO2
    schema_id = SCHEMA_ID
    setup_timeout = k.COMMUNICATION_SETUP_TIMEOUT
    ok_codes = OK_CODES
    answers = ANSWERS
    handlers = HANDLERS

    def __init__(self, ev: EvModel, config: Iso2Config | None = None) -> None:
        config = config or Iso2Config()
        super().__init__(ev, config.resume or k.NEW_SESSION)
        self.config = config
        self.ac = self.config.mode in AC_MODES
        self.codes: list[str] = []  # the response codes in order
        self.tuple: Any = None  # the SAScheduleTuple we chose
        self.meter_readings: list[int] = []
        self.challenge: bytes | None = None  # PnC: from PaymentDetailsRes

    def _send(self, request: Any, now: float, signature: Any = None) -> None:
        pnc = self.config.pnc
        if signature is None and pnc is not None:
            signature = pnc.signature_for(request)
        super()._send(request, now, signature)

    def _authorization_req(self, _now: float) -> i.AuthorizationReq:
        if self.config.pnc is None:
            return i.AuthorizationReq(Id=None, GenChallenge=None)
        return i.AuthorizationReq(Id=SIGNED_ID, GenChallenge=self.challenge)

    def _msg_timeout(self, request: Any) -> float:
        if isinstance(request, SLOW_REQUESTS):
            return max(SLOW_MSG_TIMEOUT, self.config.msg_timeout)
        loop = isinstance(request, CHARGING_LOOP)
        return self.config.loop_msg_timeout if loop else self.config.msg_timeout

    def _on_code(self, code: Any) -> None:
        self.codes.append(code.value)

    # --- what the car says ----------------------------------------------------------------

    def _ev_status(self) -> i.DC_EVStatus:
        return i.DC_EVStatus(EVReady=True, EVErrorCode=i.DC_EVErrorCodeType.NO_ERROR,
                             EVRESSSOC=round(self.ev.soc() * 100))

    def _charge_parameter_req(self, now: float) -> i.ChargeParameterDiscoveryReq:
        lim = self.ev.limits()
        energy = lim.capacity_wh * (1 - self.ev.soc())
        param: Any
        if self.ac:
            param = i.AC_EVChargeParameter(
                DepartureTime=None, EAmount=wh(energy), EVMaxVoltage=volts(400.0),
                EVMaxCurrent=amps(self.config.ac_max_current), EVMinCurrent=amps(6.0))
        else:
            param = i.DC_EVChargeParameter(
                DepartureTime=None, DC_EVStatus=self._ev_status(),
                EVMaximumCurrentLimit=amps(lim.max_current),
                EVMaximumPowerLimit=watts(lim.max_power),
                EVMaximumVoltageLimit=volts(lim.max_voltage),
                EVEnergyCapacity=wh(lim.capacity_wh), EVEnergyRequest=wh(energy),
                FullSOC=100, BulkSOC=80)  # fmt: skip
        return i.ChargeParameterDiscoveryReq(MaxEntriesSAScheduleTuple=None,
                                             RequestedEnergyTransferMode=self.config.mode,
                                             EVChargeParameter=param)  # fmt: skip

    def _pre_charge_req(self, now: float) -> i.PreChargeReq:
        return i.PreChargeReq(DC_EVStatus=self._ev_status(),
                              EVTargetVoltage=volts(self.ev.battery_voltage()),
                              EVTargetCurrent=amps(1.0))  # fmt: skip

    def _current_demand_req(self, now: float) -> i.CurrentDemandReq:
        lim = self.ev.limits()
        complete = self.ev.charging_complete(now)
        return i.CurrentDemandReq(
            DC_EVStatus=self._ev_status(), EVTargetCurrent=amps(self.ev.target_current(now)),
            EVMaximumVoltageLimit=volts(lim.max_voltage),
            EVMaximumCurrentLimit=amps(lim.max_current),
            EVMaximumPowerLimit=watts(lim.max_power), BulkChargingComplete=complete,
            ChargingComplete=complete, RemainingTimeToFullSoC=None,
            RemainingTimeToBulkSoC=None, EVTargetVoltage=volts(self.ev.target_voltage()))

    def _loop_req(self, now: float) -> Any:
        if self.ac:
            self.ev.target_current(now)  # starts the EV's charge clock, as in DC
            return i.ChargingStatusReq()
        return self._current_demand_req(now)

    def _profile(self) -> i.ChargingProfileType | None:
        share = self.config.profile_share
        if share is None or self.tuple is None:
            return None
        entries = self.tuple.PMaxSchedule.PMaxScheduleEntry
        pmax = from_physical(entries[0].PMax) * share
        return i.ChargingProfileType(ProfileEntry=[i.ProfileEntryType(
            ChargingProfileEntryStart=0, ChargingProfileEntryMaxPower=watts(pmax),
            ChargingProfileEntryMaxNumberOfPhasesInUse=3 if self.ac else None)])

    def _power_delivery_req(self, start: bool) -> i.PowerDeliveryReq:
        progress = i.chargeProgressType.Start if start else i.chargeProgressType.Stop
        param = None if self.ac else i.DC_EVPowerDeliveryParameter(
            DC_EVStatus=self._ev_status(), BulkChargingComplete=None,
            ChargingComplete=not start)  # fmt: skip
        tuple_id = self.tuple.SAScheduleTupleID if self.tuple is not None else 1
        return i.PowerDeliveryReq(ChargeProgress=progress, SAScheduleTupleID=tuple_id,
                                  ChargingProfile=self._profile() if start else None,
                                  EVPowerDeliveryParameter=param)  # fmt: skip

    def _stop_req(self) -> i.SessionStopReq:
        kind = i.chargingSessionType.Pause if self.config.pause else i.chargingSessionType.Terminate
        return i.SessionStopReq(ChargingSession=kind)

    # --- response handlers (names from HANDLERS) ------------------------------------------

    def _on_session_setup(self, res: i.SessionSetupRes, now: float) -> None:
        self._timers.pop("setup", None)
        self._send(i.ServiceDiscoveryReq(ServiceScope=None,
                                         ServiceCategory=i.serviceCategoryType.EVCharging), now)

    def _on_service_discovery(self, res: i.ServiceDiscoveryRes, now: float) -> None:
        pnc = self.config.pnc
        option = (i.paymentOptionType.ExternalPayment if pnc is None
                  else i.paymentOptionType.Contract)  # fmt: skip
        if option not in res.PaymentOptionList.PaymentOption:
            self._fail(Failure.UNEXPECTED, f"no {option.value} offered", now)
            return
        modes = res.ChargeService.SupportedEnergyTransferMode.EnergyTransferMode
        if self.config.mode not in modes:
            self._fail(Failure.UNEXPECTED, f"{self.config.mode.name} not offered", now)
            return
        extra = [] if pnc is None else pnc.services(res.ServiceList)
        self._send(i.PaymentServiceSelectionReq(
            SelectedPaymentOption=option,
            SelectedServiceList=i.SelectedServiceListType(SelectedService=[
                i.SelectedServiceType(ServiceID=sid, ParameterSetID=None)
                for sid in (res.ChargeService.ServiceID, *extra)])), now)  # fmt: skip

    def _on_payment_selection(self, res: i.PaymentServiceSelectionRes, now: float) -> None:
        pnc = self.config.pnc
        if pnc is None:
            self._send(self._authorization_req(now), now)
        elif pnc.wants_certificate():
            self._send(pnc.certificate_request(), now)
        else:
            self._send(pnc.payment_details(), now)

    def _on_certificate(self, res: Any, now: float) -> None:
        pnc = self.config.pnc
        assert pnc is not None
        why = pnc.take_certificate(res, self.header.Signature)
        if why:
            self._fail(Failure.SIGNATURE, f"{type(res).__name__}: {why}", now)
            return
        self._send(pnc.payment_details(), now)

    def _on_payment_details(self, res: i.PaymentDetailsRes, now: float) -> None:
        self.challenge = res.GenChallenge
        self._send(self._authorization_req(now), now)

    def _on_authorization(self, res: i.AuthorizationRes, now: float) -> None:
        if res.EVSEProcessing in ONGOING:
            if self._ongoing(i.AuthorizationReq, k.ONGOING_TIMEOUT, now):
                self._later(self._authorization_req, now)
            return
        self._send(self._charge_parameter_req(now), now)

    def _on_charge_parameter_discovery(self, res: i.ChargeParameterDiscoveryRes,
                                       now: float) -> None:  # fmt: skip
        if res.EVSEProcessing in ONGOING:
            if self._ongoing(i.ChargeParameterDiscoveryReq, k.ONGOING_TIMEOUT, now):
                self._later(self._charge_parameter_req, now)
            return
        schedules = res.SASchedules
        tuples = getattr(schedules, "SAScheduleTuple", None)
        if not tuples:
            self._fail(Failure.UNEXPECTED, "no SAScheduleList", now)
            return
        if self.config.pnc is not None:
            why = self.config.pnc.check_tariffs(tuples, self.header.Signature)
            if why:
                self._fail(Failure.SIGNATURE, f"SalesTariff: {why}", now)
                return
        self.tuple = tuples[0]
        if self.ac:
            self._send(self._power_delivery_req(True), now)
        else:
            self._send(i.CableCheckReq(DC_EVStatus=self._ev_status()), now)

    def _on_cable_check(self, res: i.CableCheckRes, now: float) -> None:
        if res.EVSEProcessing in ONGOING:
            if self._ongoing(i.CableCheckReq, k.CABLE_CHECK_TIMEOUT, now):
                self._later(lambda _now: i.CableCheckReq(DC_EVStatus=self._ev_status()), now)
            return
        isolation = res.DC_EVSEStatus.EVSEIsolationStatus
        if isolation not in (i.isolationLevelType.Valid, i.isolationLevelType.Warning):
            self._fail(Failure.ISOLATION, str(isolation), now)
            return
        self._send(self._pre_charge_req(now), now)

    def _on_pre_charge(self, res: i.PreChargeRes, now: float) -> None:
        present = from_physical(res.EVSEPresentVoltage)
        if abs(present - self.ev.battery_voltage()) <= k.PRE_CHARGE_TOLERANCE:
            self._send(self._power_delivery_req(True), now)
        elif self._ongoing(i.PreChargeReq, k.PRE_CHARGE_TIMEOUT, now):
            self._later(self._pre_charge_req, now)

    def _on_power_delivery(self, res: i.PowerDeliveryRes, now: float) -> None:
        if not self._charging:
            self._charging = True
            self._send(self._loop_req(now), now)
        elif self.ac:
            self._send(self._stop_req(), now)
        else:
            self._send(i.WeldingDetectionReq(DC_EVStatus=self._ev_status()), now)

    def _on_charging_loop(self, res: Any, now: float) -> None:
        if res.MeterInfo is not None and res.MeterInfo.MeterReading is not None:
            self.meter_readings.append(res.MeterInfo.MeterReading)
        if res.ReceiptRequired:
            ident = None if self.config.pnc is None else SIGNED_ID
            self._send(i.MeteringReceiptReq(Id=ident, SessionID=self.session_id,
                                            SAScheduleTupleID=res.SAScheduleTupleID,
                                            MeterInfo=res.MeterInfo), now)  # fmt: skip
            return
        self._next_in_loop(res.AC_EVSEStatus if self.ac else res.DC_EVSEStatus, now)

    def _on_metering_receipt(self, res: i.MeteringReceiptRes, now: float) -> None:
        self._next_in_loop(res.EVSEStatus, now)

    def _next_in_loop(self, status: Any, now: float) -> None:
        if (status.EVSENotification is i.EVSENotificationType.StopCharging
                or self.ev.charging_complete(now)):  # fmt: skip
            self._send(self._power_delivery_req(False), now)
        else:
            self._later(self._loop_req, now)

    def _on_welding_detection(self, res: i.WeldingDetectionRes, now: float) -> None:
        self._welding_tries += 1
        present = from_physical(res.EVSEPresentVoltage)
        if present < k.SAFE_VOLTAGE or self._welding_tries >= self.config.welding_tries:
            self._send(self._stop_req(), now)
        else:
            self._later(lambda _now: i.WeldingDetectionReq(DC_EVStatus=self._ev_status()), now)
