"""ISO 15118-20 EVCC for DC and DC_BPT, scheduled or dynamic control, sans-I/O: the car
side of one connection, from supportedAppProtocolReq to SessionStopRes. The same surface,
events and failure reasons as the DIN and -2 EVCCs (``EvccBase``). It authorizes by EIM, or
with ``Iso20Config.pnc`` (``pnc20.EvPnc20``) by Plug & Charge when the SECC offers it: the
SECC's GenChallenge and the contract chain in PnC_AReqAuthorizationMode, signed with the
contract key (ECDSA secp521r1 or Ed448, ``host.secc.sig20``).

In the charge loop it follows the SECC's EVSENotification: Terminate and Pause end the
charge (PowerDelivery(Stop), welding detection, SessionStop with Terminate or Pause),
ScheduleRenegotiation goes through PowerDelivery(ScheduleRenegotiation), ScheduleExchange
and PowerDelivery(Start) back into the loop, MeteringConfirmation is answered with a
MeteringConfirmationReq. ``Iso20Config.resume`` rejoins a paused session.
"""

from __future__ import annotations

import sys
from typing import Any

from host.exi import codec
from host.exi.runtime import ExiError
from host.exi.schemas import iso20_ac as acs
from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import iso20_common_types as t
from host.exi.schemas import iso20_dc as dc
from host.secc import iso20_constants as k
from host.secc.iso20_values import from_rational, total
from host.v2g import sap
from host.v2g.errors import RemoteProtocolError
from host.v2g.v2gtp import PayloadType, frame

from .common import EvccBase, Failure, ResponseReceived, SessionFailed, SessionStopped
from .ev import EvModel
from .iso20_requests import HEADER, Iso20Config, Iso20Requests

__all__ = ["Failure", "Iso20Config", "Iso20Evcc", "ResponseReceived", "SessionFailed",
           "SessionStopped"]

Code = m.responseCodeType
Progress = m.chargeProgressType
Notification = m.evseNotificationType
ONGOING = {m.processingType.Ongoing, m.processingType.Ongoing_WaitingForCustomerInteraction}
OK_CODES = {Code.OK, Code.OK_NewSessionEstablished, Code.OK_OldSessionJoined,
            Code.OK_CertificateExpiresSoon, Code.OK_PowerToleranceConfirmed}  # fmt: skip
PAYLOAD_TYPES = {m: PayloadType.ISO20_MAIN, dc: PayloadType.ISO20_DC, acs: PayloadType.ISO20_AC}
LOOP_REQUESTS = (dc.DC_ChargeLoopReq, acs.AC_ChargeLoopReq)

ANSWERS = {
    m.SessionSetupReq: m.SessionSetupRes, m.AuthorizationSetupReq: m.AuthorizationSetupRes,
    m.AuthorizationReq: m.AuthorizationRes, m.ServiceDiscoveryReq: m.ServiceDiscoveryRes,
    m.ServiceDetailReq: m.ServiceDetailRes, m.ServiceSelectionReq: m.ServiceSelectionRes,
    dc.DC_ChargeParameterDiscoveryReq: dc.DC_ChargeParameterDiscoveryRes,
    m.ScheduleExchangeReq: m.ScheduleExchangeRes, dc.DC_CableCheckReq: dc.DC_CableCheckRes,
    dc.DC_PreChargeReq: dc.DC_PreChargeRes, m.PowerDeliveryReq: m.PowerDeliveryRes,
    dc.DC_ChargeLoopReq: dc.DC_ChargeLoopRes,
    m.MeteringConfirmationReq: m.MeteringConfirmationRes,
    dc.DC_WeldingDetectionReq: dc.DC_WeldingDetectionRes, m.SessionStopReq: m.SessionStopRes,
    acs.AC_ChargeParameterDiscoveryReq: acs.AC_ChargeParameterDiscoveryRes,
    acs.AC_ChargeLoopReq: acs.AC_ChargeLoopRes,
}
HANDLERS: dict[type, str] = {res: "_on_" + res.__name__.removesuffix("Res").lower()
                             for res in ANSWERS.values()}
HANDLERS[m.SessionStopRes] = "_on_session_stop"


