"""Typed views of the OCPP messages the station handles (names from the spec), built from
payloads that already passed the JSON schema, so the parsers only pick fields."""

from __future__ import annotations

from dataclasses import dataclass

from .devmodel import GetVariableData, SetVariableData


@dataclass(frozen=True)
class StationInfo:
    """ChargingStationType of the BootNotificationRequest."""

    model: str
    vendor_name: str
    serial_number: str | None = None
    firmware_version: str | None = None

    def to_json(self) -> dict:
        out = {"model": self.model, "vendorName": self.vendor_name}
        if self.serial_number is not None:
            out["serialNumber"] = self.serial_number
        if self.firmware_version is not None:
            out["firmwareVersion"] = self.firmware_version
        return out


@dataclass(frozen=True)
class BootNotificationResponse:
    status: str  # Accepted / Pending / Rejected
    interval: int
    current_time: str

    @classmethod
    def from_json(cls, obj: dict) -> BootNotificationResponse:
        return cls(obj["status"], obj["interval"], obj["currentTime"])


@dataclass(frozen=True)
class GetVariablesRequest:
    items: tuple[GetVariableData, ...]

    @classmethod
    def from_json(cls, obj: dict) -> GetVariablesRequest:
        return cls(tuple(GetVariableData.from_json(i) for i in obj["getVariableData"]))


@dataclass(frozen=True)
class SetVariablesRequest:
    items: tuple[SetVariableData, ...]

    @classmethod
    def from_json(cls, obj: dict) -> SetVariablesRequest:
        return cls(tuple(SetVariableData.from_json(i) for i in obj["setVariableData"]))


@dataclass(frozen=True)
class SetChargingProfileRequest:
    evse_id: int
    profile: dict  # parsed by smartcharging, which also keeps it as received

    @classmethod
    def from_json(cls, obj: dict) -> SetChargingProfileRequest:
        return cls(obj["evseId"], obj["chargingProfile"])


@dataclass(frozen=True)
class ClearChargingProfileRequest:
    profile_id: int | None
    evse_id: int | None
    purpose: str | None
    stack_level: int | None

    @classmethod
    def from_json(cls, obj: dict) -> ClearChargingProfileRequest:
        c = obj.get("chargingProfileCriteria", {})
        return cls(obj.get("chargingProfileId"), c.get("evseId"), c.get("chargingProfilePurpose"),
                   c.get("stackLevel"))  # fmt: skip


@dataclass(frozen=True)
class GetChargingProfilesRequest:
    request_id: int
    evse_id: int | None
    ids: tuple[int, ...]
    purpose: str | None
    stack_level: int | None
    sources: tuple[str, ...]

    @classmethod
    def from_json(cls, obj: dict) -> GetChargingProfilesRequest:
        c = obj["chargingProfile"]
        return cls(obj["requestId"], obj.get("evseId"), tuple(c.get("chargingProfileId", ())),
                   c.get("chargingProfilePurpose"), c.get("stackLevel"),
                   tuple(c.get("chargingLimitSource", ())))  # fmt: skip


@dataclass(frozen=True)
class GetCompositeScheduleRequest:
    duration: int
    evse_id: int
    unit: str | None

    @classmethod
    def from_json(cls, obj: dict) -> GetCompositeScheduleRequest:
        return cls(obj["duration"], obj["evseId"], obj.get("chargingRateUnit"))


@dataclass(frozen=True)
class ResetRequest:
    kind: str  # Immediate / OnIdle (2.1 adds ImmediateAndResume)
    evse_id: int | None

    @classmethod
    def from_json(cls, obj: dict) -> ResetRequest:
        return cls(obj["type"], obj.get("evseId"))


@dataclass(frozen=True)
class RequestStartTransactionRequest:
    remote_start_id: int
    id_token: dict
    evse_id: int | None
    charging_profile: dict | None

    @classmethod
    def from_json(cls, obj: dict) -> RequestStartTransactionRequest:
        return cls(obj["remoteStartId"], obj["idToken"], obj.get("evseId"),
                   obj.get("chargingProfile"))  # fmt: skip


@dataclass(frozen=True)
class RequestStopTransactionRequest:
    transaction_id: str

    @classmethod
    def from_json(cls, obj: dict) -> RequestStopTransactionRequest:
        return cls(obj["transactionId"])


@dataclass(frozen=True)
class ChangeAvailabilityRequest:
    operative: bool
    evse_id: int  # 0: the whole station
    connector_id: int | None

    @classmethod
    def from_json(cls, obj: dict) -> ChangeAvailabilityRequest:
        evse = obj.get("evse") or {}
        return cls(obj["operationalStatus"] == "Operative", evse.get("id", 0),
                   evse.get("connectorId"))  # fmt: skip


@dataclass(frozen=True)
class UnlockConnectorRequest:
    evse_id: int
    connector_id: int

    @classmethod
    def from_json(cls, obj: dict) -> UnlockConnectorRequest:
        return cls(obj["evseId"], obj["connectorId"])


@dataclass(frozen=True)
class TriggerMessageRequest:
    requested: str  # MessageTriggerEnumType
    evse_id: int | None
    connector_id: int | None

    @classmethod
    def from_json(cls, obj: dict) -> TriggerMessageRequest:
        evse = obj.get("evse") or {}
        return cls(obj["requestedMessage"], evse.get("id"), evse.get("connectorId"))


@dataclass(frozen=True)
class SendLocalListRequest:
    version: int
    update_type: str  # Full / Differential
    entries: list[dict]

    @classmethod
    def from_json(cls, obj: dict) -> SendLocalListRequest:
        return cls(obj["versionNumber"], obj["updateType"], obj.get("localAuthorizationList", []))


@dataclass(frozen=True)
class DataTransferRequest:
    vendor_id: str
    message_id: str | None

    @classmethod
    def from_json(cls, obj: dict) -> DataTransferRequest:
        return cls(obj["vendorId"], obj.get("messageId"))


@dataclass(frozen=True)
class EmptyRequest:
    """ClearCache, GetLocalListVersion: nothing to pick."""

    @classmethod
    def from_json(cls, obj: dict) -> EmptyRequest:
        return cls()


@dataclass(frozen=True)
class CertificateSignedRequest:
    chain: str  # PEM, leaf first
    use: str  # CertificateSigningUseEnumType

    @classmethod
    def from_json(cls, obj: dict) -> CertificateSignedRequest:
        return cls(obj["certificateChain"], obj.get("certificateType", "ChargingStationCertificate"))


@dataclass(frozen=True)
class InstallCertificateRequest:
    use: str  # InstallCertificateUseEnumType
    certificate: str  # PEM

    @classmethod
    def from_json(cls, obj: dict) -> InstallCertificateRequest:
        return cls(obj["certificateType"], obj["certificate"])


@dataclass(frozen=True)
class DeleteCertificateRequest:
    hash_data: dict  # CertificateHashDataType, compared field by field

    @classmethod
    def from_json(cls, obj: dict) -> DeleteCertificateRequest:
        return cls(obj["certificateHashData"])


@dataclass(frozen=True)
class GetInstalledCertificateIdsRequest:
    uses: tuple[str, ...]  # empty: all

    @classmethod
    def from_json(cls, obj: dict) -> GetInstalledCertificateIdsRequest:
        return cls(tuple(obj.get("certificateType", ())))
