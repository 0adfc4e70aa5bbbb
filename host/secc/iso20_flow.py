"""ISO 15118-20 SECC: how a service session begins, resumes, changes its energy service and
stands by (``SessionFlows``, mixed into ``Iso20Secc``).

Service session and V2G communication session (-20 §8.3.1): one service session may span
several communication sessions (TCP connections) joined by one SessionID: SessionStop(Pause)
ends the connection, a SessionSetupReq with the paused SessionID (same EVCCID) resumes it
(OK_OldSessionJoined). A resumed session runs the whole sequence again from
AuthorizationSetup (we skip nothing, not even the cable check), and what the EV may choose
depends on the *first* ServiceDiscoveryRes of the service session:
- ServiceRenegotiationSupported True: all services the station has are offered again
  [V2G20-1645];
- False: only the ServiceID and ParameterSetID of the first ServiceSelectionReq are offered
  [V2G20-1644], another selection is FAILED_NoServiceRenegotiationSupported [V2G20-1956].

ServiceRenegotiation: SessionStopReq(ChargingSession=ServiceRenegotiation) answered OK only
if that first ServiceDiscoveryRes said True, else FAILED_NoServiceRenegotiationSupported
[V2G20-1955] (also before any ServiceDiscoveryRes: nothing was announced, and going back to
ServiceDiscovery then would skip the authorization). A resumed session has its first
ServiceDiscoveryRes from before the pause, but its EV must authorize again first: there
SessionStop(ServiceRenegotiation) before AuthorizationRes OK is FAILED_SequenceError (it
would lead to ServiceDiscoveryReq, which only follows the authorization). After OK the next request is
ServiceDiscoveryReq [V2G20-1643], in the same session; the output is switched off and
everything chosen for the old service is forgotten (service, control mode, the EV's
limits, the schedules and the selected tuple, the BPT channel, the SoC, the cable check and
pre-charge results). The station asks for it through EVSENotification=ServiceRenegotiation
in the charge loop's answer [V2G20-1598], [V2G20-1599], when the services it offers now
(``EvseController.energy_services``) differ from those the EV chose from.

Standby (-20 §8.3.1, §8.5.6.2): PowerDeliveryReq(ChargeProgress=Standby) after a charge loop
answer, a MeteringConfirmationRes or a ScheduleExchangeRes [V2G20-1390]..[V2G20-1395]; we
accept it where power may flow (in the loop, and after a schedule renegotiation), in either
control mode, answering OK [V2G20-1385]: the stage goes to 0 W, the contactors stay closed,
and until the next PowerDeliveryReq with Start, Stop or ScheduleRenegotiation
[V2G20-1386] the charge loop's requests are read for MeterInfoRequested and
DisplayParameters only [V2G20-2118] (the answers carry 0 W). A station built with
``standby=False``, or a Standby before power flowed, answers WARNING_StandbyNotAllowed
[V2G20-1700], [V2G20-1387]; the session goes on ([V2G20-1396]: the EV keeps to its profile,
renegotiates or stops).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from host.exi.schemas import iso20_common_messages as m

from . import iso20_constants as k
from .core import EndReason, Reply, SessionStarted
from .iso2 import PausedSessions
from .iso20_table import State

Code = m.responseCodeType
S = State
ChargingSession = m.chargingSessionType


@dataclass(frozen=True)
class ServiceSession:
    """What a pause keeps of the service session for the resumed one."""

    renegotiation: bool | None  # the first ServiceDiscoveryRes's flag; None: none sent
    selection: tuple[int, int] | None  # the first (ServiceID, ParameterSetID) chosen


class SessionFlows:
    """SessionSetup, ServiceDiscovery, ServiceSelection and SessionStop, and Standby, for
    ``Iso20Secc`` (whose attributes these are)."""

    controller: Any
    paused: PausedSessions
    services: frozenset[int]
    control_modes: tuple[int, ...]
    state: Any
    session_id: bytes
    header_session_id: bytes
    evcc_id: str
    service_id: int
    control_mode: int
    renegotiation_supported: bool  # what this station announces
    standby_allowed: bool
    # per service session: the first ServiceDiscoveryRes's ServiceRenegotiationSupported
    # (None until one is sent) and the first selection
    offers_renegotiation: bool | None = None
    first_selection: tuple[int, int] | None = None
    offered: frozenset[int] | None = None  # what the last ServiceDiscoveryRes listed
    standing_by = False
    failed_because: EndReason | None

    if TYPE_CHECKING:  # Iso20Secc's (a stub here would shadow the core's)
        def respond(self, request: Any, code: Any, now: float, **fields: Any) -> Any: ...
        def start_session(self, request: Any, now: float) -> None: ...
        def emit(self, event: object) -> None: ...
        def stop_output(self, now: float) -> None: ...
        def hold_output(self, now: float) -> None: ...
        def forget_service(self) -> None: ...

    # --- handlers -----------------------------------------------------------------------

    def session_setup(self, req: m.SessionSetupReq, now: float) -> Reply:
        self.evcc_id = req.EVCCID
        joined, kept = self.paused.resume(self.header_session_id, req.EVCCID.encode())
        if joined:
            self.session_id = self.header_session_id
            if isinstance(kept, ServiceSession):
                self._resume(kept)
            code = Code.OK_OldSessionJoined
        else:
            self.start_session(req, now)
            code = Code.OK_NewSessionEstablished
        self.emit(SessionStarted(self.session_id, req.EVCCID))
        return Reply(self.respond(req, code, now), S.AUTHORIZATION_SETUP)

    def _resume(self, kept: ServiceSession) -> None:
        self.offers_renegotiation = kept.renegotiation
        self.first_selection = kept.selection
        if kept.renegotiation is False and kept.selection is not None:
            service, parameter_set = kept.selection  # [V2G20-1644]: only these again
            # (resumed over the other energy transfer's namespace it cannot be kept)
            self.services = frozenset({service}) & self.services or self.services
            self.control_modes = (parameter_set,)

    def offer(self, now: float) -> frozenset[int]:
        """The services offered now: ours, as far as the station offers them."""
        station = self.controller.energy_services(now)
        if station is None:
            return self.services
        # the schema needs one service at least: a station that offers none stops instead
        return self.services & station or self.services

    def service_discovery(self, req: m.ServiceDiscoveryReq, now: float) -> Reply:
        if self.offers_renegotiation is None:
            self.offers_renegotiation = self.renegotiation_supported
        self.offered = self.offer(now)
        offer = sorted(self.offered)
        if req.SupportedServiceIDs is not None:
            offer = [sid for sid in offer if sid in req.SupportedServiceIDs.ServiceID]
        return Reply(self.respond(req, Code.OK, now, offer=offer or sorted(self.offered)),
                     S.SERVICE_DETAIL)  # fmt: skip

    def service_selection(self, req: m.ServiceSelectionReq, now: float) -> Reply:
        chosen = req.SelectedEnergyTransferService
        choice = (chosen.ServiceID, chosen.ParameterSetID)
        if chosen.ServiceID not in k.ENERGY_SERVICES:
            code = Code.FAILED_NoEnergyTransferServiceSelected
        elif (self.offers_renegotiation is False and self.first_selection is not None
              and choice != self.first_selection):  # fmt: skip
            code = Code.FAILED_NoServiceRenegotiationSupported  # [V2G20-1956]
        elif (chosen.ServiceID not in self.offer(now)
              or chosen.ParameterSetID not in self.control_modes
              or (req.SelectedVASList is not None and req.SelectedVASList.SelectedService)):
            code = Code.FAILED_ServiceSelectionInvalid  # not offered (we offer no VAS)
        else:
            code = Code.OK
            self.service_id = chosen.ServiceID
            self.control_mode = chosen.ParameterSetID  # the set's ID is its control mode
            self.first_selection = self.first_selection or choice
        return Reply(self.respond(req, code, now), S.CHARGE_PARAMETER_DISCOVERY)

    def session_stop(self, req: m.SessionStopReq, now: float) -> Reply:
        kind = req.ChargingSession
        if kind is ChargingSession.ServiceRenegotiation:
            if not self.offers_renegotiation:
                return Reply(self.respond(req, Code.FAILED_NoServiceRenegotiationSupported,
                                          now), self.state)  # fmt: skip
            if self.state is S.AUTHORIZATION:  # resumed, not authorized in this connection
                self.failed_because = EndReason.SEQUENCE_ERROR
                return Reply(self.respond(req, Code.FAILED_SequenceError, now), self.state)
            self.stop_output(now)
            self.forget_service()
            return Reply(self.respond(req, Code.OK, now), S.SERVICE_DISCOVERY)
        self.stop_output(now)
        if kind is ChargingSession.Pause:
            self.paused.pause(self.session_id, self.evcc_id.encode(),
                              ServiceSession(self.offers_renegotiation, self.first_selection))
        return Reply(self.respond(req, Code.OK, now), S.STOPPED)

    # --- the station's side -------------------------------------------------------------

    def service_changed(self, now: float) -> bool:
        """Ask for a ServiceRenegotiation: the station's offer is no longer the one the EV
        chose from, and the first ServiceDiscoveryRes announced renegotiation."""
        return bool(self.offers_renegotiation) and self.offered is not None and \
            self.offer(now) != self.offered

    def standby(self, req: m.PowerDeliveryReq, now: float) -> Reply:
        """PowerDelivery(Standby): 0 W with the contactors closed, or refused."""
        here = self.state
        if not self.standby_allowed or here not in (S.CHARGING, S.RESTART):
            return Reply(self.respond(req, Code.WARNING_StandbyNotAllowed, now), here)
        self.hold_output(now)
        self.standing_by = True
        return Reply(self.respond(req, Code.OK, now), S.CHARGING)