class Iso20Evcc(Iso20Requests, EvccBase):
    schema = m
    sap_protocol = sap.ISO20_DC
    schema_id = 1
    setup_timeout = k.COMMUNICATION_SETUP_TIMEOUT
    ok_codes = OK_CODES
    answers = ANSWERS
    handlers = HANDLERS

    def __init__(self, ev: EvModel, config: Iso20Config | None = None) -> None:
        config = config or Iso20Config()
        super().__init__(ev, config.resume or k.NEW_SESSION)
        self.config = config
        self.reader.accept = frozenset({PayloadType.EXI, PayloadType.ISO20_MAIN,
                                        PayloadType.ISO20_DC, PayloadType.ISO20_AC})
        self.codes: list[str] = []
        self.tuples: list[m.ScheduleTupleType] = []
        self.meter_readings: list[int] = []
        self.present_power: list[float] = []  # W, signed, from each DC_ChargeLoopRes
        self.notifications: list[str] = []
        self.targets: list[float] = []  # AC: EVSETargetActivePower of each loop answer, W
        self.exchanged: list[tuple[str, bytes]] = []  # (namespace, EXI) both ways, for tests
        self._progress: Any = None  # the ChargeProgress of the last PowerDeliveryReq
        # PnC: the signed PnC_AReqAuthorizationMode, sent unaltered while Ongoing [V2G20-1582]
        self._pnc_auth: tuple[m.PnC_AReqAuthorizationModeType, Any] | None = None
        self._renegotiating = False

    @property
    def paid_by_contract(self) -> bool:
        """PnC: the SECC offered it and our AuthorizationReq carries the contract."""
        return self._pnc_auth is not None

    # --- plumbing for -20: no V2G_Message envelope, one payload type per schema ----------------

    def start(self, now: float) -> None:
        # offers the -20 namespace of its service: AC or DC
        self._timers["setup"] = now + self.setup_timeout
        protocol = sap.ISO20_AC if self.ac else sap.ISO20_DC
        self._out.append(frame(PayloadType.EXI, sap.push_request([(protocol, 1, 1)])))
        self._timers["msg"] = now + k.MSG_TIMEOUT

    def _msg_timeout(self, request: Any) -> float:
        if isinstance(request, LOOP_REQUESTS):
            return self.config.loop_msg_timeout
        if isinstance(request, m.ServiceDetailReq):
            return k.SERVICE_DETAIL_TIMEOUT
        return self.config.msg_timeout

    def _on_code(self, code: Any) -> None:
        self.codes.append(code.value)

    def _send(self, request: Any, now: float, signature: Any = None) -> None:
        if isinstance(request, m.AuthorizationReq) and self._pnc_auth is not None:
            signature = self._pnc_auth[1]
        request.Header = t.MessageHeaderType(SessionID=self.session_id,
                                             TimeStamp=self.wall_seconds(now),
                                             Signature=signature)
        schema = sys.modules[type(request).__module__]
        payload = codec.encode(request, schema.NAMESPACE)
        self.exchanged.append((schema.NAMESPACE, payload))
        self._out.append(frame(PAYLOAD_TYPES[schema], payload))
        self.awaiting = self.answers[type(request)]
        self.sent.append(type(request).__name__)
        self._timers["msg"] = now + self._msg_timeout(request)

    def _on_handshake(self, payload: bytes, now: float) -> None:
        self._handshake = False
        try:
            res = sap.pull_response(payload)
        except RemoteProtocolError as exc:
            self._fail(Failure.NO_NEGOTIATION, str(exc), now)
            return
        if res.SchemaID != self.schema_id or not res.ResponseCode.value.startswith("OK"):
            self._fail(Failure.NO_NEGOTIATION, res.ResponseCode.value, now)
            return
        self._send(m.SessionSetupReq(Header=HEADER, EVCCID=self.config.evcc_id), now)

    def _on_message(self, payload: bytes, now: float) -> None:
        expected = self.awaiting
        schema = sys.modules[expected.__module__] if expected is not None else m
        try:
            decoded = codec.decode(schema.NAMESPACE, payload)
        except (ExiError, ValueError, IndexError) as exc:
            self._fail(Failure.UNEXPECTED, f"does not decode: {exc}", now)
            return
        self.exchanged.append((schema.NAMESPACE, payload))
        if type(decoded) is not expected:
            self._fail(Failure.UNEXPECTED, f"{type(decoded).__name__}, expected "
                       f"{getattr(expected, '__name__', None)}", now)  # fmt: skip
            return
        body: Any = decoded
        self._answered(body, body.Header.SessionID, m.SessionSetupRes, now)

    # --- response handlers (names from HANDLERS) --------------------------------------------

    def _on_sessionsetup(self, res: m.SessionSetupRes, now: float) -> None:
        self._timers.pop("setup", None)
        self._send(m.AuthorizationSetupReq(Header=HEADER), now)

    def _authorization_req(self, now: float) -> m.AuthorizationReq:
        if self._pnc_auth is not None:
            return m.AuthorizationReq(Header=HEADER,
                                      SelectedAuthorizationService=m.authorizationType.PnC,
                                      PnC_AReqAuthorizationMode=self._pnc_auth[0])
        return m.AuthorizationReq(Header=HEADER,
                                  SelectedAuthorizationService=m.authorizationType.EIM,
                                  EIM_AReqAuthorizationMode=m.EIM_AReqAuthorizationModeType())

    def _on_authorizationsetup(self, res: m.AuthorizationSetupRes, now: float) -> None:
        offered = res.PnC_ASResAuthorizationMode
        if (self.config.pnc is not None and m.authorizationType.PnC in res.AuthorizationServices
                and offered is not None):  # fmt: skip
            self._pnc_auth = self.config.pnc.authorization(offered.GenChallenge)
        elif m.authorizationType.EIM not in res.AuthorizationServices:
            self._fail(Failure.UNEXPECTED, "no EIM offered", now)
            return
        self._send(self._authorization_req(now), now)

    def _on_authorization(self, res: m.AuthorizationRes, now: float) -> None:
        if res.EVSEProcessing in ONGOING:
            if self._ongoing(m.AuthorizationReq, k.ONGOING_TIMEOUT, now):
                self._later(self._authorization_req, now)
            return
        self._send(m.ServiceDiscoveryReq(Header=HEADER), now)

    def _on_servicediscovery(self, res: m.ServiceDiscoveryRes, now: float) -> None:
        offered = [s.ServiceID for s in res.EnergyTransferServiceList.Service]
        if self.config.service not in offered:
            self._fail(Failure.UNEXPECTED, f"service {self.config.service} not offered", now)
            return
        self._send(m.ServiceDetailReq(Header=HEADER, ServiceID=self.config.service), now)

    def _on_servicedetail(self, res: m.ServiceDetailRes, now: float) -> None:
        for ps in res.ServiceParameterList.ParameterSet:
            values = {p.Name: p.intValue for p in ps.Parameter}
            if values.get("ControlMode") == self.config.control_mode:
                self._send(m.ServiceSelectionReq(
                    Header=HEADER, SelectedEnergyTransferService=m.SelectedServiceType(
                        ServiceID=self.config.service, ParameterSetID=ps.ParameterSetID)), now)
                return
        self._fail(Failure.UNEXPECTED, "no parameter set with our control mode", now)

    def _on_serviceselection(self, res: m.ServiceSelectionRes, now: float) -> None:
        self._send(self.charge_parameter_req(now), now)

    def _on_dc_chargeparameterdiscovery(self, res: Any, now: float) -> None:
        self._send(self.schedule_exchange_req(now), now)

    def _on_scheduleexchange(self, res: m.ScheduleExchangeRes, now: float) -> None:
        if res.EVSEProcessing in ONGOING:
            if self._ongoing(m.ScheduleExchangeReq, k.ONGOING_TIMEOUT, now):
                self._later(self.schedule_exchange_req, now)
            return
        self._phase_started.pop(m.ScheduleExchangeReq, None)
        if not self.dynamic:
            scheduled = res.Scheduled_SEResControlMode
            if scheduled is None or not scheduled.ScheduleTuple:
                self._fail(Failure.UNEXPECTED, "no schedule tuple", now)
                return
            self.tuples = scheduled.ScheduleTuple
        if self._renegotiating or self.ac:
            self._renegotiating = False
            self._power_delivery(Progress.Start, now)
        else:
            self._send(dc.DC_CableCheckReq(Header=HEADER), now)

    def _on_dc_cablecheck(self, res: dc.DC_CableCheckRes, now: float) -> None:
        if res.EVSEProcessing in ONGOING:
            if self._ongoing(dc.DC_CableCheckReq, k.CABLE_CHECK_TIMEOUT, now):
                self._later(lambda _now: dc.DC_CableCheckReq(Header=HEADER), now)
            return
        self._send(self.pre_charge_req(now), now)

    def _on_dc_precharge(self, res: dc.DC_PreChargeRes, now: float) -> None:
        present = from_rational(res.EVSEPresentVoltage)
        if abs(present - self.ev.battery_voltage()) <= k.PRE_CHARGE_TOLERANCE:
            self._power_delivery(Progress.Start, now)
        elif self._ongoing(dc.DC_PreChargeReq, k.PRE_CHARGE_TIMEOUT, now):
            self._later(self.pre_charge_req, now)

    def _power_delivery(self, progress: Any, now: float) -> None:
        self._progress = progress
        self._send(self.power_delivery_req(progress, now), now)

    def _on_powerdelivery(self, res: m.PowerDeliveryRes, now: float) -> None:
        if self._progress is Progress.Start:
            self._send(self.charge_loop_req(now), now)
        elif self._progress is Progress.ScheduleRenegotiation:
            self._renegotiating = True
            self._send(self.schedule_exchange_req(now), now)
        elif self.ac:
            self._send(self.stop_req(), now)
        else:
            self._send(dc.DC_WeldingDetectionReq(Header=HEADER,
                                                 EVProcessing=m.processingType.Ongoing), now)

    def _on_ac_chargeparameterdiscovery(self, res: Any, now: float) -> None:
        self._send(self.schedule_exchange_req(now), now)

    def _on_ac_chargeloop(self, res: acs.AC_ChargeLoopRes, now: float) -> None:
        control: Any = res.CLResControlMode
        self.ac_target = total(control, "EVSETargetActivePower")
        self.targets.append(self.ac_target)
        self._on_loop(res, total(control, "EVSEPresentActivePower"), now)

    def _on_dc_chargeloop(self, res: dc.DC_ChargeLoopRes, now: float) -> None:
        self._on_loop(res, from_rational(res.EVSEPresentCurrent)
                      * from_rational(res.EVSEPresentVoltage), now)

    def _on_loop(self, res: Any, present_w: float, now: float) -> None:
        if res.MeterInfo is not None:
            self.meter_readings.append(res.MeterInfo.ChargedEnergyReadingWh)
        self.present_power.append(present_w)
        note = res.EVSEStatus.EVSENotification if res.EVSEStatus is not None else None
        if note is not None:
            self.notifications.append(note.value)
        if note is Notification.MeteringConfirmation:
            meter = res.MeterInfo or t.MeterInfoType(MeterID="", ChargedEnergyReadingWh=0)
            data = m.SignedMeteringDataType(Id="meter", SessionID=self.session_id,
                                            MeterInfo=meter)
            if self.dynamic:
                data.Dynamic_SMDTControlMode = m.Dynamic_SMDTControlModeType()
            else:
                data.Scheduled_SMDTControlMode = m.Scheduled_SMDTControlModeType(
                    SelectedScheduleTupleID=self.selected_tuple)
            self._send(m.MeteringConfirmationReq(Header=HEADER, SignedMeteringData=data), now)
        elif note is Notification.ScheduleRenegotiation:
            self._power_delivery(Progress.ScheduleRenegotiation, now)
        elif note in (Notification.Terminate, Notification.Pause):
            self.pausing = note is Notification.Pause
            self._power_delivery(Progress.Stop, now)
        elif self.ev.charging_complete(now):
            self._power_delivery(Progress.Stop, now)
        else:
            self._later(self.charge_loop_req, now)

    def _on_meteringconfirmation(self, res: m.MeteringConfirmationRes, now: float) -> None:
        if self.ev.charging_complete(now):
            self._power_delivery(Progress.Stop, now)
        else:
            self._later(self.charge_loop_req, now)

    def _on_dc_weldingdetection(self, res: dc.DC_WeldingDetectionRes, now: float) -> None:
        self._welding_tries += 1
        present = from_rational(res.EVSEPresentVoltage)
        if present < k.SAFE_VOLTAGE or self._welding_tries >= self.config.welding_tries:
            self._send(self.stop_req(), now)
        else:
            self._later(lambda _now: dc.DC_WeldingDetectionReq(
                Header=HEADER, EVProcessing=m.processingType.Ongoing), now)
