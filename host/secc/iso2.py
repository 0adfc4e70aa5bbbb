"""ISO 15118-2 SECC, AC and DC, external identification (EIM), on the shared session core.

The sequence is the table below (-2 §8.8 / Figures 105-107 order). AC and DC part after
ChargeParameterDiscovery into their own states, so the table alone answers a CurrentDemand in
an AC session (or a ChargingStatus in a DC one) with FAILED_SequenceError. The core does the
SessionID check, the sequence and communication setup timers, and ends the session after any
FAILED answer ([V2G2-539]).

Pause: SessionStopReq(Pause) leaves the SessionID in ``PausedSessions`` (shared by every
connection of the server); a later SessionSetupReq that carries it in its header, from the
same EVCCID, gets OK_OldSessionJoined and the same SessionID. Plug & Charge (PaymentDetails,
the signed Authorization, CertificateInstallation/Update, signed SalesTariffs and receipts) is
``pnc.PncMixin``, on when the factory is given a ``pnc.PncConfig`` and the connection is TLS.
Not here yet: ChargeProgress=Renegotiate (answered FAILED).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any

from host.exi.schemas import iso2 as i
from host.v2g.protocol import ProtocolFactory, SessionContext

from . import iso2_constants as k
from .common import V2gSecc
from .controller import EvseController, Insulation, Schedule, StopRequest
from .core import Reply, SessionStarted, Step, step
from .din import random_session_id
from .physical import from_physical, to_physical
from .pnc import CERTIFICATE_SERVICE_ID, PNC_MAX_PAYLOAD, PncConfig, PncMixin, pnc_response

NAMESPACE = i.NAMESPACE
Code = i.responseCodeType
Mode = i.EnergyTransferModeType
MAX_PAYLOAD = 8 * 1024  # EIM: no certificates in any message
AC_MODES = frozenset({Mode.AC_single_phase_core, Mode.AC_three_phase_core})
DC_MODES = frozenset({Mode.DC_core, Mode.DC_extended, Mode.DC_combo_core, Mode.DC_unique})


class State(Enum):
    """What the SECC waits for next."""

    SESSION_SETUP = auto()
    SERVICE_DISCOVERY = auto()
    SERVICE_SELECTION = auto()  # ServiceDetailReq (repeatable) or PaymentServiceSelectionReq
    PAYMENT_DETAILS = auto()  # PnC: PaymentDetailsReq, or CertificateInstallation/Update
    AUTHORIZATION = auto()
    CHARGE_PARAMETER_DISCOVERY = auto()
    CABLE_CHECK = auto()  # DC from here
    PRE_CHARGE = auto()  # PreChargeReq, or PowerDeliveryReq(Start)
    DC_CHARGING = auto()  # CurrentDemandReq, MeteringReceiptReq, PowerDeliveryReq(Stop)
    WELDING_DETECTION = auto()  # WeldingDetectionReq or SessionStopReq
    AC_POWER_DELIVERY = auto()  # AC from here: PowerDeliveryReq(Start)
    AC_CHARGING = auto()  # ChargingStatusReq, MeteringReceiptReq, PowerDeliveryReq(Stop)
    AC_STOPPED = auto()  # SessionStopReq
    STOPPED = auto()


S = State


TABLE: dict[tuple[State, type], Step] = {
    (S.SESSION_SETUP, i.SessionSetupReq): step("session_setup", S.SERVICE_DISCOVERY),
    (S.SERVICE_DISCOVERY, i.ServiceDiscoveryReq): step("service_discovery",
                                                       S.SERVICE_SELECTION),
    (S.SERVICE_SELECTION, i.ServiceDetailReq): step("service_detail", S.SERVICE_SELECTION),
    (S.SERVICE_SELECTION, i.PaymentServiceSelectionReq): step(
        "payment_selection", S.AUTHORIZATION, S.PAYMENT_DETAILS),
    (S.PAYMENT_DETAILS, i.PaymentDetailsReq): step("payment_details", S.AUTHORIZATION,
                                                   S.PAYMENT_DETAILS),
    (S.PAYMENT_DETAILS, i.CertificateInstallationReq): step("certificate_installation",
                                                            S.PAYMENT_DETAILS),
    (S.PAYMENT_DETAILS, i.CertificateUpdateReq): step("certificate_update", S.PAYMENT_DETAILS),
    (S.AUTHORIZATION, i.AuthorizationReq): step("authorization", S.AUTHORIZATION,
                                                S.CHARGE_PARAMETER_DISCOVERY),
    (S.CHARGE_PARAMETER_DISCOVERY, i.ChargeParameterDiscoveryReq): step(
        "charge_parameter_discovery", S.CHARGE_PARAMETER_DISCOVERY, S.CABLE_CHECK,
        S.AC_POWER_DELIVERY),
    (S.CABLE_CHECK, i.CableCheckReq): step("cable_check", S.CABLE_CHECK, S.PRE_CHARGE),
    (S.PRE_CHARGE, i.PreChargeReq): step("pre_charge", S.PRE_CHARGE),
    (S.PRE_CHARGE, i.PowerDeliveryReq): step("power_delivery", S.DC_CHARGING, S.PRE_CHARGE,
                                             S.WELDING_DETECTION),
    (S.DC_CHARGING, i.CurrentDemandReq): step("current_demand", S.DC_CHARGING),
    (S.DC_CHARGING, i.MeteringReceiptReq): step("metering_receipt", S.DC_CHARGING),
    (S.DC_CHARGING, i.PowerDeliveryReq): step("power_delivery", S.DC_CHARGING,
                                              S.WELDING_DETECTION),
    (S.WELDING_DETECTION, i.WeldingDetectionReq): step("welding_detection",
                                                       S.WELDING_DETECTION),
    (S.AC_POWER_DELIVERY, i.PowerDeliveryReq): step("power_delivery", S.AC_CHARGING,
                                                    S.AC_POWER_DELIVERY, S.AC_STOPPED),
    (S.AC_CHARGING, i.ChargingStatusReq): step("charging_status", S.AC_CHARGING),
    (S.AC_CHARGING, i.MeteringReceiptReq): step("metering_receipt", S.AC_CHARGING),
    (S.AC_CHARGING, i.PowerDeliveryReq): step("power_delivery", S.AC_CHARGING, S.AC_STOPPED),
} | {  # fmt: skip
    # an EV may give up (or pause) before power flowed, and stops after it
    (state, i.SessionStopReq): step("session_stop", S.STOPPED)
    for state in (S.CHARGE_PARAMETER_DISCOVERY, S.CABLE_CHECK, S.PRE_CHARGE,
                  S.AC_POWER_DELIVERY, S.WELDING_DETECTION, S.AC_STOPPED)
}

REQUESTS = (i.SessionSetupReq, i.ServiceDiscoveryReq, i.ServiceDetailReq,
            i.PaymentServiceSelectionReq, i.PaymentDetailsReq, i.AuthorizationReq,
            i.ChargeParameterDiscoveryReq, i.CableCheckReq, i.PreChargeReq,
            i.PowerDeliveryReq, i.CurrentDemandReq, i.ChargingStatusReq,
            i.MeteringReceiptReq, i.WeldingDetectionReq, i.SessionStopReq,
            i.CertificateInstallationReq, i.CertificateUpdateReq)  # fmt: skip


def volts(value: float) -> i.PhysicalValueType:
    return to_physical(i.PhysicalValueType, i.unitSymbolType.V, value)


def amps(value: float) -> i.PhysicalValueType:
    return to_physical(i.PhysicalValueType, i.unitSymbolType.A, value)


def watts(value: float) -> i.PhysicalValueType:
    return to_physical(i.PhysicalValueType, i.unitSymbolType.W, value)


def wh(value: float) -> i.PhysicalValueType:
    return to_physical(i.PhysicalValueType, i.unitSymbolType.Wh, value)


MAX_PAUSED = 64  # paused sessions a server keeps (one connector: a handful of EVs at most)


@dataclass
class PausedSessions:
    """SessionIDs paused by SessionStopReq(Pause), by EVCCID: shared by every connection of
    one connector, so the EV can rejoin on its next connection."""

    by_id: dict[bytes, bytes] = field(default_factory=dict)  # SessionID -> EVCCID
    # SessionID -> what the protocol keeps of the service session (-20: the first
    # ServiceDiscoveryRes's renegotiation flag and the EV's first selection)
    kept: dict[bytes, Any] = field(default_factory=dict)

    def pause(self, session_id: bytes, evcc_id: bytes, kept: Any = None) -> None:
        # an EV may pause before it is authorized, so anyone can add entries: each EV keeps
        # its newest paused session only, and all EVs together the MAX_PAUSED newest
        for older in [sid for sid, ev in self.by_id.items() if ev == evcc_id]:
            self._forget(older)
        self.by_id[session_id] = evcc_id
        self.kept[session_id] = kept
        while len(self.by_id) > MAX_PAUSED:
            self._forget(next(iter(self.by_id)))  # dicts keep insertion order: the oldest

    def _forget(self, session_id: bytes) -> None:
        del self.by_id[session_id]
        self.kept.pop(session_id, None)

    def resume(self, session_id: bytes, evcc_id: bytes) -> tuple[bool, Any]:
        """(True, what ``pause`` kept) if ``session_id`` was paused by this EV, then
        forgotten; (False, None) otherwise."""
        if session_id != k.NEW_SESSION and self.by_id.get(session_id) == evcc_id:
            del self.by_id[session_id]
            return True, self.kept.pop(session_id, None)
        return False, None

    def rejoin(self, session_id: bytes, evcc_id: bytes) -> bool:
        """True (and forgotten) if ``session_id`` was paused by this EV."""
        return self.resume(session_id, evcc_id)[0]


def pmax_at(schedule: Schedule, t: int) -> float | None:
    """The PMax in force ``t`` s into the schedule; None past its end."""
    if t < 0 or t > schedule.duration:
        return None
    current = None
    for start, pmax in schedule.entries:
        if start <= t:
            current = pmax
    return current


class Iso2Secc(PncMixin, V2gSecc):
    schema = i
    states = State
    constants = k
    label = "-2"
    MAX_PAYLOAD = MAX_PAYLOAD
    TABLE = TABLE
    REQUEST_TYPES = REQUESTS

    def __init__(self, context: SessionContext, controller: EvseController, *,
                 paused: PausedSessions | None = None,
                 modes: frozenset[Any] = AC_MODES | {Mode.DC_extended},
                 pnc: PncConfig | None = None,
                 new_session_id: Callable[[], bytes] = random_session_id) -> None:  # fmt: skip
        super().__init__(context, new_session_id=new_session_id)
        self.pnc = pnc
        if self.pnc_offered:
            self.MAX_PAYLOAD = PNC_MAX_PAYLOAD
        self.challenge: bytes | None = None  # PnC, from PaymentDetailsRes
        self.contract = None  # PnC: the contract certificate, once its chain is checked
        self.emaid = ""
        self.signed_in = False
        self.controller = controller
        self.paused = paused if paused is not None else PausedSessions()
        self.modes = modes  # the energy transfer modes this connector offers
        self.evcc_id = b""
        self.header_session_id = b""  # of the request being handled
        self.mode: Any = None
        self.schedules: list[Schedule] = []
        self.tuple_id = 0
        self.isolation: Insulation | None = None
        self.precharge_target: float | None = None
        self.receipt_pending = False
        self._phase_started: dict[State, float] = {}

    # --- station state as -2 types --------------------------------------------------------

    def _notification(self, now: float) -> Any:
        stop = self.controller.stop_requested(now)
        return (i.EVSENotificationType.StopCharging if stop is not None
                else i.EVSENotificationType._None)  # fmt: skip

    def _dc_status(self, now: float, *, monitoring: bool = False) -> i.DC_EVSEStatus:
        return i.DC_EVSEStatus(NotificationMaxDelay=0, EVSENotification=self._notification(now),
                               EVSEIsolationStatus=self._isolation(),
                               EVSEStatusCode=self._dc_status_code(now, monitoring))

    def _ac_status(self, now: float) -> i.AC_EVSEStatus:
        return i.AC_EVSEStatus(NotificationMaxDelay=0, EVSENotification=self._notification(now),
                               RCD=False)

    def _status(self, now: float) -> Any:
        """EVSEStatus of a message both AC and DC share (PowerDelivery, MeteringReceipt)."""
        return self._ac_status(now) if self.mode in AC_MODES else self._dc_status(now)

    def _charge_service(self) -> i.ChargeServiceType:
        order = [m for m in Mode if m in self.modes]
        return i.ChargeServiceType(
            ServiceID=k.CHARGE_SERVICE_ID, ServiceName="AC_DC_Charging",
            ServiceCategory=i.serviceCategoryType.EVCharging, FreeService=False,
            SupportedEnergyTransferMode=i.SupportedEnergyTransferModeType(
                EnergyTransferMode=order))  # fmt: skip

    def _evse_charge_parameter(self, mode: Any, now: float) -> Any:
        if mode in AC_MODES:
            ac = self.controller.ac_limits()
            return i.AC_EVSEChargeParameter(
                AC_EVSEStatus=self._ac_status(now), EVSENominalVoltage=volts(ac.nominal_voltage),
                EVSEMaxCurrent=amps(ac.max_current))  # fmt: skip
        lim = self.controller.limits()
        return i.DC_EVSEChargeParameter(
            DC_EVSEStatus=self._dc_status(now), EVSEMaximumCurrentLimit=amps(lim.max_current),
            EVSEMaximumPowerLimit=watts(lim.max_power),
            EVSEMaximumVoltageLimit=volts(lim.max_voltage),
            EVSEMinimumCurrentLimit=amps(lim.min_current),
            EVSEMinimumVoltageLimit=volts(lim.min_voltage),
            EVSECurrentRegulationTolerance=amps(lim.current_tolerance),
            EVSEPeakCurrentRipple=amps(lim.peak_current_ripple))  # fmt: skip

    def _sa_schedules(self) -> i.SAScheduleList:
        tuples = []
        for schedule in self.schedules:
            entries = []
            for n, (start, pmax) in enumerate(schedule.entries):
                # the last entry carries the duration; the others end where the next starts
                last = n == len(schedule.entries) - 1
                entries.append(i.PMaxScheduleEntryType(
                    TimeInterval=i.RelativeTimeInterval(
                        start=start, duration=schedule.duration - start if last else None),
                    PMax=watts(pmax)))  # fmt: skip
            tuples.append(i.SAScheduleTupleType(
                SAScheduleTupleID=schedule.tuple_id,
                PMaxSchedule=i.PMaxScheduleType(PMaxScheduleEntry=entries)))  # fmt: skip
        return i.SAScheduleList(SAScheduleTuple=tuples)

    def _meter(self, now: float) -> i.MeterInfoType:
        return i.MeterInfoType(MeterID=k.METER_ID,
                               MeterReading=max(0, round(self.controller.meter_wh(now))))

    # --- responses, also the FAILED ones the core sends -----------------------------------

    def respond(self, request: Any, code: Code, now: float, **fields: Any) -> Any:  # noqa: C901
        kind = type(request)
        ongoing = fields.get("processing", i.EVSEProcessingType.Finished)
        if kind is i.SessionSetupReq:
            return i.SessionSetupRes(ResponseCode=code, EVSEID=self.controller.evse_id,
                                     EVSETimeStamp=None)
        if kind is i.ServiceDiscoveryReq:
            return i.ServiceDiscoveryRes(
                ResponseCode=code, PaymentOptionList=i.PaymentOptionListType(
                    PaymentOption=self.payment_options()),
                ChargeService=self._charge_service(), ServiceList=self.service_list())
        if kind is i.ServiceDetailReq:
            cert = request.ServiceID == CERTIFICATE_SERVICE_ID and code is Code.OK
            return i.ServiceDetailRes(
                ResponseCode=code, ServiceID=request.ServiceID,
                ServiceParameterList=self.certificate_service_parameters() if cert else None)
        if kind is i.PaymentServiceSelectionReq:
            return i.PaymentServiceSelectionRes(ResponseCode=code)
        if kind is i.AuthorizationReq:
            return i.AuthorizationRes(ResponseCode=code, EVSEProcessing=ongoing)
        if kind is i.ChargeParameterDiscoveryReq:
            # answered in the terms of the mode asked for (also when it is refused)
            mode = request.RequestedEnergyTransferMode
            ok = not code.value.startswith("FAILED")
            schedules = self._sa_schedules() if ok and self.schedules else None
            if schedules is not None:
                self.sales_tariffs(schedules.SAScheduleTuple)
            return i.ChargeParameterDiscoveryRes(
                ResponseCode=code, EVSEProcessing=ongoing, SASchedules=schedules,
                EVSEChargeParameter=self._evse_charge_parameter(mode, now))  # fmt: skip
        if kind is i.CableCheckReq:
            return i.CableCheckRes(
                ResponseCode=code,
                DC_EVSEStatus=self._dc_status(now, monitoring=fields.get("monitoring", False)),
                EVSEProcessing=ongoing)  # fmt: skip
        if kind is i.PreChargeReq:
            return i.PreChargeRes(ResponseCode=code, DC_EVSEStatus=self._dc_status(now),
                                  EVSEPresentVoltage=volts(self.controller.present_voltage(now)))
        if kind is i.PowerDeliveryReq:
            return i.PowerDeliveryRes(ResponseCode=code, EVSEStatus=self._status(now))
        if kind is i.CurrentDemandReq:
            return i.CurrentDemandRes(
                DC_EVSEStatus=self._dc_status(now), EVSEID=self.controller.evse_id,
                **self._demand_res_fields(code, now, fields),
                SAScheduleTupleID=max(1, self.tuple_id), MeterInfo=self._meter(now),
                ReceiptRequired=fields.get("receipt", False))  # fmt: skip
        if kind is i.ChargingStatusReq:
            return i.ChargingStatusRes(
                ResponseCode=code, EVSEID=self.controller.evse_id,
                SAScheduleTupleID=max(1, self.tuple_id),
                EVSEMaxCurrent=amps(self.controller.ac_limits().max_current),
                MeterInfo=self._meter(now), ReceiptRequired=fields.get("receipt", False),
                AC_EVSEStatus=self._ac_status(now))  # fmt: skip
        if kind is i.MeteringReceiptReq:
            return i.MeteringReceiptRes(ResponseCode=code, EVSEStatus=self._status(now))
        if kind is i.WeldingDetectionReq:
            return i.WeldingDetectionRes(
                ResponseCode=code, DC_EVSEStatus=self._dc_status(now),
                EVSEPresentVoltage=volts(self.controller.present_voltage(now)))
        if kind is i.SessionStopReq:
            return i.SessionStopRes(ResponseCode=code)
        stamp = round(self.pnc.clock().timestamp()) if self.pnc is not None else 0
        return pnc_response(request, code, self.challenge, stamp)

    # --- handlers (names from TABLE) ------------------------------------------------------

    def session_setup(self, req: i.SessionSetupReq, now: float) -> Reply:
        self.evcc_id = req.EVCCID
        if self.paused.rejoin(self.header_session_id, req.EVCCID):
            # [V2G2-754]-style resume: the EV rejoins its paused session by its SessionID
            self.session_id = self.header_session_id
            code = Code.OK_OldSessionJoined
        else:
            self.start_session(req, now)
            code = Code.OK_NewSessionEstablished
        self.emit(SessionStarted(self.session_id, req.EVCCID.hex()))
        return Reply(self.respond(req, code, now), S.SERVICE_DISCOVERY)

    def service_discovery(self, req: i.ServiceDiscoveryReq, now: float) -> Reply:
        return Reply(self.respond(req, Code.OK, now), S.SERVICE_SELECTION)

    def service_detail(self, req: i.ServiceDetailReq, now: float) -> Reply:
        # we offer the charge service only, and it has no parameter sets to detail
        known = req.ServiceID in self.offered_service_ids()
        code = Code.OK if known else Code.FAILED_ServiceIDInvalid
        return Reply(self.respond(req, code, now), S.SERVICE_SELECTION)

    def payment_selection(self, req: i.PaymentServiceSelectionReq, now: float) -> Reply:
        selected = {s.ServiceID for s in req.SelectedServiceList.SelectedService}
        contract = req.SelectedPaymentOption is i.paymentOptionType.Contract
        if req.SelectedPaymentOption not in self.payment_options():
            code = Code.FAILED_PaymentSelectionInvalid  # Contract: not offered (no TLS, no PnC)
        elif k.CHARGE_SERVICE_ID not in selected:
            code = Code.FAILED_NoChargeServiceSelected
        elif not selected <= self.offered_service_ids():
            code = Code.FAILED_ServiceSelectionInvalid  # and one we did not offer
        else:
            code = Code.OK
        return Reply(self.respond(req, code, now),
                     S.PAYMENT_DETAILS if contract else S.AUTHORIZATION)

    def authorization(self, req: i.AuthorizationReq, now: float) -> Reply:
        if self.contract is not None:
            return self.pnc_authorization(req, now)
        return self._authorize(req, self.evcc_id.hex(), S.AUTHORIZATION,
                               S.CHARGE_PARAMETER_DISCOVERY, now)

    def charge_parameter_discovery(self, req: i.ChargeParameterDiscoveryReq,
                                   now: float) -> Reply:  # fmt: skip
        mode = req.RequestedEnergyTransferMode
        param = req.EVChargeParameter
        self.mode = mode
        ac = mode in AC_MODES
        nxt = S.AC_POWER_DELIVERY if ac else S.CABLE_CHECK
        if mode not in self.modes:
            return Reply(self.respond(req, Code.FAILED_WrongEnergyTransferMode, now), nxt)
        wanted = i.AC_EVChargeParameterType if ac else i.DC_EVChargeParameterType
        if not isinstance(param, wanted) or not self._charge_parameter_fits(param):
            return Reply(self.respond(req, Code.FAILED_WrongChargeParameter, now), nxt)
        self.schedules = self.controller.schedules(now)[:req.MaxEntriesSAScheduleTuple or 3]
        return Reply(self.respond(req, Code.OK, now), nxt)

    def _charge_parameter_fits(self, param: Any) -> bool:
        if isinstance(param, i.AC_EVChargeParameterType):
            ac = self.controller.ac_limits()
            return (from_physical(param.EVMaxVoltage) >= ac.nominal_voltage
                    and from_physical(param.EVMinCurrent) <= ac.max_current)  # fmt: skip
        return from_physical(param.EVMaximumVoltageLimit) >= self.controller.limits().min_voltage

    def power_delivery(self, req: i.PowerDeliveryReq, now: float) -> Reply:
        ac = self.mode in AC_MODES
        progress = req.ChargeProgress
        if progress is i.chargeProgressType.Stop:
            if ac:
                self.controller.ac_allow(0.0, now)
            else:
                self.controller.stop_power(now)
            self.controller.open_contactors(now)
            return Reply(self.respond(req, Code.OK, now),
                         S.AC_STOPPED if ac else S.WELDING_DETECTION)
        here = self.state
        if progress is not i.chargeProgressType.Start:
            # Renegotiate is not supported yet: say so rather than pretend
            return Reply(self.respond(req, Code.FAILED, now), here)
        code = self._check_profile(req)
        if code is not Code.OK:
            return Reply(self.respond(req, code, now), here)
        if here in (S.DC_CHARGING, S.AC_CHARGING):  # a repeated start: nothing to do
            return Reply(self.respond(req, Code.OK, now), here)
        if not self._may_start(ac, now):
            return Reply(self.respond(req, Code.FAILED_PowerDeliveryNotApplied, now), here)
        if not self.controller.close_contactors(now):
            return Reply(self.respond(req, Code.FAILED_ContactorError, now), here)
        self.tuple_id = req.SAScheduleTupleID
        if ac:
            self.controller.ac_allow(self.controller.ac_limits().max_current, now)
            return Reply(self.respond(req, Code.OK, now), S.AC_CHARGING)
        return Reply(self.respond(req, Code.OK, now), S.DC_CHARGING)

    def _may_start(self, ac: bool, now: float) -> bool:
        if self.controller.stop_requested(now) is not None:
            return False
        if ac:
            return True
        target = self.precharge_target
        present = self.controller.present_voltage(now)
        return target is not None and abs(present - target) <= k.PRE_CHARGE_TOLERANCE

    def _check_profile(self, req: i.PowerDeliveryReq) -> Code:
        """The SAScheduleTuple must be one we offered, and the EV's ChargingProfile must
        stay within its PMax at every entry's start ([V2G2-224]/[V2G2-225] in spirit)."""
        chosen = next((s for s in self.schedules if s.tuple_id == req.SAScheduleTupleID), None)
        if chosen is None:
            return Code.FAILED_TariffSelectionInvalid
        profile = req.ChargingProfile
        if profile is None:
            return Code.OK
        last = -1
        for entry in profile.ProfileEntry:
            start = entry.ChargingProfileEntryStart
            pmax = pmax_at(chosen, start)
            if (start <= last or pmax is None
                    or from_physical(entry.ChargingProfileEntryMaxPower) > pmax):  # fmt: skip
                return Code.FAILED_ChargingProfileInvalid
            last = start
        return Code.OK

    def current_demand(self, req: i.CurrentDemandReq, now: float) -> Reply:
        fields = self._demand(req, now)
        if fields is None:
            return Reply(self.respond(req, Code.FAILED, now), S.DC_CHARGING)
        self.receipt_pending = self.controller.receipt_required(now)
        return Reply(self.respond(req, Code.OK, now, receipt=self.receipt_pending, **fields),
                     S.DC_CHARGING)  # fmt: skip

    def charging_status(self, req: i.ChargingStatusReq, now: float) -> Reply:
        stop = self.controller.stop_requested(now)
        if stop is StopRequest.EMERGENCY:
            self.controller.ac_allow(0.0, now)
            self.controller.open_contactors(now)
            return Reply(self.respond(req, Code.FAILED, now), S.AC_CHARGING)
        self.controller.ac_allow(0.0 if stop is not None
                                 else self.controller.ac_limits().max_current, now)
        self.receipt_pending = self.controller.receipt_required(now)
        return Reply(self.respond(req, Code.OK, now, receipt=self.receipt_pending),
                     S.AC_CHARGING)  # fmt: skip

    def metering_receipt(self, req: i.MeteringReceiptReq, now: float) -> Reply:
        # only after a response that asked for it, and about this session
        asked, self.receipt_pending = self.receipt_pending, False
        if not asked:
            return Reply(self.respond(req, Code.FAILED_SequenceError, now), self.state)
        if req.SessionID != self.session_id:
            return Reply(self.respond(req, Code.FAILED_UnknownSession, now), self.state)
        refused = self.pnc_metering_receipt(req) if self.contract is not None else None
        if refused is not None:
            return Reply(self.respond(req, refused, now), self.state)
        return Reply(self.respond(req, Code.OK, now), self.state)

    def welding_detection(self, req: i.WeldingDetectionReq, now: float) -> Reply:
        return Reply(self.respond(req, Code.OK, now), S.WELDING_DETECTION)

    def session_stop(self, req: i.SessionStopReq, now: float) -> Reply:
        self.controller.stop_power(now)
        self.controller.open_contactors(now)
        if req.ChargingSession is i.chargingSessionType.Pause:
            self.paused.pause(self.session_id, self.evcc_id)
        return Reply(self.respond(req, Code.OK, now), S.STOPPED)


def iso2_factory(controller_for: Callable[[SessionContext], EvseController], *,
                 paused: PausedSessions | None = None, **kwargs: Any) -> ProtocolFactory:
    """What ``SeccServer`` takes for -2: one machine per connection; ``paused`` is shared by
    all of them so a paused session can be rejoined on a later connection."""
    store = paused if paused is not None else PausedSessions()

    def make(context: SessionContext) -> Iso2Secc:
        return Iso2Secc(context, controller_for(context), paused=store, **kwargs)
    return make
