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
MeteringConfirmationReq. ``Iso20Config.resume`` rejoins a paused session. With
``Iso20Config.install`` (``install20.EvInstall20``) it fetches contract chains by
CertificateInstallation before it authorizes, when the SECC offers that.

ServiceRenegotiation ([V2G20-1476], [V2G20-1477]), when the first ServiceDiscoveryRes
announced it: asked by the SECC (EVSENotification=ServiceRenegotiation) or by the EV
(``Iso20Config.renegotiate_to`` after ``renegotiate_after`` loop iterations), the charge is
stopped as for Terminate, SessionStopReq carries ServiceRenegotiation, and after its OK the
EV starts again at ServiceDiscoveryReq in the same session, choosing ``renegotiate_to``, or
its service, or (the station withdrew it) the same service with or without BPT.

Standby (``Iso20Config.standby_after``): PowerDelivery(Standby) from the loop, then loop
requests asking for 0 W until PowerDelivery(Start) ([V2G20-1391], [V2G20-1393],
[V2G20-2116]); a WARNING_StandbyNotAllowed answer and the EV charges on ([V2G20-1396]).
"""

from __future__ import annotations

import sys
from dataclasses import replace
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
from .pnc20 import EvPnc20

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
STANDBY_RESIDUAL_W = 50.0  # what the EV takes for "no power flows" before Standby
# the same service with or without BPT: what an EV falls back to when the station
# withdraws (or newly offers only) one of them
PARTNER = {k.SERVICE_DC: k.SERVICE_DC_BPT, k.SERVICE_DC_BPT: k.SERVICE_DC,
           k.SERVICE_AC: k.SERVICE_AC_BPT, k.SERVICE_AC_BPT: k.SERVICE_AC}

ANSWERS = {
    m.SessionSetupReq: m.SessionSetupRes, m.AuthorizationSetupReq: m.AuthorizationSetupRes,
    m.CertificateInstallationReq: m.CertificateInstallationRes,
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
        self._setup_res: m.AuthorizationSetupRes | None = None  # kept while installing
        self._install_req: m.CertificateInstallationReq | None = None
        self._install_signature: Any = None
        self.service = config.service
        self.services_used: list[int] = []  # each ServiceSelectionReq's ServiceID, in order
        self.renegotiation_offered: bool | None = None  # the first ServiceDiscoveryRes's
        self.standby_power: list[float] = []  # W, each loop answer's while standing by
        self.standby_refused = False
        self._next_service: int | None = None
        self._loops = 0  # loop iterations of the present service
        self._standby_loops = 0
        self._standby_done = False

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
        if isinstance(request, m.CertificateInstallationReq):
            return k.CERTIFICATE_INSTALLATION_TIMEOUT
        return self.config.msg_timeout

    def _on_code(self, code: Any) -> None:
        self.codes.append(code.value)

    def _send(self, request: Any, now: float, signature: Any = None) -> None:
        if isinstance(request, m.CertificateInstallationReq) and signature is None:
            signature = self._install_signature  # repeated unaltered while Ongoing
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
        install = self.config.install
        if res.CertificateInstallationService and install is not None and install.wants():
            self._setup_res = res
            self._install_req, self._install_signature = install.request()
            self._send(self._install_req, now)
            return
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

    def _on_certificateinstallation(self, res: m.CertificateInstallationRes, now: float) -> None:
        install, setup = self.config.install, self._setup_res
        assert install is not None and setup is not None and self._install_req is not None
        if res.EVSEProcessing in ONGOING:
            if self._ongoing(m.CertificateInstallationReq, k.ONGOING_TIMEOUT, now):
                request = self._install_req
                self._later(lambda _now: request, now)
            return
        self._phase_started.pop(m.CertificateInstallationReq, None)
        why = install.take(res, res.Header.Signature)
        if why:
            self._fail(Failure.UNEXPECTED, f"CertificateInstallationRes refused: {why}", now)
            return
        if res.RemainingContractCertificateChains > 0 and install.wants():
            # [V2G20-1579]: the same request again, unaltered (signature included)
            self._send(self._install_req, now)
            return
        self._on_installed(install, now)
        self._on_authorizationsetup(replace(setup, CertificateInstallationService=False), now)

    def _on_installed(self, install: Any, now: float) -> None:
        """Without a contract of its own the EV authorizes by PnC with the first one it got."""
        if self.config.pnc is None and install.installed:
            chain, key = install.installed[0]
            self.config.pnc = EvPnc20(chain, key)

    def _on_servicediscovery(self, res: m.ServiceDiscoveryRes, now: float) -> None:
        if self.renegotiation_offered is None:
            self.renegotiation_offered = res.ServiceRenegotiationSupported
        offered = [s.ServiceID for s in res.EnergyTransferServiceList.Service]
        wished = [self.service]
        if self._next_service is not None:  # after a ServiceRenegotiation
            wished = [self._next_service, self.service, PARTNER[self.service]]
        chosen = next((sid for sid in wished if sid in offered), None)
        if chosen is None:
            self._fail(Failure.UNEXPECTED, f"service {self.service} not offered", now)
            return
        self.service, self._next_service = chosen, None
        self._send(m.ServiceDetailReq(Header=HEADER, ServiceID=self.service), now)

    def _on_servicedetail(self, res: m.ServiceDetailRes, now: float) -> None:
        for ps in res.ServiceParameterList.ParameterSet:
            values = {p.Name: p.intValue for p in ps.Parameter}
            if values.get("ControlMode") == self.config.control_mode:
                self.services_used.append(self.service)
                self._send(m.ServiceSelectionReq(
                    Header=HEADER, SelectedEnergyTransferService=m.SelectedServiceType(
                        ServiceID=self.service, ParameterSetID=ps.ParameterSetID)), now)
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

    def _tolerated(self, body: Any) -> bool:
        return (isinstance(body, m.PowerDeliveryRes) and self._progress is Progress.Standby
                and body.ResponseCode is Code.WARNING_StandbyNotAllowed)  # fmt: skip

    def _on_powerdelivery(self, res: m.PowerDeliveryRes, now: float) -> None:
        if self._progress is Progress.Standby:
            # refused: the EV keeps to its profile or the station's demand ([V2G20-1396])
            self.standby_refused = res.ResponseCode is Code.WARNING_StandbyNotAllowed
            self.standing_by = not self.standby_refused
            self._send(self.charge_loop_req(now), now)
            return
        self.standing_by = False  # Start, Stop and ScheduleRenegotiation end it [V2G20-1386]
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
        self._loops += 1
        if self.standing_by:
            self.standby_power.append(present_w)
            self._standby_loops += 1
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
        elif note is Notification.ServiceRenegotiation or self._wants_other_service():
            self.renegotiating_service = True
            self._power_delivery(Progress.Stop, now)
        elif self.ev.charging_complete(now):
            self._power_delivery(Progress.Stop, now)
        elif self._standby_turn(present_w):
            self._later(lambda at: self.power_delivery_req(self._progress, at), now)
        else:
            self._later(self.charge_loop_req, now)

    def _wants_other_service(self) -> bool:
        """The EV's own ServiceRenegotiation, once, if the SECC announced it."""
        c = self.config
        if (c.renegotiate_to is None or len(self.services_used) != 1
                or not self.renegotiation_offered or self._loops < c.renegotiate_after):
            return False
        self._next_service = c.renegotiate_to
        return True

    def _standby_turn(self, present_w: float) -> bool:
        """Time to enter or to leave standby: sets the ChargeProgress to send. Before
        Standby the EV asks for no power until none flows ([V2G20-2116])."""
        c = self.config
        if self.standing_by and self._standby_loops >= c.standby_loops:
            self._progress = Progress.Start
            return True
        if (c.standby_after is not None and not self._standby_done
                and self._loops >= c.standby_after):  # fmt: skip
            self.winding_down = True
            if abs(present_w) < STANDBY_RESIDUAL_W:
                self.winding_down, self._standby_done = False, True
                self._progress = Progress.Standby
                return True
        return False

    def _on_session_stop(self, res: Any, now: float) -> None:
        if not self.renegotiating_service:
            super()._on_session_stop(res, now)
            return
        # [V2G20-1477]: the same session goes on at ServiceDiscovery with a new service
        self.renegotiating_service = self.standing_by = self._renegotiating = False
        self.winding_down = self._standby_done = False
        self.tuples, self.selected_tuple, self._progress = [], 0, None
        self._welding_tries = self._loops = self._standby_loops = 0
        self._phase_started.clear()
        self._next_service = self._next_service or self.service
        self._send(m.ServiceDiscoveryReq(Header=HEADER), now)

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
