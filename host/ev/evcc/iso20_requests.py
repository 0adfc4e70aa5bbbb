"""What the -20 EVCC says: its configuration and the requests built from it and the battery
(``Iso20Requests``, mixed into ``Iso20Evcc``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from host.exi.schemas import iso20_ac as acs
from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import iso20_common_types as t
from host.exi.schemas import iso20_dc as dc
from host.secc import iso20_constants as k
from host.secc.iso20_values import from_rational, rational

from .ev import EvModel
from .pnc20 import EvPnc20

if TYPE_CHECKING:  # install20 builds its request with HEADER from here
    from .install20 import EvInstall20

# the requests are built with this header; ``_send`` puts the session's in
HEADER = t.MessageHeaderType(SessionID=bytes(8), TimeStamp=0)


@dataclass
class Iso20Config:
    service: int = k.SERVICE_DC  # or SERVICE_DC_BPT, SERVICE_AC, SERVICE_AC_BPT
    control_mode: int = k.CONTROL_SCHEDULED  # or CONTROL_DYNAMIC
    evcc_id: str = "WMIV2GATE0000001"
    loop_interval: float = 0.1
    msg_timeout: float = k.MSG_TIMEOUT
    loop_msg_timeout: float = k.CHARGE_LOOP_TIMEOUT
    welding_tries: int = 20
    pause: bool = False  # SessionStop(Pause) instead of Terminate
    resume: bytes | None = None  # a paused SessionID to rejoin
    discharge: bool = False  # scheduled BPT: a negative EVTargetCurrent (V2G)
    channel: Any = m.channelSelectionType.Discharge  # BPT_ChannelSelection for BPT
    max_discharge_power: float = 11_000.0
    max_discharge_current: float = 30.0
    min_soc: float = 0.2  # dynamic: no discharge below it (the EV's own floor)
    target_soc: float = 0.8
    departure_s: int = 7200
    tuple_index: int = 0  # which offered schedule tuple to select
    profile_share: float = 1.0  # > 1 makes a power profile beyond the schedule, for tests
    max_supporting_points: int = 24
    ac_max_power: float = 11_000.0  # W, all phases (AC)
    phases: int = 3  # AC: per-phase values for three phases
    pnc: EvPnc20 | None = None  # Plug & Charge with this contract when offered (else EIM)
    install: EvInstall20 | None = None  # CertificateInstallation first, when offered
    # ServiceRenegotiation by the EV: after this many loop iterations of the first service,
    # stop and choose ``renegotiate_to`` in the same session (if the SECC supports it)
    renegotiate_to: int | None = None
    renegotiate_after: int = 5
    # Standby: PowerDelivery(Standby) after this many loop iterations, then Start again
    # after ``standby_loops`` iterations at 0 W
    standby_after: int | None = None
    standby_loops: int = 5


class Iso20Requests:
    ev: EvModel
    config: Iso20Config
    session_id: bytes
    tuples: list[m.ScheduleTupleType]
    pausing = False  # the SECC asked for a pause (EVSENotification=Pause)
    selected_tuple = 0  # the ScheduleTupleID of the last PowerDelivery(Start)
    ac_target = 0.0  # AC: the EVSETargetActivePower of the last loop answer (all phases)
    service = k.SERVICE_DC  # the energy service of this part of the session
    standing_by = False  # PowerDelivery(Standby) answered OK, no Start since
    winding_down = False  # power to 0 before PowerDelivery(Standby) ([V2G20-2116])
    renegotiating_service = False  # the next SessionStopReq asks for ServiceRenegotiation
    clock_offset: float  # EvccBase's

    def wall_seconds(self, now: float) -> int:
        """TimeStamp / TimeAnchor: seconds since 1970-01-01 UTC."""
        return max(0, int(now + self.clock_offset))

    @property
    def bpt(self) -> bool:
        return self.service in k.BPT_SERVICES

    @property
    def ac(self) -> bool:
        return self.service in k.AC_SERVICES

    @property
    def quiet(self) -> bool:
        """No power: the loop requests offer no charge nor discharge at all."""
        return self.standing_by or self.winding_down

    @property
    def dynamic(self) -> bool:
        return self.config.control_mode == k.CONTROL_DYNAMIC

    def _energy(self, soc: float) -> m.RationalNumberType:
        return rational(self.ev.limits().capacity_wh * (soc - self.ev.soc()))

    def _discharge_limits(self) -> dict[str, Any]:
        allowed = self.ev.soc() > self.config.min_soc and not self.quiet
        power = self.config.max_discharge_power if allowed else 0.0
        return dict(EVMaximumDischargePower=rational(power),
                    EVMinimumDischargePower=rational(0),
                    EVMaximumDischargeCurrent=rational(
                        self.config.max_discharge_current if allowed else 0.0))  # fmt: skip

    def _phases(self, prefix: str, watts: float) -> dict[str, Any]:
        """AC: ``watts`` as one value, or one phase's share in each of three fields."""
        if self.config.phases == 1:
            return {prefix: rational(watts)}
        share = rational(watts / self.config.phases)
        return {prefix: share, f"{prefix}_L2": share, f"{prefix}_L3": share}

    def _ac_discharge(self) -> float:
        if not self.bpt or self.ev.soc() <= self.config.min_soc or self.quiet:
            return 0.0
        return self.config.max_discharge_power

    def charge_parameter_req(self, now: float) -> Any:
        if self.ac:
            fields = {**self._phases("EVMaximumChargePower", self.config.ac_max_power),
                      **self._phases("EVMinimumChargePower", 0.0)}
            if self.bpt:
                return acs.AC_ChargeParameterDiscoveryReq(
                    Header=HEADER, AC_CPDReqEnergyTransferMode=acs.BPT_AC_CPDReqEnergyTransferMode(
                        **fields, **self._phases("EVMaximumDischargePower", self._ac_discharge()),
                        **self._phases("EVMinimumDischargePower", 0.0)))
            return acs.AC_ChargeParameterDiscoveryReq(
                Header=HEADER, AC_CPDReqEnergyTransferMode=acs.AC_CPDReqEnergyTransferMode(**fields))
        lim = self.ev.limits()
        charge: dict[str, Any] = dict(EVMaximumChargePower=rational(lim.max_power),
                      EVMinimumChargePower=rational(0),
                      EVMaximumChargeCurrent=rational(lim.max_current),
                      EVMinimumChargeCurrent=rational(0),
                      EVMaximumVoltage=rational(lim.max_voltage),
                      EVMinimumVoltage=rational(self.ev.battery_voltage() - 50),
                      TargetSOC=round(self.config.target_soc * 100))  # fmt: skip
        mode: Any
        if self.bpt:
            limits = self._discharge_limits()
            limits["EVMinimumDischargeCurrent"] = rational(0)
            mode = dc.BPT_DC_CPDReqEnergyTransferMode(**charge, **limits)
        else:
            mode = dc.DC_CPDReqEnergyTransferMode(**charge)
        return dc.DC_ChargeParameterDiscoveryReq(Header=HEADER, DC_CPDReqEnergyTransferMode=mode)

    def schedule_exchange_req(self, now: float) -> m.ScheduleExchangeReq:
        c = self.config
        if self.dynamic:
            v2x: dict[str, Any] = dict(EVMaximumV2XEnergyRequest=self._energy(1.0),
                       EVMinimumV2XEnergyRequest=self._energy(c.min_soc)) if self.bpt else {}
            return m.ScheduleExchangeReq(
                Header=HEADER, MaximumSupportingPoints=c.max_supporting_points,
                Dynamic_SEReqControlMode=m.Dynamic_SEReqControlModeType(
                    DepartureTime=c.departure_s, MinimumSOC=round(c.min_soc * 100),
                    TargetSOC=round(c.target_soc * 100),
                    EVTargetEnergyRequest=self._energy(c.target_soc),
                    EVMaximumEnergyRequest=self._energy(1.0),
                    EVMinimumEnergyRequest=self._energy(c.min_soc), **v2x))  # fmt: skip
        return m.ScheduleExchangeReq(
            Header=HEADER, MaximumSupportingPoints=c.max_supporting_points,
            Scheduled_SEReqControlMode=m.Scheduled_SEReqControlModeType(
                DepartureTime=c.departure_s, EVTargetEnergyRequest=self._energy(c.target_soc),
                EVMaximumEnergyRequest=self._energy(1.0),
                EVMinimumEnergyRequest=self._energy(c.min_soc)))  # fmt: skip

    def power_delivery_req(self, progress: Any, now: float) -> m.PowerDeliveryReq:
        profile = None
        if progress is m.chargeProgressType.Start:
            profile = self._power_profile(now)
        channel = self.config.channel if self.bpt and progress is m.chargeProgressType.Start \
            else None
        return m.PowerDeliveryReq(Header=HEADER, EVProcessing=m.processingType.Finished,
                                  ChargeProgress=progress, EVPowerProfile=profile,
                                  BPT_ChannelSelection=channel)  # fmt: skip

    def _power_profile(self, now: float) -> m.EVPowerProfileType:
        c = self.config
        if self.dynamic:
            entry = m.PowerScheduleEntryType(Duration=c.departure_s,
                                             Power=rational(self.ev.limits().max_power))
            return m.EVPowerProfileType(
                TimeAnchor=self.wall_seconds(now),
                Dynamic_EVPPTControlMode=m.Dynamic_EVPPTControlModeType(),
                EVPowerProfileEntries=m.EVPowerProfileEntryListType(EVPowerProfileEntry=[entry]))
        chosen = self.tuples[min(c.tuple_index, len(self.tuples) - 1)]
        self.selected_tuple = chosen.ScheduleTupleID
        schedule, sign = chosen.ChargingSchedule, 1.0
        if c.discharge and chosen.DischargingSchedule is not None:
            # discharge is negative power in the profile, whichever sign the SECC wrote
            schedule, sign = chosen.DischargingSchedule, -1.0
        # [V2G20-1559]: the profile may exceed the selected schedule at no time, so it
        # follows the schedule slot by slot from the schedule's own TimeAnchor (the
        # profile's TimeAnchor is when its first entry starts, [V2G20-1861]); one entry
        # anchored at PowerDelivery ran past the first slot into a lower one.
        # PowerToleranceAcceptance stays out (optional): this EV does not track a band.
        power = schedule.PowerSchedule
        # never more than this EV takes or gives, however much the schedule allows
        own = c.max_discharge_power if sign < 0 else self.ev.limits().max_power
        return m.EVPowerProfileType(
            TimeAnchor=power.TimeAnchor, Scheduled_EVPPTControlMode=m.Scheduled_EVPPTControlModeType(
                SelectedScheduleTupleID=chosen.ScheduleTupleID),
            EVPowerProfileEntries=m.EVPowerProfileEntryListType(EVPowerProfileEntry=[
                m.PowerScheduleEntryType(Duration=entry.Duration, Power=rational(
                    sign * min(abs(from_rational(entry.Power)), own) * c.profile_share))
                for entry in power.PowerScheduleEntries.PowerScheduleEntry]))

    def pre_charge_req(self, now: float) -> dc.DC_PreChargeReq:
        return dc.DC_PreChargeReq(Header=HEADER, EVProcessing=m.processingType.Ongoing,
                                  EVPresentVoltage=rational(self.ev.battery_voltage()),
                                  EVTargetVoltage=rational(self.ev.battery_voltage()))

    def _display(self, now: float) -> t.DisplayParametersType:
        return t.DisplayParametersType(PresentSOC=round(self.ev.soc() * 100),
                                       ChargingComplete=self.ev.charging_complete(now))

    def ac_charge_loop_req(self, now: float) -> acs.AC_ChargeLoopReq:
        c = self.config
        wants = self.ev.target_current(now) > 0 and not self.quiet  # starts its clock
        charge = {**self._phases("EVMaximumChargePower", 0.0 if self.quiet else c.ac_max_power),
                  **self._phases("EVMinimumChargePower", 0.0)}
        bpt: dict[str, Any] = {}
        if self.bpt:
            bpt = {**self._phases("EVMaximumDischargePower", self._ac_discharge()),
                   **self._phases("EVMinimumDischargePower", 0.0)}
        mode: Any
        if self.dynamic:
            cls: Any = acs.BPT_Dynamic_AC_CLReqControlMode if self.bpt else \
                acs.Dynamic_AC_CLReqControlMode
            mode = cls(DepartureTime=c.departure_s, EVTargetEnergyRequest=self._energy(c.target_soc),
                       EVMaximumEnergyRequest=self._energy(1.0),
                       EVMinimumEnergyRequest=self._energy(c.min_soc), **charge, **bpt,
                       **self._phases("EVPresentActivePower", self.ac_target),
                       **self._phases("EVPresentReactivePower", 0.0))
        else:
            cls = acs.BPT_Scheduled_AC_CLReqControlMode if self.bpt else \
                acs.Scheduled_AC_CLReqControlMode
            wish = 0.0 if not wants else (-self._ac_discharge() if c.discharge
                                          else c.ac_max_power)  # fmt: skip
            mode = cls(**charge, **bpt, **self._phases("EVPresentActivePower", wish))
        return acs.AC_ChargeLoopReq(Header=HEADER, DisplayParameters=self._display(now),
                                   MeterInfoRequested=True, CLReqControlMode=mode)

    def charge_loop_req(self, now: float) -> Any:
        if self.ac:
            return self.ac_charge_loop_req(now)
        lim = self.ev.limits()
        c = self.config
        on = 0.0 if self.quiet else 1.0
        charge: dict[str, Any] = dict(EVMaximumChargePower=rational(lim.max_power * on),
                      EVMinimumChargePower=rational(0),
                      EVMaximumChargeCurrent=rational(lim.max_current * on),
                      EVMaximumVoltage=rational(lim.max_voltage),
                      EVMinimumVoltage=rational(self.ev.battery_voltage() - 50))  # fmt: skip
        bpt: dict[str, Any] = self._discharge_limits() if self.bpt else {}
        mode: Any
        cls: Any
        current = self.ev.target_current(now) * on  # also starts the EV's charge clock
        if self.dynamic:
            cls = dc.BPT_Dynamic_DC_CLReqControlMode if self.bpt else dc.Dynamic_DC_CLReqControlMode
            mode = cls(DepartureTime=c.departure_s, EVTargetEnergyRequest=self._energy(c.target_soc),
                       EVMaximumEnergyRequest=self._energy(1.0),
                       EVMinimumEnergyRequest=self._energy(c.min_soc), **charge, **bpt)
        else:
            cls = (dc.BPT_Scheduled_DC_CLReqControlMode if self.bpt
                   else dc.Scheduled_DC_CLReqControlMode)  # fmt: skip
            mode = cls(EVTargetCurrent=rational(-current if c.discharge else current),
                       EVTargetVoltage=rational(self.ev.target_voltage()), **charge, **bpt)
        return dc.DC_ChargeLoopReq(
            Header=HEADER, DisplayParameters=self._display(now), MeterInfoRequested=True, EVPresentVoltage=rational(self.ev.battery_voltage()),
            CLReqControlMode=mode)  # fmt: skip

    def stop_req(self) -> m.SessionStopReq:
        pause = self.config.pause or self.pausing
        kind = m.chargingSessionType.Pause if pause else m.chargingSessionType.Terminate
        if self.renegotiating_service:
            kind = m.chargingSessionType.ServiceRenegotiation
        return m.SessionStopReq(Header=HEADER, ChargingSession=kind)
