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
