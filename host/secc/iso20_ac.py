"""ISO 15118-20 SECC for the AC and AC_BPT energy services: AC_ChargeParameterDiscovery and
AC_ChargeLoop (scheduled and dynamic, with BPT limits and three-phase targets), on top of the
common messages (``iso20``).

AC has no cable check, pre-charge or welding detection: after ScheduleExchange comes
PowerDelivery(Start), after PowerDelivery(Stop) SessionStop. At every AC_ChargeLoopReq the
power is decided as in DC (``Iso20Secc.decide_power``): scheduled mode takes the EV's wish
(EVPresentActivePower, signed), dynamic mode the station's setpoint; the answer carries it as
EVSETargetActivePower, and with three phases each of EVSETargetActivePower, _L2 and _L3
holds one phase's share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from host.exi.schemas import iso20_ac as ac
from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import iso20_common_types as t
from host.v2g.protocol import ProtocolFactory, SessionContext
from host.v2g.v2gtp import PayloadType

from . import iso20_constants as k
from .controller import EvseController, PowerWindow, StopRequest
from .core import Reply, Step, step
from .iso2 import PausedSessions
from .iso20 import Code, Iso20Secc
from .iso20_table import COMMON_REQUESTS, COMMON_TABLE, State, not_offered
from .iso20_values import from_rational, rational, total

S = State
AC_TABLE: dict[tuple[State, type], Step] = COMMON_TABLE | {
    (S.CHARGE_PARAMETER_DISCOVERY, ac.AC_ChargeParameterDiscoveryReq): step(
        "charge_parameter_discovery", S.SCHEDULE_EXCHANGE, S.CHARGE_PARAMETER_DISCOVERY),
    (S.READY, m.PowerDeliveryReq): step("power_delivery", S.READY, S.CHARGING, S.POWER_OFF),
    (S.CHARGING, ac.AC_ChargeLoopReq): step("charge_loop", S.CHARGING),
}  # fmt: skip
AC_REQUESTS = COMMON_REQUESTS + (ac.AC_ChargeParameterDiscoveryReq, ac.AC_ChargeLoopReq)
NOMINAL_FREQUENCY = 50.0  # Hz


class Iso20AcSecc(Iso20Secc):
    TABLE = AC_TABLE
    REQUEST_TYPES = AC_REQUESTS
    SERVICES = frozenset({k.SERVICE_AC, k.SERVICE_AC_BPT})
    AFTER_SCHEDULE = S.READY
    AFTER_STOP = S.POWER_OFF
    SERVICE_SCHEMAS = {PayloadType.ISO20_AC: ac}

    def _station(self) -> PowerWindow:
        """The AC stage, all phases: its charge power, and as much back if it is
        bidirectional (a plant with a discharge limit)."""
        lim = self.controller.ac_limits()
        total = lim.max_current * lim.nominal_voltage * lim.phases
        can_discharge = self.bpt and self.controller.limits().max_discharge_current > 0
        return PowerWindow(total, total if can_discharge else 0.0)

    def _phases(self, prefix: str, watts: float) -> dict[str, Any]:
        """``watts`` as one value, or split over three phases (L1 in the plain field)."""
        phases = self.controller.ac_limits().phases
        if phases == 1:
            return {prefix: rational(watts)}
        share = rational(watts / phases)
        return {prefix: share, f"{prefix}_L2": share, f"{prefix}_L3": share}

    # --- responses ------------------------------------------------------------------------

    def _limits_res(self) -> Any:
        station = self._station()
        fields: dict[str, Any] = {
            **self._phases("EVSEMaximumChargePower", station.max_charge_w),
            **self._phases("EVSEMinimumChargePower", 0.0),
            "EVSENominalFrequency": rational(NOMINAL_FREQUENCY)}
        if not self.bpt:
            return ac.AC_CPDResEnergyTransferMode(**fields)
        return ac.BPT_AC_CPDResEnergyTransferMode(
            **fields, **self._phases("EVSEMaximumDischargePower", station.max_discharge_w),
            **self._phases("EVSEMinimumDischargePower", 0.0))

    def _loop_control(self, target_w: float, now: float) -> Any:
        present = self.controller.present_current(now) * self.controller.present_voltage(now)
        fields = {**self._phases("EVSETargetActivePower", target_w),
                  **self._phases("EVSEPresentActivePower", present)}
        scheduled = self.control_mode == k.CONTROL_SCHEDULED
        if self.bpt:
            cls: Any = (ac.BPT_Scheduled_AC_CLResControlMode if scheduled
                        else ac.BPT_Dynamic_AC_CLResControlMode)  # fmt: skip
        else:
            cls = ac.Scheduled_AC_CLResControlMode if scheduled else ac.Dynamic_AC_CLResControlMode
        return cls(**fields)

    def respond_service(self, request: Any, code: Code, now: float, h: t.MessageHeaderType,
                        fields: dict[str, Any]) -> Any:  # fmt: skip
        kind = type(request)
        if kind is ac.AC_ChargeParameterDiscoveryReq:
            return ac.AC_ChargeParameterDiscoveryRes(
                Header=h, ResponseCode=code, AC_CPDResEnergyTransferMode=self._limits_res())
        if kind is ac.AC_ChargeLoopReq:
            return ac.AC_ChargeLoopRes(
                Header=h, ResponseCode=code, EVSEStatus=self.evse_status(fields.get("notify")),
                MeterInfo=self.meter(now) if request.MeterInfoRequested else None,
                EVSETargetFrequency=None,
                CLResControlMode=self._loop_control(fields.get("target_w", 0.0), now))
        return not_offered(request, code, h)

    # --- handlers ---------------------------------------------------------------------------

    def charge_parameter_discovery(self, req: ac.AC_ChargeParameterDiscoveryReq,
                                   now: float) -> Reply:  # fmt: skip
        ev = req.AC_CPDReqEnergyTransferMode
        wanted = (ac.BPT_AC_CPDReqEnergyTransferMode if self.bpt
                  else ac.AC_CPDReqEnergyTransferMode)  # fmt: skip
        if type(ev) is not wanted or (from_rational(ev.EVMinimumChargePower)
                                      > self._station().max_charge_w):  # fmt: skip
            return Reply(self.respond(req, Code.FAILED_WrongChargeParameter, now),
                         S.CHARGE_PARAMETER_DISCOVERY)  # fmt: skip
        self.ev_limits = ev
        return Reply(self.respond(req, Code.OK, now), S.SCHEDULE_EXCHANGE)

    def start_output(self, now: float) -> None:
        self.controller.ac_power(0.0, now)  # energised; the loop sets the power

    def hold_output(self, now: float) -> None:
        self.controller.ac_power(0.0, now)
        self.last_power = 0.0

    def _loop_mode_class(self) -> type:
        if self.control_mode == k.CONTROL_SCHEDULED:
            return (ac.BPT_Scheduled_AC_CLReqControlMode if self.bpt
                    else ac.Scheduled_AC_CLReqControlMode)  # fmt: skip
        return ac.BPT_Dynamic_AC_CLReqControlMode if self.bpt else ac.Dynamic_AC_CLReqControlMode

    def charge_loop(self, req: ac.AC_ChargeLoopReq, now: float) -> Reply:
        mode: Any = req.CLReqControlMode
        if type(mode) is not self._loop_mode_class():
            return Reply(self.respond(req, Code.FAILED_WrongChargeParameter, now), S.CHARGING)
        stop = self.controller.stop_requested(now)
        if stop is StopRequest.EMERGENCY:
            self.stop_output(now)
            return Reply(self.respond(req, Code.FAILED, now), S.CHARGING)
        shown = req.DisplayParameters
        if shown is not None and shown.PresentSOC is not None:
            self.ev_soc = shown.PresentSOC / 100

        def ev_value(name: str) -> float:
            source = mode if getattr(mode, name, None) is not None else self.ev_limits
            return total(source, name)

        ev = PowerWindow(ev_value("EVMaximumChargePower"), ev_value("EVMaximumDischargePower"))
        if self.control_mode == k.CONTROL_SCHEDULED:
            want = total(mode, "EVPresentActivePower")
        else:
            want = self.dynamic_want(ev, mode, now)
        power, _window = self.decide_power(want, ev, self._station(), stop is not None,
                                          now, mode)
        self.controller.ac_power(power, now)
        return Reply(self.respond(req, Code.OK, now, notify=self.notification(now),
                                  target_w=power), S.CHARGING)  # fmt: skip


def iso20_ac_factory(controller_for: Callable[[SessionContext], EvseController], *,
                     paused: PausedSessions | None = None,
                     wall_offset: Callable[[], float] | None = None,
                     **kwargs: Any) -> ProtocolFactory:  # fmt: skip
    """What ``SeccServer`` takes for urn:iso:std:iso:15118:-20:AC (see iso20_dc_factory)."""
    store = paused if paused is not None else PausedSessions()

    def make(context: SessionContext) -> Iso20AcSecc:
        if wall_offset is not None:  # per connection: the wall clock may have been set since
            kwargs["clock_offset"] = wall_offset()
        return Iso20AcSecc(context, controller_for(context), paused=store, **kwargs)
    return make
