"""The -20 SECC's states and the sequence table of the common messages (-20 §8.8); the
energy services (``iso20_dc``) add their rows."""

from __future__ import annotations

from enum import Enum, auto
from typing import Any

from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import iso20_common_types as t

from .core import Step, step


class State(Enum):
    """What the SECC waits for next."""

    SESSION_SETUP = auto()
    AUTHORIZATION_SETUP = auto()
    AUTHORIZATION = auto()
    SERVICE_DISCOVERY = auto()
    SERVICE_DETAIL = auto()  # ServiceDetailReq (repeatable) or ServiceSelectionReq
    CHARGE_PARAMETER_DISCOVERY = auto()
    SCHEDULE_EXCHANGE = auto()
    CABLE_CHECK = auto()  # DC
    PRE_CHARGE = auto()  # DC: DC_PreChargeReq or PowerDeliveryReq(Start)
    READY = auto()  # AC: PowerDeliveryReq(Start)
    CHARGING = auto()  # the loop, MeteringConfirmationReq, PowerDeliveryReq
    RENEGOTIATION = auto()  # ScheduleExchangeReq after PowerDelivery(ScheduleRenegotiation)
    RESTART = auto()  # PowerDeliveryReq(Start) after the renegotiation
    WELDING_DETECTION = auto()  # DC: DC_WeldingDetectionReq or SessionStopReq
    POWER_OFF = auto()  # AC: SessionStopReq
    STOPPED = auto()


S = State

COMMON_TABLE: dict[tuple[State, type], Step] = {
    (S.SESSION_SETUP, m.SessionSetupReq): step("session_setup", S.AUTHORIZATION_SETUP),
    (S.AUTHORIZATION_SETUP, m.AuthorizationSetupReq): step("authorization_setup",
                                                           S.AUTHORIZATION),
    (S.AUTHORIZATION, m.AuthorizationReq): step("authorization", S.AUTHORIZATION,
                                                S.SERVICE_DISCOVERY),
    # iso20_install: FAILED_SequenceError when not offered, as before the row existed
    (S.AUTHORIZATION, m.CertificateInstallationReq): step("certificate_installation",
                                                          S.AUTHORIZATION),
    (S.SERVICE_DISCOVERY, m.ServiceDiscoveryReq): step("service_discovery", S.SERVICE_DETAIL),
    (S.SERVICE_DETAIL, m.ServiceDetailReq): step("service_detail", S.SERVICE_DETAIL),
    (S.SERVICE_DETAIL, m.ServiceSelectionReq): step("service_selection",
                                                    S.CHARGE_PARAMETER_DISCOVERY),
    (S.SCHEDULE_EXCHANGE, m.ScheduleExchangeReq): step("schedule_exchange", S.SCHEDULE_EXCHANGE,
                                                       S.CABLE_CHECK, S.READY),
    (S.CHARGING, m.PowerDeliveryReq): step("power_delivery", S.CHARGING, S.RENEGOTIATION,
                                           S.WELDING_DETECTION, S.POWER_OFF),
    (S.CHARGING, m.MeteringConfirmationReq): step("metering_confirmation", S.CHARGING),
    (S.RENEGOTIATION, m.ScheduleExchangeReq): step("schedule_exchange", S.RENEGOTIATION,
                                                   S.RESTART),
    (S.RESTART, m.PowerDeliveryReq): step("power_delivery", S.RESTART, S.CHARGING,
                                          S.WELDING_DETECTION, S.POWER_OFF),
} | {  # fmt: skip
    # an EV may give up (or pause) before power flowed, and stops after it; with
    # ChargingSession=ServiceRenegotiation it goes back to ServiceDiscovery (iso20_flow)
    (state, m.SessionStopReq): step("session_stop", S.STOPPED, S.SERVICE_DISCOVERY, state)
    for state in (S.AUTHORIZATION, S.SERVICE_DISCOVERY, S.SERVICE_DETAIL,
                  S.CHARGE_PARAMETER_DISCOVERY, S.SCHEDULE_EXCHANGE, S.CABLE_CHECK,
                  S.PRE_CHARGE, S.READY, S.WELDING_DETECTION, S.POWER_OFF)
}

COMMON_REQUESTS = (m.SessionSetupReq, m.AuthorizationSetupReq, m.AuthorizationReq,
                   m.ServiceDiscoveryReq, m.ServiceDetailReq, m.ServiceSelectionReq,
                   m.ScheduleExchangeReq, m.PowerDeliveryReq, m.MeteringConfirmationReq,
                   m.SessionStopReq, m.CertificateInstallationReq, m.VehicleCheckInReq,
                   m.VehicleCheckOutReq)  # fmt: skip


def not_offered(request: Any, code: m.responseCodeType, h: t.MessageHeaderType) -> Any:
    """Requests an EIM SECC never expects: answered (FAILED_SequenceError, from the core)
    with the mandatory fields empty."""
    kind = type(request)
    if kind is m.VehicleCheckInReq:
        return m.VehicleCheckInRes(Header=h, ResponseCode=code)
    if kind is m.VehicleCheckOutReq:
        return m.VehicleCheckOutRes(Header=h, ResponseCode=code,
                                    EVSECheckOutStatus=m.evseCheckOutStatusType.Completed)
    chain = m.ContractCertificateChainType(Certificate=b"\x00",
                                           SubCertificates=m.SubCertificatesType(
                                               Certificate=[b"\x00"]))  # fmt: skip
    return m.CertificateInstallationRes(
        Header=h, ResponseCode=code, EVSEProcessing=m.processingType.Finished,
        CPSCertificateChain=m.CertificateChainType(Certificate=b"\x00"),
        SignedInstallationData=m.SignedInstallationDataType(
            Id="d", ContractCertificateChain=chain, ECDHCurve=m.ecdhCurveType.SECP521,
            DHPublicKey=bytes(133), SECP521_EncryptedPrivateKey=bytes(94)),
        RemainingContractCertificateChains=0)  # fmt: skip
