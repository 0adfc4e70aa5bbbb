"""ISO 15118-20 SECC for the DC and DC_BPT energy services: DC_ChargeParameterDiscovery,
DC_CableCheck, DC_PreCharge, DC_ChargeLoop (scheduled and dynamic, with BPT limits) and
DC_WeldingDetection, on top of the common messages (``iso20``).

At every DC_ChargeLoopReq the power is decided once (``controller.bpt_power``): scheduled
mode takes the EV's EVTargetCurrent, dynamic mode the station's setpoint (or, with none, the
EV's maximum while it still wants energy); either is clamped to the EV's limits, the stage,
the selected schedule tuple, and for discharge to the export enable, the export limit and
the SoC floor (the SoC the EV reports in DisplayParameters; unknown SoC, no discharge).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import iso20_common_types as t
from host.exi.schemas import iso20_dc as dc
from host.v2g.protocol import ProtocolFactory, SessionContext
from host.v2g.v2gtp import PayloadType

from . import iso20_constants as k
from .controller import EvseController, Insulation, PowerWindow, StopRequest
from .core import Reply, Step, step
from .iso2 import PausedSessions
from .iso20 import Code, Iso20Secc, Processing
from .iso20_table import COMMON_REQUESTS, COMMON_TABLE, State, not_offered
from .iso20_values import from_rational, rational

S = State
DC_TABLE: dict[tuple[State, type], Step] = COMMON_TABLE | {
    (S.CHARGE_PARAMETER_DISCOVERY, dc.DC_ChargeParameterDiscoveryReq): step(
        "charge_parameter_discovery", S.SCHEDULE_EXCHANGE, S.CHARGE_PARAMETER_DISCOVERY),
    (S.CABLE_CHECK, dc.DC_CableCheckReq): step("cable_check", S.CABLE_CHECK, S.PRE_CHARGE),
    (S.PRE_CHARGE, dc.DC_PreChargeReq): step("pre_charge", S.PRE_CHARGE),
    (S.PRE_CHARGE, m.PowerDeliveryReq): step("power_delivery", S.PRE_CHARGE, S.CHARGING,
                                             S.WELDING_DETECTION),
    (S.CHARGING, dc.DC_ChargeLoopReq): step("charge_loop", S.CHARGING),
    (S.WELDING_DETECTION, dc.DC_WeldingDetectionReq): step("welding_detection",
                                                           S.WELDING_DETECTION),
}  # fmt: skip
DC_REQUESTS = COMMON_REQUESTS + (dc.DC_ChargeParameterDiscoveryReq, dc.DC_CableCheckReq,
                                 dc.DC_PreChargeReq, dc.DC_ChargeLoopReq,
                                 dc.DC_WeldingDetectionReq)  # fmt: skip


class Iso20DcSecc(Iso20Secc):
    TABLE = DC_TABLE
    REQUEST_TYPES = DC_REQUESTS
    SERVICES = frozenset({k.SERVICE_DC, k.SERVICE_DC_BPT})
    AFTER_SCHEDULE = S.CABLE_CHECK
    SERVICE_SCHEMAS = {PayloadType.ISO20_DC: dc}

    # --- responses ------------------------------------------------------------------------

    def _limits_res(self) -> Any:
        lim = self.controller.limits()
        charge: dict[str, Any] = dict(EVSEMaximumChargePower=rational(lim.max_power),
                      EVSEMinimumChargePower=rational(0),
                      EVSEMaximumChargeCurrent=rational(lim.max_current),
                      EVSEMinimumChargeCurrent=rational(lim.min_current),
                      EVSEMaximumVoltage=rational(lim.max_voltage),
                      EVSEMinimumVoltage=rational(lim.min_voltage))  # fmt: skip
        if not self.bpt:
            return dc.DC_CPDResEnergyTransferMode(**charge)
        return dc.BPT_DC_CPDResEnergyTransferMode(
            **charge, EVSEMaximumDischargePower=rational(lim.max_power),
            EVSEMinimumDischargePower=rational(0),
            EVSEMaximumDischargeCurrent=rational(lim.max_discharge_current),
            EVSEMinimumDischargeCurrent=rational(0))  # fmt: skip

    def _loop_control(self, charge_w: float, discharge_w: float) -> Any:
        lim = self.controller.limits()
        charge: dict[str, Any] = dict(EVSEMaximumChargePower=rational(charge_w),
                      EVSEMinimumChargePower=rational(0),
                      EVSEMaximumChargeCurrent=rational(lim.max_current),
                      EVSEMaximumVoltage=rational(lim.max_voltage))  # fmt: skip
        bpt: dict[str, Any] = dict(EVSEMaximumDischargePower=rational(discharge_w),
                   EVSEMinimumDischargePower=rational(0),
                   EVSEMaximumDischargeCurrent=rational(lim.max_discharge_current),
                   EVSEMinimumVoltage=rational(lim.min_voltage))  # fmt: skip
        if self.control_mode == k.CONTROL_SCHEDULED:
            if self.bpt:
                return dc.BPT_Scheduled_DC_CLResControlMode(**charge, **bpt)
            return dc.Scheduled_DC_CLResControlMode(**charge)
        if self.bpt:
            return dc.BPT_Dynamic_DC_CLResControlMode(**charge, **bpt)
        return dc.Dynamic_DC_CLResControlMode(**charge)

    def respond_service(self, request: Any, code: Code, now: float, h: t.MessageHeaderType,
                        fields: dict[str, Any]) -> Any:  # fmt: skip
        kind = type(request)
        processing = fields.get("processing", Processing.Finished)
        volts = rational(self.controller.present_voltage(now))
        if kind is dc.DC_ChargeParameterDiscoveryReq:
            return dc.DC_ChargeParameterDiscoveryRes(
                Header=h, ResponseCode=code, DC_CPDResEnergyTransferMode=self._limits_res())
        if kind is dc.DC_CableCheckReq:
            return dc.DC_CableCheckRes(Header=h, ResponseCode=code, EVSEProcessing=processing)
        if kind is dc.DC_PreChargeReq:
            return dc.DC_PreChargeRes(Header=h, ResponseCode=code, EVSEPresentVoltage=volts)
        if kind is dc.DC_WeldingDetectionReq:
            return dc.DC_WeldingDetectionRes(Header=h, ResponseCode=code,
                                             EVSEPresentVoltage=volts)  # fmt: skip
        if kind is dc.DC_ChargeLoopReq:
            return dc.DC_ChargeLoopRes(
                Header=h, ResponseCode=code, EVSEStatus=self.evse_status(fields.get("notify")),
                MeterInfo=self.meter(now) if request.MeterInfoRequested else None,
                EVSEPresentCurrent=rational(self.controller.present_current(now)),
                EVSEPresentVoltage=volts,
                EVSEPowerLimitAchieved=fields.get("power_limit", False),
                EVSECurrentLimitAchieved=fields.get("current_limit", False),
                EVSEVoltageLimitAchieved=fields.get("voltage_limit", False),
                CLResControlMode=self._loop_control(fields.get("charge_w", 0.0),
                                                    fields.get("discharge_w", 0.0)))
        return not_offered(request, code, h)

    # --- handlers ---------------------------------------------------------------------------

    def charge_parameter_discovery(self, req: dc.DC_ChargeParameterDiscoveryReq,
                                   now: float) -> Reply:  # fmt: skip
        ev = req.DC_CPDReqEnergyTransferMode
        wanted = (dc.BPT_DC_CPDReqEnergyTransferMode if self.bpt
                  else dc.DC_CPDReqEnergyTransferMode)  # fmt: skip
        lim = self.controller.limits()
        if type(ev) is not wanted or from_rational(ev.EVMaximumVoltage) < lim.min_voltage:
            return Reply(self.respond(req, Code.FAILED_WrongChargeParameter, now),
                         S.CHARGE_PARAMETER_DISCOVERY)  # fmt: skip
        self.ev_limits = ev
        return Reply(self.respond(req, Code.OK, now), S.SCHEDULE_EXCHANGE)

    def cable_check(self, req: dc.DC_CableCheckReq, now: float) -> Reply:
        if S.CABLE_CHECK not in self._phase_started:
            self.controller.start_isolation_check(now)
        expired = self._ongoing_expired(S.CABLE_CHECK, self.CABLE_CHECK_TIMEOUT, now)
        result = self.controller.isolation_result(now)
        if result is None and not expired:
            return Reply(self.respond(req, Code.OK, now, processing=Processing.Ongoing),
                         S.CABLE_CHECK)  # fmt: skip
        self.isolation = result
        ok = result in (Insulation.VALID, Insulation.WARNING)
        return Reply(self.respond(req, Code.OK if ok else Code.FAILED, now), S.PRE_CHARGE)

    def pre_charge(self, req: dc.DC_PreChargeReq, now: float) -> Reply:
        target = from_rational(req.EVTargetVoltage)
        lim = self.controller.limits()
        if self._ongoing_expired(S.PRE_CHARGE, self.PRE_CHARGE_TIMEOUT, now):
            return Reply(self.respond(req, Code.FAILED, now), S.PRE_CHARGE)
        if not lim.min_voltage <= target <= lim.max_voltage:
            return Reply(self.respond(req, Code.FAILED_WrongChargeParameter, now), S.PRE_CHARGE)
        self.precharge_target = target
        self.controller.request_voltage(target, now)
        return Reply(self.respond(req, Code.OK, now), S.PRE_CHARGE)

    def may_start(self, now: float) -> bool:
        target = self.precharge_target
        present = self.controller.present_voltage(now)
        return target is not None and abs(present - target) <= k.PRE_CHARGE_TOLERANCE

    def hold_output(self, now: float) -> None:
        self.controller.request_current(0.0, self.controller.present_voltage(now), now)
        self.last_power = 0.0

    def _loop_mode_class(self) -> type:
        if self.control_mode == k.CONTROL_SCHEDULED:
            return (dc.BPT_Scheduled_DC_CLReqControlMode if self.bpt
                    else dc.Scheduled_DC_CLReqControlMode)  # fmt: skip
        return dc.BPT_Dynamic_DC_CLReqControlMode if self.bpt else dc.Dynamic_DC_CLReqControlMode

    def charge_loop(self, req: dc.DC_ChargeLoopReq, now: float) -> Reply:
        mode = req.CLReqControlMode
        if type(mode) is not self._loop_mode_class():
            return Reply(self.respond(req, Code.FAILED_WrongChargeParameter, now), S.CHARGING)
        stop = self.controller.stop_requested(now)
        if stop is StopRequest.EMERGENCY:
            self.stop_output(now)
            return Reply(self.respond(req, Code.FAILED, now), S.CHARGING)
        shown = req.DisplayParameters
        if shown is not None and shown.PresentSOC is not None:
            self.ev_soc = shown.PresentSOC / 100
        fields = self._dispatch(mode, stop is not None, now)
        return Reply(self.respond(req, Code.OK, now, notify=self.notification(now), **fields),
                     S.CHARGING)  # fmt: skip

    def _dispatch(self, mode: Any, stopping: bool, now: float) -> dict[str, Any]:
        """Decides this iteration's power, tells the stage, returns the answer's fields."""
        present_v = max(self.controller.present_voltage(now), 1.0)
        lim = self.controller.limits()
        ev_cpd = self.ev_limits

        def ev_value(name: str, default: float) -> float:
            value = getattr(mode, name, None) or getattr(ev_cpd, name, None)
            return from_rational(value) if value is not None else default

        station = PowerWindow(min(lim.max_power, lim.max_current * present_v),
                              min(lim.max_power, lim.max_discharge_current * present_v)
                              if self.bpt else 0.0)  # fmt: skip
        ev_discharge = min(ev_value("EVMaximumDischargePower", 0.0),
                           ev_value("EVMaximumDischargeCurrent", 0.0) * present_v)
        ev = PowerWindow(min(ev_value("EVMaximumChargePower", 0.0),
                             ev_value("EVMaximumChargeCurrent", 0.0) * present_v), ev_discharge)
        if self.control_mode == k.CONTROL_SCHEDULED:
            want = from_rational(mode.EVTargetCurrent) * present_v
            target_v = from_rational(mode.EVTargetVoltage)
        else:
            want = self.dynamic_want(ev, mode, now)
            target_v = from_rational(mode.EVMaximumVoltage)
        power, windows = self.decide_power(want, ev, station, stopping, now, mode)
        self.controller.request_current(power / present_v, target_v, now)
        return {"power_limit": abs(want) > abs(power) + 1.0,
                "current_limit": abs(want) / present_v > lim.max_current,
                "voltage_limit": target_v > lim.max_voltage,
                "charge_w": windows.max_charge_w, "discharge_w": windows.max_discharge_w}

    def welding_detection(self, req: dc.DC_WeldingDetectionReq, now: float) -> Reply:
        return Reply(self.respond(req, Code.OK, now), S.WELDING_DETECTION)


def iso20_dc_factory(controller_for: Callable[[SessionContext], EvseController], *,
                     paused: PausedSessions | None = None,
                     wall_offset: Callable[[], float] | None = None,
                     **kwargs: Any) -> ProtocolFactory:  # fmt: skip
    """What ``SeccServer`` takes for urn:iso:std:iso:15118:-20:DC: one machine per
    connection; ``paused`` shared by all, so a paused session can be rejoined;
    ``wall_offset()``: the server's clock -> seconds since 1970, read at each connection
    (TimeStamp, TimeAnchor, MeterTimestamp; without it the machine's ``clock_offset``)."""
    store = paused if paused is not None else PausedSessions()

    def make(context: SessionContext) -> Iso20DcSecc:
        if wall_offset is not None:  # per connection: the wall clock may have been set since
            kwargs["clock_offset"] = wall_offset()
        return Iso20DcSecc(context, controller_for(context), paused=store, **kwargs)
    return make
