"""What the DIN 70121 and ISO 15118-2 SECCs share on top of ``SessionCore``: the codec side
and the DC handlers whose rules are the same in both (CableCheck, PreCharge, the current
asked for in CurrentDemand). A subclass names its schema module and ``State`` enum; both
enums have CABLE_CHECK and PRE_CHARGE.
"""

from __future__ import annotations

from typing import Any

from host.exi import codec
from host.exi.runtime import ExiError
from host.v2g.errors import RemoteProtocolError

from .controller import Decision, EvseController, Insulation, StopRequest
from .core import EndReason, Reply, SessionCore
from .physical import from_physical, to_physical


class V2gSecc(SessionCore):
    """A subclass sets ``schema``, ``states`` (SESSION_SETUP first, STOPPED last) and
    ``constants`` (the protocol's timer values); the core's class settings follow."""

    schema: Any  # the generated schema module (V2G_Message, responseCodeType, ...)
    states: Any  # the State enum
    constants: Any  # din_constants / iso2_constants
    label = ""  # for decode errors
    MAX_PAYLOAD = 8 * 1024  # EIM: no certificates in any message
    CABLE_CHECK_TIMEOUT = 0.0
    PRE_CHARGE_TIMEOUT = 0.0
    ONGOING_TIMEOUT = 0.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        k = cls.constants
        derived = {"INITIAL": cls.states.SESSION_SETUP, "FINAL": cls.states.STOPPED,
                   "SETUP_REQUEST": cls.schema.SessionSetupReq,
                   "SEQUENCE_TIMEOUT": k.SEQUENCE_TIMEOUT,
                   "SETUP_TIMEOUT": k.COMMUNICATION_SETUP_TIMEOUT,
                   "CABLE_CHECK_TIMEOUT": k.CABLE_CHECK_TIMEOUT,
                   "PRE_CHARGE_TIMEOUT": k.PRE_CHARGE_TIMEOUT,
                   "ONGOING_TIMEOUT": k.ONGOING_TIMEOUT}
        for name, value in derived.items():
            if name not in cls.__dict__:  # a subclass may still set its own
                setattr(cls, name, value)

    controller: EvseController
    isolation: Insulation | None
    precharge_target: float | None
    header_session_id: bytes
    header_signature: Any = None  # the Signature of the request being handled (PnC)
    signature_out: Any = None  # a Signature for the next response's header, then cleared
    _phase_started: dict[Any, float]

    # --- the codec side -------------------------------------------------------------------

    def decode(self, payload: bytes) -> tuple[bytes, Any]:
        s = self.schema
        try:
            message = codec.decode(s.NAMESPACE, payload, max_size=self.MAX_PAYLOAD)
        except (ExiError, ValueError, IndexError) as exc:
            raise RemoteProtocolError(f"{self.label} message does not decode: {exc}",
                                      "bad_exi") from exc  # fmt: skip
        if not isinstance(message, s.V2G_Message):
            raise RemoteProtocolError(f"{type(message).__name__} is no V2G_Message", "bad_exi")
        self.header_session_id = message.Header.SessionID
        self.header_signature = message.Header.Signature
        return message.Header.SessionID, message.Body.BodyElement

    def encode(self, session_id: bytes, response: Any) -> bytes:
        s = self.schema
        signature, self.signature_out = self.signature_out, None
        header = s.MessageHeaderType(SessionID=session_id, Signature=signature)
        return codec.encode(s.V2G_Message(Header=header, Body=s.BodyType(BodyElement=response)),
                            s.NAMESPACE)

    def on_end(self, reason: EndReason, now: float) -> None:
        self.controller.session_ended(reason.value, now)

    def respond(self, request: Any, code: Any, now: float, **fields: Any) -> Any:
        raise NotImplementedError

    def failure(self, request: Any, code_name: str, now: float) -> Any:
        return self.respond(request, self.schema.responseCodeType(code_name), now)

    # --- shared rules -----------------------------------------------------------------------

    def _ongoing_expired(self, state: Any, limit: float, now: float) -> bool:
        started = self._phase_started.setdefault(state, now)
        return now - started > limit

    def _timed_out(self) -> None:
        """The FAILED answer being built is an Ongoing phase past its limit."""
        self.failed_because = EndReason.ONGOING_TIMEOUT

    def _dc_status_code(self, now: float, monitoring: bool) -> Any:
        codes = self.schema.DC_EVSEStatusCodeType
        stop = self.controller.stop_requested(now)
        if stop is StopRequest.EMERGENCY:
            return codes.EVSE_EmergencyShutdown
        if stop is not None:
            return codes.EVSE_Shutdown
        if monitoring:
            return codes.EVSE_IsolationMonitoringActive
        return codes.EVSE_Ready

    def _isolation(self) -> Any:
        return (self.schema.isolationLevelType(self.isolation.value)
                if self.isolation is not None else None)  # fmt: skip

    def _authorize(self, req: Any, ev_id: str, state: Any, next_state: Any,
                   now: float) -> Reply:  # fmt: skip
        """ContractAuthentication (DIN) / Authorization (-2): Ongoing while the station
        decides, within the Ongoing limit."""
        code = self.schema.responseCodeType
        decision = self.controller.authorize(ev_id, now)
        if decision is Decision.ACCEPTED:
            return Reply(self.respond(req, code.OK, now), next_state)
        if decision is Decision.ONGOING and not self._ongoing_expired(
                state, self.ONGOING_TIMEOUT, now):  # fmt: skip
            return Reply(self.respond(req, code.OK, now,
                                      processing=self.schema.EVSEProcessingType.Ongoing),
                         state)  # fmt: skip
        if decision is Decision.ONGOING:
            self._timed_out()
        return Reply(self.respond(req, code.FAILED, now), state)

    def cable_check(self, req: Any, now: float) -> Reply:
        S, code = self.states, self.schema.responseCodeType
        if S.CABLE_CHECK not in self._phase_started:
            self.controller.start_isolation_check(now)
        expired = self._ongoing_expired(S.CABLE_CHECK, self.CABLE_CHECK_TIMEOUT, now)
        result = self.controller.isolation_result(now)
        if result is None and not expired:
            return Reply(self.respond(req, code.OK, now, monitoring=True,
                                      processing=self.schema.EVSEProcessingType.Ongoing),
                         S.CABLE_CHECK)  # fmt: skip
        if result is None:
            self._timed_out()
        self.isolation = result
        ok = result in (Insulation.VALID, Insulation.WARNING)
        return Reply(self.respond(req, code.OK if ok else code.FAILED, now), S.PRE_CHARGE)

    def pre_charge(self, req: Any, now: float) -> Reply:
        S, code = self.states, self.schema.responseCodeType
        target = from_physical(req.EVTargetVoltage)
        lim = self.controller.limits()
        if self._ongoing_expired(S.PRE_CHARGE, self.PRE_CHARGE_TIMEOUT, now):
            self._timed_out()
            return Reply(self.respond(req, code.FAILED, now), S.PRE_CHARGE)
        if not lim.min_voltage <= target <= lim.max_voltage:
            return Reply(self.respond(req, code.FAILED_WrongChargeParameter, now), S.PRE_CHARGE)
        self.precharge_target = target
        self.controller.request_voltage(target, now)
        return Reply(self.respond(req, code.OK, now), S.PRE_CHARGE)

    def _demand(self, req: Any, now: float) -> dict[str, bool] | None:
        """Asks the station for the current a CurrentDemandReq wants, within its limits;
        the limit flags of the answer, or None after an emergency stop."""
        lim = self.controller.limits()
        want_a = from_physical(req.EVTargetCurrent)
        want_v = from_physical(req.EVTargetVoltage)
        present_v = max(self.controller.present_voltage(now), 1.0)
        power_cap = lim.max_power / present_v
        give = max(-lim.max_discharge_current, min(want_a, lim.max_current, power_cap))
        stop = self.controller.stop_requested(now)
        if stop is StopRequest.EMERGENCY:
            # [V2G-DC-665]: an impeding condition in the EVSE -> shut down at once, answer
            # FAILED, close (the core ends the session on the FAILED code)
            self.controller.stop_power(now)
            self.controller.open_contactors(now)
            return None
        ev = req.DC_EVStatus
        no_error = self.schema.DC_EVErrorCodeType.NO_ERROR
        if stop is not None or not ev.EVReady or ev.EVErrorCode is not no_error:
            give = 0.0  # the EV (or the station) is ending the charge: no current meanwhile
        self.controller.request_current(give, want_v, now)
        return {"current_limit": want_a > lim.max_current,
                "voltage_limit": want_v > lim.max_voltage, "power_limit": want_a > power_cap}

    def _demand_res_fields(self, code: Any, now: float, fields: dict[str, Any]) -> dict[str, Any]:
        """The CurrentDemandRes fields both protocols fill alike (present values, limits
        and the limit flags from ``_demand``)."""
        s = self.schema
        lim = self.controller.limits()

        def phys(unit: str, value: float) -> Any:
            return to_physical(s.PhysicalValueType, s.unitSymbolType[unit], value)

        return dict(
            ResponseCode=code,
            EVSEPresentVoltage=phys("V", self.controller.present_voltage(now)),
            EVSEPresentCurrent=phys("A", self.controller.present_current(now)),
            EVSECurrentLimitAchieved=fields.get("current_limit", False),
            EVSEVoltageLimitAchieved=fields.get("voltage_limit", False),
            EVSEPowerLimitAchieved=fields.get("power_limit", False),
            EVSEMaximumVoltageLimit=phys("V", lim.max_voltage),
            EVSEMaximumCurrentLimit=phys("A", lim.max_current),
            EVSEMaximumPowerLimit=phys("W", lim.max_power))  # fmt: skip
