"""The CSMS requests the station logic answers (OCPP 2.0.1 Part 2 C, D, F, G): typed request
in, response payload out; what they change goes through ``ChargingStation``'s own methods,
so a request and a station event move the same state the same way."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from .auth import Decision
from .devmodel import Component, Variable
from .machine import Registration, Route
from .messages import (
    ChangeAvailabilityRequest,
    DataTransferRequest,
    EmptyRequest,
    RequestStartTransactionRequest,
    RequestStopTransactionRequest,
    SendLocalListRequest,
    TriggerMessageRequest,
    UnlockConnectorRequest,
)
from .station import IdToken

if TYPE_CHECKING:
    from .chargingstation import ChargingStation


def routes(cs: ChargingStation) -> dict[str, Route]:
    return {
        "RequestStartTransaction": Route(RequestStartTransactionRequest.from_json,
                                         partial(request_start, cs)),
        "RequestStopTransaction": Route(RequestStopTransactionRequest.from_json,
                                        partial(request_stop, cs)),
        "ChangeAvailability": Route(ChangeAvailabilityRequest.from_json,
                                    partial(change_availability, cs)),
        "UnlockConnector": Route(UnlockConnectorRequest.from_json, partial(unlock, cs)),
        "TriggerMessage": Route(TriggerMessageRequest.from_json, partial(trigger, cs)),
        "ClearCache": Route(EmptyRequest.from_json, partial(clear_cache, cs)),
        "SendLocalList": Route(SendLocalListRequest.from_json, partial(send_local_list, cs)),
        "GetLocalListVersion": Route(EmptyRequest.from_json,
                                     lambda r, now: {"versionNumber": cs.auth.version()}),
        "DataTransfer": Route(DataTransferRequest.from_json, partial(data_transfer, cs)),
    }  # fmt: skip


def request_start(cs: ChargingStation, req: RequestStartTransactionRequest, now: float) -> dict:
    """F01/F02. Without evseId the first free EVSE is taken (local choice)."""
    free = [e for e in cs.evses.values()
            if e.tx_id is None and e.fault is None and cs._operative(e) and e.asking is None]  # fmt: skip
    if req.evse_id is not None:
        free = [e for e in free if e.evse_id == req.evse_id]
    if not free:
        return {"status": "Rejected"}
    e = free[0]
    token = IdToken.from_json(req.id_token)
    e.remote_start_id, e.profile = req.remote_start_id, req.charging_profile
    if cs.model.boolean("AuthCtrlr", "AuthorizeRemoteStart"):
        cs._token(e, token, now)
    else:
        cs._asked(token, Decision("Accepted", "remote start"), now, e)
    cs._refresh(now)
    return {"status": "Accepted"}

def request_stop(cs: ChargingStation, req: RequestStopTransactionRequest, now: float) -> dict:
    """F03: the answer goes out before the TransactionEvent Ended (the machine holds
    CALLs back while a handler runs)."""
    e = next((x for x in cs.evses.values() if x.tx_id == req.transaction_id), None)
    if e is None:
        return {"status": "Rejected"}
    cs._end(e, now, "RemoteStop", "Remote")
    cs._refresh(now)
    return {"status": "Accepted"}

def change_availability(cs: ChargingStation, req: ChangeAvailabilityRequest, now: float) -> dict:
    if req.evse_id and req.evse_id not in cs.evses or (req.connector_id or 1) != 1:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}
    scheduled = False
    if req.evse_id == 0:
        cs.station_operative = req.operative
        cs.model.set_own(Component("ChargingStation"), Variable("Available"),
                           "true" if req.operative else "false")  # fmt: skip
        # going out of service waits for running transactions (G03); EVSEs without one
        # already show Unavailable and take no new ones
        scheduled = not req.operative and any(e.tx_id for e in cs.evses.values())
        cs.station_scheduled = scheduled
        if not scheduled:
            cs.port.set_available(0, req.operative)
    else:
        e = cs.evses[req.evse_id]
        if not req.operative and e.tx_id is not None:
            e.scheduled_operative, scheduled = False, True
        elif e.operative != req.operative or e.scheduled_operative is not None:
            cs._set_operative(e, req.operative)
    cs._refresh(now)
    return {"status": "Scheduled" if scheduled else "Accepted"}

def unlock(cs: ChargingStation, req: UnlockConnectorRequest, now: float) -> dict:
    e = cs.evses.get(req.evse_id)
    if e is None or req.connector_id != 1:
        return {"status": "UnknownConnector"}
    if e.tx_id is not None:  # F05: the CSMS must stop the transaction first
        return {"status": "OngoingAuthorizedTransaction"}
    return {"status": "Unlocked" if cs.port.unlock(e.evse_id, 1) else "UnlockFailed"}

def trigger(cs: ChargingStation, req: TriggerMessageRequest, now: float) -> dict:
    """F06: the requested message follows the answer."""
    evses = ([cs.evses[req.evse_id]] if req.evse_id in cs.evses
             else [] if req.evse_id else list(cs.evses.values()))  # fmt: skip
    if not evses:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}
    what = req.requested
    if what == "BootNotification":
        if cs.conn.registration is Registration.ACCEPTED:  # F06.FR.17
            return {"status": "Rejected"}
        cs.conn.boot_now(now)  # after this answer: the machine holds CALLs back meanwhile
        return {"status": "Accepted"}
    if what == "Heartbeat":
        cs.conn.call("Heartbeat", {}, now)
    elif what == "StatusNotification":
        if req.evse_id is None:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "MissingParam"}}
        for e in evses:
            cs.conn.call("StatusNotification", cs._status_notification(e, now), now)
    elif what == "MeterValues":
        for e in evses:
            if e.last_meter is not None:
                cs.conn.call("MeterValues", cs._meter_values(e), now)
    elif what == "TransactionEvent":
        for e in evses:
            if e.tx_id is not None:
                meter = [e.last_meter] if e.last_meter is not None else []
                cs.conn.transaction_updated(e.tx_id, now=now, trigger_reason="Trigger",
                                              meter_values=meter)  # fmt: skip
    elif what in ("SignChargingStationCertificate", "SignV2GCertificate") and cs.certificates:
        cs.certificates.sign(what[4:], now)  # the CertificateSigningUse after "Sign"
    else:
        return {"status": "NotImplemented"}
    return {"status": "Accepted"}

def clear_cache(cs: ChargingStation, req: EmptyRequest, now: float) -> dict:
    return {"status": "Accepted" if cs.auth.clear_cache() else "Rejected"}

def send_local_list(cs: ChargingStation, req: SendLocalListRequest, now: float) -> dict:
    most = cs.model.integer("LocalAuthListCtrlr", "ItemsPerMessage")
    if len(req.entries) > most:
        return {"status": "Failed", "statusInfo": {"reasonCode": "TooManyElements"}}
    return {"status": cs.auth.send_local_list(req.version, req.update_type, req.entries)}

def data_transfer(cs: ChargingStation, req: DataTransferRequest, now: float) -> dict:
    if req.vendor_id not in cs.vendors:
        return {"status": "UnknownVendorId"}
    return {"status": "UnknownMessageId"}  # no vendor messages are defined yet

