"""ISO 15118-20 SECC, the common messages, on the shared session core; the energy services
(``iso20_dc``: DC and DC_BPT) add their own requests and states to the table.

Sequence (-20 §8.8): SessionSetup, AuthorizationSetup, Authorization (EIM or PnC; Ongoing
while the station decides), ServiceDiscovery, ServiceDetail (repeatable), ServiceSelection,
the service's ChargeParameterDiscovery, ScheduleExchange (scheduled: up to 3 schedule tuples
with power, discharge and price-level schedules; dynamic: the EV's departure time and SoC
targets echoed), then the service's preparation, PowerDelivery(Start), the charge loop,
PowerDelivery(Stop), SessionStop. In the loop the SECC asks, through EVSENotification, for
Terminate or Pause (the station's stop request), ServiceRenegotiation (the station's offer
of services changed), ScheduleRenegotiation (the station's schedules changed) or
MeteringConfirmation (a receipt wanted). Pause and resume, SessionStop(ServiceRenegotiation)
back to ServiceDiscovery in the same session, and PowerDelivery(Standby) are in
``iso20_flow`` (with their requirement numbers).

The service's parameter sets are the control modes: set 1 scheduled, set 2 dynamic (with
BPTChannel Unified and GeneratorMode GridFollowing for the BPT services, and for AC_BPT
GridCodeIslandingDetectionMethod). Every -20 message travels with its schema's V2GTP payload
type (0x8002 common, 0x8003 AC, 0x8004 DC). Plug & Charge Authorization with a
``PncConfig`` over TLS 1.3 comes from ``iso20_pnc.Pnc20Mixin`` (without one, PnC is answered
WARNING_AuthorizationSelectionInvalid); CertificateInstallation with an ``InstallConfig``
over TLS from ``iso20_install.InstallMixin``.

VehicleCheckIn/Out are answered FAILED_SequenceError (no table row takes them), in a
VehicleCheckInRes / VehicleCheckOutRes. They carry parking data (ParkingMethod, VehicleFrame,
DeviceOffset; ParkingSpace, DeviceLocation, TargetDistance) and sit in -20 §8.3.4.8 (as the
iso15118 package cites it) right after the WPT (§8.3.4.6) and ACDP (§8.3.4.7) messages: we
read them as positioning against a pad or an automated connection device. The conductive
AC/DC flows (§8.6.4.6.3.2/.3) name the next request after every message and never these
([V2G20-1981], [V2G20-2658], [V2G20-1989], [V2G20-2013], [V2G20-1631]): out of sequence at
every point of our services. Neither peer has them (the iso15118 package: a TODO in
secc/failed_responses.py; libiso15118: no message type).

Not here: the WPT and ACDP services (so VehicleCheckIn/Out), value-added services, skipping
the cable check in a resumed session, contract delivery for Ed448 (X448) OEM keys, TPM key
delivery.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from host.exi import codec
from host.exi.runtime import ExiError
from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import iso20_common_types as t
from host.v2g.errors import RemoteProtocolError
from host.v2g.protocol import SessionContext
from host.v2g.v2gtp import PayloadType

from . import iso20_constants as k
from .common import V2gSecc
from .controller import (
    Decision,
    EvseController,
    PowerWindow,
    Schedule,
    StopRequest,
    bpt_power,
    discharge_allowed_w,
)
from .core import EndReason, Reply
from .din import random_session_id
from .iso2 import PausedSessions
from .iso20_flow import SessionFlows
from .iso20_install import InstallConfig, InstallMixin
from .iso20_pnc import Pnc20Mixin
from .iso20_schedule import check_profile, limits_at, no_schedule, schedule_tuple
from .iso20_table import COMMON_REQUESTS, COMMON_TABLE, State
from .iso20_values import from_rational, rational
from .pnc import PncConfig

Code = m.responseCodeType
Processing = m.processingType
Notification = m.evseNotificationType
Progress = m.chargeProgressType
MAX_PAYLOAD = 8 * 1024
S = State


BOTH_MODES = (k.CONTROL_SCHEDULED, k.CONTROL_DYNAMIC)


def parameter_sets(service: int, modes: tuple[int, ...] = BOTH_MODES,
                   ) -> list[m.ParameterSetType]:  # fmt: skip
    """One set per control mode, in the order given: the mode's number is the set's ID,
    1 scheduled, 2 dynamic (-20 Tables 205-208)."""
    sets = []
    for mode in modes:
        set_id = mode
        mobility = k.MOBILITY_EVCC_ONLY if mode == k.CONTROL_SCHEDULED else \
            k.MOBILITY_EVCC_AND_SECC
        ac = service in k.AC_SERVICES
        values = [("Connector", k.AC_CONNECTOR_THREE_PHASE if ac else k.DC_CONNECTOR_EXTENDED),
                  ("ControlMode", mode)]
        if ac:
            values.append(("EVSENominalVoltage", 230))
        values += [("MobilityNeedsMode", mobility), ("Pricing", k.PRICING_LEVELS)]
        if service in k.BPT_SERVICES:
            values += [("BPTChannel", k.BPT_CHANNEL_UNIFIED),
                       ("GeneratorMode", k.GENERATOR_GRID_FOLLOWING)]
            if ac:
                values.append(("GridCodeIslandingDetectionMethod", k.ISLANDING_PASSIVE))
        sets.append(m.ParameterSetType(ParameterSetID=set_id, Parameter=[
            m.ParameterType(Name=name, intValue=value) for name, value in values]))
    return sets


class Iso20Secc(SessionFlows, InstallMixin, Pnc20Mixin, V2gSecc):
    """The common messages; a subclass adds its service's table rows and handlers and sets
    ``SERVICES``, ``AFTER_SCHEDULE`` (the state after ScheduleExchange) and the hooks."""

    schema = m
    states = State
    constants = k
    label = "-20"
    MAX_PAYLOAD = MAX_PAYLOAD
    payload_types = frozenset({PayloadType.ISO20_MAIN, PayloadType.ISO20_AC,
                               PayloadType.ISO20_DC})  # fmt: skip
    SERVICES: frozenset[int] = frozenset()
    AFTER_SCHEDULE = S.CABLE_CHECK
    SERVICE_SCHEMAS: dict[int, Any] = {}  # payload type -> schema module of the service

    def __init__(self, context: SessionContext, controller: EvseController, *,
                 services: frozenset[int] | None = None, paused: PausedSessions | None = None,
                 clock_offset: float = 0.0, control_modes: tuple[int, ...] = BOTH_MODES,
                 pnc: PncConfig | None = None, install: InstallConfig | None = None,
                 renegotiation: bool = True, standby: bool = True,
                 new_session_id: Callable[[], bytes] = random_session_id) -> None:  # fmt: skip
        super().__init__(context, new_session_id=new_session_id)
        self.init_pnc(pnc)  # Plug & Charge (iso20_pnc) over TLS 1.3 when given
        self.install = install  # CertificateInstallation (iso20_install) over TLS when given
        self._last_chain_given = False
        self.controller = controller
        self.services = self.SERVICES if services is None else services & self.SERVICES
        self.paused = paused if paused is not None else PausedSessions()
        self.clock_offset = clock_offset  # monotonic `now` -> the wall clock of TimeStamps
        # the control modes offered, first the one an EV that takes the first set gets
        self.control_modes = control_modes
        self.renegotiation_supported = renegotiation  # ServiceRenegotiation (iso20_flow)
        self.standby_allowed = standby
        self.evcc_id = ""
        self.header_session_id = b""
        self.offers_renegotiation: bool | None = None  # see iso20_flow
        self.first_selection: tuple[int, int] | None = None
        self._in_type: int = PayloadType.ISO20_MAIN
        self._end_after: str | None = None  # a WARNING that ends the session
        self.selection_refused = False  # PnC asked though not offered ([V2G20-2226])
        self._phase_started: dict[Any, float] = {}
        self.forget_service()

    def forget_service(self) -> None:
        """What the EV and the station chose for the energy service: none yet (a new
        session, or a ServiceRenegotiation)."""
        self.ev_limits: Any = None  # the EV's AC_ or DC_CPDReqEnergyTransferMode
        self.service_id = 0
        self.control_mode = k.CONTROL_SCHEDULED
        self.schedules: list[Schedule] = []
        self.tuple_id = 0
        self.schedule_anchor = 0  # the TimeAnchor of the schedules offered (wall clock, s)
        self.discharge_selected = True  # PowerDelivery's BPT_ChannelSelection (Charge: no)
        self.ev_soc: float | None = None  # from the EV's DisplayParameters, 0..1
        self.confirmation_pending = False
        self.renegotiation_asked = False
        self.isolation: Any = None
        self.precharge_target: float | None = None
        self.last_power = 0.0  # W, signed: what the last loop iteration asked of the stage
        self.offered = None
        self.standing_by = False
        self._phase_started.clear()

    @property
    def bpt(self) -> bool:
        return self.service_id in k.BPT_SERVICES

    # --- the codec side -------------------------------------------------------------------

    def receive(self, payload_type: int, payload: bytes, now: float) -> None:
        self._in_type = payload_type
        super().receive(payload_type, payload, now)
        if self._end_after is not None and self.end is None:
            self._finish(EndReason.FAILED, self._end_after, now)

    def decode(self, payload: bytes) -> tuple[bytes, Any]:
        schema = m if self._in_type == PayloadType.ISO20_MAIN else self.SERVICE_SCHEMAS.get(
            self._in_type)  # fmt: skip
        if schema is None:
            raise RemoteProtocolError(f"payload type {self._in_type:#06x} is not this "
                                      "service's", "bad_exi")  # fmt: skip
        try:
            message = codec.decode(schema.NAMESPACE, payload, max_size=self.MAX_PAYLOAD)
        except (ExiError, ValueError, IndexError) as exc:
            raise RemoteProtocolError(f"-20 message does not decode: {exc}", "bad_exi") from exc
        header = getattr(message, "Header", None)
        if not isinstance(header, t.MessageHeaderType):
            raise RemoteProtocolError(f"{type(message).__name__} is no -20 message", "bad_exi")
        self.header_session_id = header.SessionID
        self.header_signature = header.Signature
        return header.SessionID, message

    def encode(self, session_id: bytes, response: Any) -> bytes:
        # before SessionSetup there is no SessionID yet; -20's is always 8 bytes (zeros: none)
        signature, self.signature_out = self.signature_out, None
        response.Header = t.MessageHeaderType(SessionID=session_id or k.NEW_SESSION,
                                              TimeStamp=response.Header.TimeStamp,
                                              Signature=signature)  # fmt: skip
        return codec.encode(response, self._schema_of(response).NAMESPACE)

    def payload_type_of(self, response: Any) -> int:
        for payload_type, schema in self.SERVICE_SCHEMAS.items():
            if self._schema_of(response) is schema:
                return payload_type
        return PayloadType.ISO20_MAIN

    @staticmethod
    def _schema_of(message: Any) -> Any:
        return sys.modules[type(message).__module__]

    def timestamp(self, now: float) -> int:
        """Seconds since the epoch, for TimeStamp, TimeAnchor and MeterTimestamp."""
        return max(0, int(now + self.clock_offset))

    def header(self, now: float) -> t.MessageHeaderType:
        return t.MessageHeaderType(SessionID=self.session_id, TimeStamp=self.timestamp(now))

    # --- station state as -20 types ---------------------------------------------------------

    def notification(self, now: float) -> Notification | None:
        """What the loop answers ask of the EV (None: nothing)."""
        stop = self.controller.stop_requested(now)
        if stop is StopRequest.PAUSE:
            return Notification.Pause
        if stop is not None:
            return Notification.Terminate
        if self.service_changed(now):
            return Notification.ServiceRenegotiation
        offered = self.controller.schedules(now)[:k.MAX_SCHEDULE_TUPLES]
        if self.schedules and offered != self.schedules:
            self.renegotiation_asked = True
            return Notification.ScheduleRenegotiation
        if self.controller.receipt_required(now):
            self.confirmation_pending = True
            return Notification.MeteringConfirmation
        return None

    def evse_status(self, notification: Notification | None) -> t.EVSEStatusType | None:
        if notification is None:
            return None
        return t.EVSEStatusType(NotificationMaxDelay=0, EVSENotification=notification)

    def meter(self, now: float) -> t.MeterInfoType:
        exported = round(self.controller.exported_wh(now)) if self.bpt else None
        charged = self.controller.meter_wh(now) + self.controller.exported_wh(now)
        return t.MeterInfoType(MeterID=k.METER_ID, ChargedEnergyReadingWh=max(0, round(charged)),
                               BPT_DischargedEnergyReadingWh=exported,
                               MeterTimestamp=self.timestamp(now))

    def respond(self, request: Any, code: Code, now: float, **fields: Any) -> Any:
        """The response to ``request`` (also the FAILED ones the core sends)."""
        h = self.header(now)
        processing = fields.get("processing", Processing.Finished)
        builders: dict[type, Callable[[], Any]] = {
            m.SessionSetupReq: lambda: m.SessionSetupRes(
                Header=h, ResponseCode=code, EVSEID=self.controller.evse_id),
            m.AuthorizationSetupReq: lambda: m.AuthorizationSetupRes(
                Header=h, ResponseCode=code, **(self.authorization_modes() | {
                    "CertificateInstallationService": self.install_offered})),
            m.AuthorizationReq: lambda: m.AuthorizationRes(
                Header=h, ResponseCode=code, EVSEProcessing=processing),
            m.ServiceDiscoveryReq: lambda: m.ServiceDiscoveryRes(
                Header=h, ResponseCode=code,
                ServiceRenegotiationSupported=bool(self.offers_renegotiation),
                EnergyTransferServiceList=m.ServiceListType(Service=[
                    m.ServiceType(ServiceID=sid, FreeService=False)
                    for sid in fields.get("offer", sorted(self.services))])),
            m.ServiceDetailReq: lambda: m.ServiceDetailRes(
                Header=h, ResponseCode=code, ServiceID=request.ServiceID,
                ServiceParameterList=m.ServiceParameterListType(ParameterSet=parameter_sets(
                    request.ServiceID if request.ServiceID in self.services
                    else min(self.SERVICES), self.control_modes))),
            m.ServiceSelectionReq: lambda: m.ServiceSelectionRes(Header=h, ResponseCode=code),
            m.ScheduleExchangeReq: lambda: m.ScheduleExchangeRes(
                Header=h, ResponseCode=code, EVSEProcessing=processing,
                **(fields.get("control") or no_schedule(
                    self.control_mode == k.CONTROL_DYNAMIC, self.timestamp(now)))),
            m.PowerDeliveryReq: lambda: m.PowerDeliveryRes(
                Header=h, ResponseCode=code, EVSEStatus=self.evse_status(fields.get("notify"))),
            m.MeteringConfirmationReq: lambda: m.MeteringConfirmationRes(
                Header=h, ResponseCode=code),
            m.SessionStopReq: lambda: m.SessionStopRes(Header=h, ResponseCode=code),
        }  # fmt: skip
        build = builders.get(type(request))
        if build is not None:
            return build()
        return self.respond_service(request, code, now, h, fields)

    def respond_service(self, request: Any, code: Code, now: float, h: t.MessageHeaderType,
                        fields: dict[str, Any]) -> Any:  # fmt: skip
        """The service's responses (and the common requests we never expect)."""
        raise NotImplementedError

    # --- handlers (names from the tables) --------------------------------------------------

    def authorization_setup(self, req: m.AuthorizationSetupReq, now: float) -> Reply:
        self.new_challenge()
        return Reply(self.respond(req, Code.OK, now), S.AUTHORIZATION)

    def authorization(self, req: m.AuthorizationReq, now: float) -> Reply:
        pnc = req.SelectedAuthorizationService is m.authorizationType.PnC
        if pnc and self.pnc_offered:
            return self.pnc_authorization(req, now)
        if pnc:
            # [V2G20-2226]: another AuthorizationReq (or CertificateInstallationReq) may
            # follow, but not the same invalid selection again (its NOTE 3)
            code = Code.FAILED_SequenceError if self.selection_refused else \
                Code.WARNING_AuthorizationSelectionInvalid
            self.selection_refused = True
            return Reply(self.respond(req, code, now), S.AUTHORIZATION)
        return self.station_decides(req, self.evcc_id, Code.WARNING_EIMAuthorizationFailure,
                                    now)  # fmt: skip

    def station_decides(self, req: m.AuthorizationReq, ev_id: str, refused: Code, now: float,
                        *, ends: bool = True, ok: Code = Code.OK) -> Reply:  # fmt: skip
        """The station on ``ev_id`` (EVCCID for EIM, EMAID for PnC): ``ok`` if it accepts,
        Ongoing while it decides, within the Ongoing limit; ``refused`` (a WARNING) ends the
        session if ``ends`` (PnC's does not: [V2G20-1978], see iso20_pnc)."""
        decision = self.controller.authorize(ev_id, now)
        if decision is Decision.ACCEPTED:
            return Reply(self.respond(req, ok, now), S.SERVICE_DISCOVERY)
        if decision is Decision.ONGOING:
            if self._ongoing_expired(S.AUTHORIZATION, self.ONGOING_TIMEOUT, now):
                return Reply(self.respond(req, Code.FAILED, now), S.AUTHORIZATION)
            return Reply(self.respond(req, Code.OK, now, processing=Processing.Ongoing),
                         S.AUTHORIZATION)  # fmt: skip
        if ends:
            self._end_after = "the station refused the EV"
        return Reply(self.respond(req, refused, now), S.AUTHORIZATION)

    def service_detail(self, req: m.ServiceDetailReq, now: float) -> Reply:
        code = Code.OK if req.ServiceID in self.services else Code.FAILED_ServiceIDInvalid
        return Reply(self.respond(req, code, now), S.SERVICE_DETAIL)

    def schedule_exchange(self, req: m.ScheduleExchangeReq, now: float) -> Reply:
        here = self.state
        nxt = self.AFTER_SCHEDULE if here is S.SCHEDULE_EXCHANGE else S.RESTART
        scheduled = self.control_mode == k.CONTROL_SCHEDULED
        asked: Any = req.Scheduled_SEReqControlMode if scheduled else req.Dynamic_SEReqControlMode
        if asked is None:  # the EV asks in the other control mode than it selected
            return Reply(self.respond(req, Code.FAILED_WrongChargeParameter, now), here)
        schedules = self.controller.schedules(now)[:k.MAX_SCHEDULE_TUPLES]
        if not schedules:  # the station has none yet (e.g. waiting for its CSMS)
            if self._ongoing_expired(here, self.ONGOING_TIMEOUT, now):
                return Reply(self.respond(req, Code.FAILED, now), here)
            return Reply(self.respond(req, Code.OK, now, processing=Processing.Ongoing), here)
        self._phase_started.pop(here, None)
        self.schedules = schedules
        self.renegotiation_asked = False
        control: dict[str, Any]
        if scheduled:
            points = req.MaximumSupportingPoints
            self.schedule_anchor = self.timestamp(now)
            control = {"Scheduled_SEResControlMode": m.Scheduled_SEResControlModeType(
                ScheduleTuple=[schedule_tuple(s, points, self.schedule_anchor, self.bpt)
                               for s in schedules])}
        else:
            control = {"Dynamic_SEResControlMode": m.Dynamic_SEResControlModeType(
                DepartureTime=asked.DepartureTime, MinimumSOC=asked.MinimumSOC,
                TargetSOC=asked.TargetSOC)}
        return Reply(self.respond(req, Code.OK, now, control=control), nxt)

    def power_delivery(self, req: m.PowerDeliveryReq, now: float) -> Reply:
        here = self.state
        progress = req.ChargeProgress
        if progress is Progress.Stop:
            self.standing_by = False
            self.stop_output(now)
            return Reply(self.respond(req, Code.OK, now), self.AFTER_STOP)
        if progress is Progress.ScheduleRenegotiation:
            if here is not S.CHARGING:
                return Reply(self.respond(req, Code.FAILED_ScheduleRenegotiation, now), here)
            self.standing_by = False
            self.hold_output(now)
            return Reply(self.respond(req, Code.OK, now), S.RENEGOTIATION)
        if req.EVProcessing is not Processing.Finished:
            # the EV has not settled its power profile yet: it asks again; nothing starts
            return Reply(self.respond(req, Code.OK, now), here)
        if progress is Progress.Standby:
            return self.standby(req, now)
        code = self._check_profile(req)  # OK, OK_PowerToleranceConfirmed or FAILED_*
        if code.value.startswith("FAILED"):
            return Reply(self.respond(req, code, now), here)
        self.discharge_selected = req.BPT_ChannelSelection is not m.channelSelectionType.Charge
        if here is S.CHARGING or here is S.RESTART:
            self.standing_by = False  # [V2G20-1386]
            return Reply(self.respond(req, code, now), S.CHARGING)
        if self.controller.stop_requested(now) is not None or not self.may_start(now):
            return Reply(self.respond(req, Code.FAILED_PowerDeliveryNotApplied, now), here)
        if not self.controller.close_contactors(now):
            return Reply(self.respond(req, Code.FAILED_ContactorError, now), here)
        self.start_output(now)
        return Reply(self.respond(req, code, now), S.CHARGING)

    def _check_profile(self, req: m.PowerDeliveryReq) -> Code:
        if self.control_mode != k.CONTROL_SCHEDULED:
            self.tuple_id = 0
            return Code.OK
        code, self.tuple_id = check_profile(req.EVPowerProfile, self.schedules, self.bpt,
                                            self.schedule_anchor)  # fmt: skip
        return code

    def schedule_limits(self, now: float) -> tuple[float, float] | None:
        """Scheduled mode: (max charge W, max discharge W) of the selected tuple now, its
        entries counted from the TimeAnchor we sent it with (not from PowerDelivery, which
        comes seconds later: the EV plans by the anchor); None in dynamic mode."""
        chosen = next((s for s in self.schedules if s.tuple_id == self.tuple_id), None)
        if chosen is None or self.control_mode != k.CONTROL_SCHEDULED:
            return None
        return limits_at(chosen, self.timestamp(now) - self.schedule_anchor)

    def metering_confirmation(self, req: m.MeteringConfirmationReq, now: float) -> Reply:
        asked, self.confirmation_pending = self.confirmation_pending, False
        if not asked:
            return Reply(self.respond(req, Code.FAILED_SequenceError, now), S.CHARGING)
        if req.SignedMeteringData.SessionID != self.session_id:
            return Reply(self.respond(req, Code.FAILED_UnknownSession, now), S.CHARGING)
        return Reply(self.respond(req, Code.OK, now), S.CHARGING)

    # --- the power of one loop iteration ------------------------------------------------------

    def dynamic_want(self, ev: PowerWindow, mode: Any, now: float) -> float:
        """Dynamic mode: the station's setpoint, or with none the EV's maximum while it
        still wants energy."""
        setpoint = self.controller.setpoint_w(now)
        if setpoint is not None:
            return setpoint
        return ev.max_charge_w if from_rational(mode.EVTargetEnergyRequest) > 0 else 0.0

    def decide_power(self, want: float, ev: PowerWindow, station: PowerWindow, stopping: bool,
                     now: float, mode: Any = None) -> tuple[float, PowerWindow]:  # fmt: skip
        """This iteration's signed power (``controller.bpt_power`` over the EV, the stage, the
        selected schedule tuple and the export rules) and the window it was taken from.
        Dynamic ``mode``: an EV below its own minimum SoC (EVMinimumEnergyRequest > 0) is
        not discharged whatever its discharge limits say."""
        below_minimum = getattr(mode, "EVMinimumEnergyRequest", None)
        if below_minimum is not None and from_rational(below_minimum) > 0:
            ev = PowerWindow(ev.max_charge_w, 0.0)
        scheduled = self.schedule_limits(now)
        if scheduled is not None:
            station = PowerWindow(min(station.max_charge_w, scheduled[0]),
                                  min(station.max_discharge_w, scheduled[1]))  # fmt: skip
        offered = self.controller.energy_services(now)
        withdrawn = offered is not None and self.service_id not in offered
        # a withdrawn BPT service bans export at once: the EV may be slow to renegotiate
        if not (self.bpt and self.discharge_selected) or withdrawn:
            ev = PowerWindow(ev.max_charge_w, 0.0)
        rules = self.controller.export_rules(now)
        idle = stopping or self.standing_by  # [V2G20-2118]: the EV's wish is not read
        power = 0.0 if idle else bpt_power(want, ev, station, rules, self.ev_soc)
        self.last_power = power
        return power, PowerWindow(min(ev.max_charge_w, station.max_charge_w),
                                  discharge_allowed_w(ev, station, rules, self.ev_soc))

    # --- what the service does with the output -----------------------------------------------

    AFTER_STOP = S.WELDING_DETECTION

    def may_start(self, now: float) -> bool:
        return True

    def start_output(self, now: float) -> None:
        """PowerDelivery(Start) with the contactors closed."""

    def hold_output(self, now: float) -> None:
        """No power while the schedule is renegotiated (contactors stay closed)."""

    def stop_output(self, now: float) -> None:
        self.controller.stop_power(now)
        self.controller.open_contactors(now)


__all__ = ["COMMON_REQUESTS", "COMMON_TABLE", "Iso20Secc", "State", "from_rational",
           "parameter_sets", "rational"]
