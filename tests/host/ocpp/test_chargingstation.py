"""The station logic (host.ocpp.chargingstation) through the station interface, with a
scripted station and the CSMS's side played by the test: transactions from station events,
StatusNotification, CSMS commands (RequestStart/Stop, ChangeAvailability, UnlockConnector,
TriggerMessage, Reset, DataTransfer)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from host.ocpp.chargingstation import ChargingStation
from host.ocpp.devmodel import Component, Variable
from host.ocpp.machine import StationConnection
from host.ocpp.station import (
    ChargingStarted,
    EvPlugged,
    EvUnplugged,
    FaultCleared,
    FaultRaised,
    IdToken,
    MeterSampled,
    TokenPresented,
)
from host.ocpp.txqueue import MeterValue, SampledValue

from .helpers import T0, answer, boot_ok, one, sent
from .scripted import ScriptedStation, wire

CARD = IdToken("04A2B3C4", "ISO14443")
Answers = dict[str, Callable[[dict], dict]]
DEFAULT: Answers = {
    "StatusNotification": lambda p: {},
    "MeterValues": lambda p: {},
    "Heartbeat": lambda p: {"currentTime": "2027-01-15T08:00:00.000Z"},
    "TransactionEvent": lambda p: {},
    "Authorize": lambda p: {"idTokenInfo": {"status": "Accepted"}},
    "SecurityEventNotification": lambda p: {},
}


class Csms:
    """Answers every CALL of the station, keeps what it got, sends CSMS requests."""

    def __init__(self, conn: StationConnection, cs: ChargingStation, answers: Answers | None = None):
        self.conn, self.cs = conn, cs
        self.answers = dict(DEFAULT, **(answers or {}))
        self.calls: list[list] = []
        self.results: dict[str, list] = {}
        self.n = 0

    def settle(self, now: float = T0) -> None:
        while True:
            self.cs.poll(now)
            frames = sent(self.conn)
            if not frames:
                return
            for f in frames:
                if f[0] == 2:
                    self.calls.append(f)
                    answer(self.conn, f, self.answers[f[2]](f[3]), now)
                else:
                    self.results[f[1]] = f

    def request(self, action: str, payload: dict, now: float = T0) -> list:
        self.n += 1
        msg_id = f"c{self.n}"
        self.conn.receive(json.dumps([2, msg_id, action, payload]), now)
        frames = sent(self.conn)  # the answer comes first, what it caused after
        assert frames and frames[0][1] == msg_id, frames
        for f in frames[1:]:
            self.calls.append(f)
            answer(self.conn, f, self.answers[f[2]](f[3]), now)
        self.settle(now)
        return frames[0]

    def take(self, action: str | None = None) -> list[dict]:
        got = [c[3] for c in self.calls if action is None or c[2] == action]
        self.calls = [c for c in self.calls if action is not None and c[2] != action]
        return got


def online(tmp_path: Path, answers: Answers | None = None, **kw) -> tuple[Csms, ChargingStation, ScriptedStation]:
    conn, cs, port = wire(tmp_path, **kw)
    conn.connection_made("ocpp2.0.1", T0)
    boot = one(conn)
    answer(conn, boot, boot_ok(boot), T0)
    csms = Csms(conn, cs, answers)
    csms.settle()
    return csms, cs, port


def statuses(csms: Csms) -> list[tuple[int, str]]:
    return [(p["evseId"], p["connectorStatus"]) for p in csms.take("StatusNotification")]


def meter(wh: float) -> MeterValue:
    return MeterValue(T0, (SampledValue(wh, context="Sample.Periodic"),))


def test_boot_reports_every_connector_then_only_changes(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    assert statuses(csms) == [(1, "Available"), (2, "Available")]
    cs.handle(EvPlugged(1), T0)
    csms.settle()
    assert statuses(csms) == [(1, "Occupied")]
    assert cs.model.value("Connector", "AvailabilityState", evse=1, connector=1) == "Occupied"


@pytest.mark.parametrize("plug_first", [True, False])
def test_plug_and_card_start_a_transaction_in_either_order(tmp_path: Path, plug_first: bool) -> None:
    csms, cs, port = online(tmp_path)
    first, second = (EvPlugged(1), TokenPresented(1, CARD))[:: 1 if plug_first else -1]
    cs.handle(first, T0)
    csms.settle()
    assert port.take() == []
    cs.handle(second, T0)
    csms.settle()
    assert port.take() == [("start", 1, "tx1")]
    assert csms.take("Authorize") == [{"idToken": CARD.to_json()}]
    cs.handle(ChargingStarted(1), T0 + 1)
    cs.handle(MeterSampled(1, meter(120.0)), T0 + 2)
    cs.handle(TokenPresented(1, CARD), T0 + 3)  # the same card stops it
    csms.settle()
    events = csms.take("TransactionEvent")
    assert [(e["eventType"], e["triggerReason"]) for e in events] == [
        ("Started", "CablePluggedIn" if not plug_first else "Authorized"),
        ("Updated", "ChargingStateChanged"), ("Updated", "MeterValuePeriodic"),
        ("Ended", "StopAuthorized")]  # fmt: skip
    assert events[0]["idToken"] == CARD.to_json()
    assert events[1]["transactionInfo"]["chargingState"] == "Charging"
    assert events[3]["transactionInfo"]["stoppedReason"] == "Local"
    assert port.take() == [("stop", 1, "Local")]


def test_unplug_and_fault_end_the_transaction(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    for evse in (1, 2):
        cs.handle(EvPlugged(evse), T0)
        cs.handle(TokenPresented(evse, CARD), T0)
    csms.settle()
    cs.handle(EvUnplugged(1), T0 + 1)
    cs.handle(FaultRaised(2, "ground fault", "GroundFault"), T0 + 1)
    csms.settle()
    ended = [e for e in csms.take("TransactionEvent") if e["eventType"] == "Ended"]
    assert [(e["triggerReason"], e["transactionInfo"]["stoppedReason"]) for e in ended] == [
        ("EVCommunicationLost", "EVDisconnected"), ("AbnormalCondition", "GroundFault")]  # fmt: skip
    assert statuses(csms)[-2:] == [(1, "Available"), (2, "Faulted")]
    cs.handle(FaultCleared(2), T0 + 2)
    csms.settle()
    assert statuses(csms) == [(2, "Occupied")]  # still plugged


def test_request_start_and_stop(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    res = csms.request("RequestStartTransaction", {"remoteStartId": 7, "idToken": CARD.to_json(),
                                                  "evseId": 2})  # fmt: skip
    assert res[2] == {"status": "Accepted"}
    assert csms.take("Authorize") == [{"idToken": CARD.to_json()}]  # AuthorizeRemoteStart
    cs.handle(EvPlugged(2), T0)
    csms.settle()
    started = csms.take("TransactionEvent")[0]
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 7
    tx = started["transactionInfo"]["transactionId"]
    assert csms.request("RequestStartTransaction", {"remoteStartId": 8, "idToken": CARD.to_json(),
                                                    "evseId": 2})[2] == {"status": "Rejected"}  # fmt: skip
    assert csms.request("RequestStopTransaction", {"transactionId": "nope"})[2] == {"status": "Rejected"}
    assert csms.request("RequestStopTransaction", {"transactionId": tx})[2] == {"status": "Accepted"}
    ended = csms.take("TransactionEvent")
    assert [(e["eventType"], e["triggerReason"]) for e in ended] == [("Ended", "RemoteStop")]
    assert port.take() == [("start", 2, tx), ("stop", 2, "Remote")]


def test_answer_goes_out_before_what_the_request_caused(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    cs.handle(EvPlugged(1), T0)
    cs.handle(TokenPresented(1, CARD), T0)
    csms.settle()
    csms.take()
    csms.conn.receive(json.dumps([2, "s1", "RequestStopTransaction", {"transactionId": "tx1"}]), T0)
    frames = sent(csms.conn)
    assert [f[0] for f in frames] == [3, 2] and frames[1][2] == "TransactionEvent"


def test_change_availability_is_scheduled_during_a_transaction(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    cs.handle(EvPlugged(1), T0)
    cs.handle(TokenPresented(1, CARD), T0)
    csms.settle()
    port.take()
    csms.take()
    inop = {"operationalStatus": "Inoperative", "evse": {"id": 1}}
    assert csms.request("ChangeAvailability", inop)[2] == {"status": "Scheduled"}
    assert csms.request("ChangeAvailability", {"operationalStatus": "Inoperative",
                                               "evse": {"id": 2}})[2] == {"status": "Accepted"}  # fmt: skip
    assert csms.request("ChangeAvailability", {"operationalStatus": "Inoperative",
                                               "evse": {"id": 9}})[2]["status"] == "Rejected"  # fmt: skip
    assert statuses(csms) == [(2, "Unavailable")]
    cs.handle(TokenPresented(1, CARD), T0 + 1)  # ends the transaction: the change happens
    csms.settle()
    assert port.take() == [("available", 2, False), ("stop", 1, "Local"), ("available", 1, False)]
    assert statuses(csms) == [(1, "Unavailable")]
    cs.handle(TokenPresented(1, CARD), T0 + 2)  # an unavailable EVSE starts nothing
    csms.settle()
    assert csms.take("Authorize") == [] and port.take() == []
    assert cs.model.value("EVSE", "Available", evse=1) == "false"  # persisted for a restart


def test_unlock_connector(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    assert csms.request("UnlockConnector", {"evseId": 1, "connectorId": 1})[2] == {"status": "Unlocked"}
    port.unlock_works = False
    assert csms.request("UnlockConnector", {"evseId": 1, "connectorId": 1})[2] == {"status": "UnlockFailed"}
    assert csms.request("UnlockConnector", {"evseId": 5, "connectorId": 1})[2] == {"status": "UnknownConnector"}
    cs.handle(EvPlugged(2), T0)
    cs.handle(TokenPresented(2, CARD), T0)
    csms.settle()
    assert csms.request("UnlockConnector", {"evseId": 2, "connectorId": 1})[2] == {
        "status": "OngoingAuthorizedTransaction"}  # fmt: skip
    assert [c for c in port.take() if c[0] == "unlock"] == [("unlock", 1, 1), ("unlock", 1, 1)]


def test_trigger_message(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    csms.take()
    cs.handle(MeterSampled(1, meter(5.0)), T0)  # no transaction: a MeterValues
    csms.settle()
    assert csms.take("MeterValues")[0]["evseId"] == 1
    def trigger(what: str, evse: dict | None = None) -> str:
        payload: dict = {"requestedMessage": what}
        if evse is not None:
            payload["evse"] = evse
        return csms.request("TriggerMessage", payload)[2]["status"]

    assert trigger("StatusNotification", {"id": 2, "connectorId": 1}) == "Accepted"
    assert statuses(csms) == [(2, "Available")]
    assert trigger("Heartbeat") == "Accepted" and len(csms.take("Heartbeat")) == 1
    assert trigger("MeterValues", {"id": 1}) == "Accepted"
    assert csms.take("MeterValues")[0]["meterValue"][0]["sampledValue"][0]["value"] == 5.0
    assert trigger("BootNotification") == "Rejected"  # already accepted
    assert trigger("FirmwareStatusNotification") == "NotImplemented"
    assert trigger("StatusNotification", {"id": 7}) == "Rejected"
    cs.handle(EvPlugged(1), T0)
    cs.handle(TokenPresented(1, CARD), T0)
    csms.settle()
    csms.take()
    assert trigger("TransactionEvent", {"id": 1}) == "Accepted"
    assert [e["triggerReason"] for e in csms.take("TransactionEvent")] == ["Trigger"]


@pytest.mark.parametrize("kind", ["Immediate", "OnIdle"])
def test_reset_with_a_transaction_running(tmp_path: Path, kind: str) -> None:
    csms, cs, port = online(tmp_path)
    cs.handle(EvPlugged(1), T0)
    cs.handle(TokenPresented(1, CARD), T0)
    csms.settle()
    port.take()
    res = csms.request("Reset", {"type": kind})
    if kind == "Immediate":
        assert res[2] == {"status": "Accepted"}
        assert port.take() == [("stop", 1, "ImmediateReset"), ("reset", "Immediate")]
        ended = csms.take("TransactionEvent")[-1]
        assert (ended["eventType"], ended["triggerReason"]) == ("Ended", "ResetCommand")
    else:
        assert res[2] == {"status": "Scheduled"}
        assert port.take() == []
        assert csms.take("SecurityEventNotification") == []  # not yet: no reset so far
        cs.handle(EvUnplugged(1), T0 + 5)
        csms.settle()
        assert port.take() == [("stop", 1, "EVDisconnected"), ("reset", "OnIdle")]
    # A04: the reset is a critical security event, on disk before the port resets us
    [event] = csms.take("SecurityEventNotification")
    assert (event["type"], event["techInfo"]) == ("ResetOrReboot", f"Reset {kind} requested by the CSMS")


def test_data_transfer_rejects_unknown_vendor(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path, vendors=("org.v2gate",))
    assert csms.request("DataTransfer", {"vendorId": "com.other"})[2] == {"status": "UnknownVendorId"}
    assert csms.request("DataTransfer", {"vendorId": "org.v2gate", "messageId": "x"})[2] == {
        "status": "UnknownMessageId"}  # fmt: skip


def test_offline_status_change_is_sent_after_the_reconnect(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    statuses(csms)
    csms.conn.connection_lost(T0 + 1)
    cs.handle(FaultRaised(1, "overtemperature"), T0 + 2)
    cs.handle(FaultCleared(1), T0 + 3)
    cs.handle(EvPlugged(2), T0 + 4)
    csms.conn.connection_made("ocpp2.0.1", T0 + 5)
    csms.conn.handle_timer(T0 + 400)  # the heartbeat is the first answer from the CSMS
    csms.settle(T0 + 400)
    assert statuses(csms) == [(2, "Occupied")]  # the latest state only, not the history


def test_station_wide_inoperative_waits_for_the_transaction(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    cs.handle(EvPlugged(1), T0)
    cs.handle(TokenPresented(1, CARD), T0)
    csms.settle()
    port.take()
    csms.take()
    assert csms.request("ChangeAvailability", {"operationalStatus": "Inoperative"})[2] == {
        "status": "Scheduled"}  # fmt: skip
    assert port.take() == [] and statuses(csms) == [(2, "Unavailable")]
    cs.handle(EvUnplugged(1), T0 + 1)
    csms.settle()
    assert port.take() == [("stop", 1, "EVDisconnected"), ("available", 0, False)]
    assert statuses(csms) == [(1, "Unavailable")]


def test_csms_deauthorizing_the_token_ends_the_transaction(tmp_path: Path) -> None:
    """C12/E05 with StopTxOnInvalidId: an offline start for an unknown token, refused once
    the CSMS sees the Started event."""
    csms, cs, port = online(tmp_path, {"TransactionEvent": lambda p: (
        {"idTokenInfo": {"status": "Invalid"}} if "idToken" in p else {})})  # fmt: skip
    cs.model.set_own(Component("AuthCtrlr"), Variable("OfflineTxForUnknownIdEnabled"), "true")
    csms.conn.connection_lost(T0)
    cs.handle(EvPlugged(1), T0)
    cs.handle(TokenPresented(1, CARD), T0)
    assert port.take() == [("start", 1, "tx1")]
    csms.conn.connection_made("ocpp2.0.1", T0 + 1)
    csms.settle(T0 + 1)
    ended = [e for e in csms.take("TransactionEvent") if e["eventType"] == "Ended"]
    assert [(e["triggerReason"], e["transactionInfo"]["stoppedReason"]) for e in ended] == [
        ("Deauthorized", "DeAuthorized")]  # fmt: skip
    assert port.take() == [("stop", 1, "DeAuthorized")]
    assert cs.auth.lookup(CARD, T0 + 1).status == "Invalid"  # cached for next time


def test_a_restarted_station_still_knows_who_may_stop(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    cs.handle(EvPlugged(2), T0)
    cs.handle(TokenPresented(2, CARD), T0)
    csms.settle()
    again = ChargingStation(csms.conn, port, cs.auth, evses=(1, 2))  # same database
    assert (again.evses[2].tx_id, again.evses[2].token) == ("tx1", CARD)
    again.handle(TokenPresented(2, CARD), T0 + 5)
    assert port.take()[-1] == ("stop", 2, "Local")


def test_triggered_boot_notification_goes_out_at_once_while_pending(tmp_path: Path) -> None:
    conn, cs, port = wire(tmp_path)
    conn.connection_made("ocpp2.0.1", T0)
    boot = one(conn)
    answer(conn, boot, boot_ok(boot, interval=600, status="Pending"), T0)
    cs.poll(T0)
    assert sent(conn) == []  # the next boot is due in 600 s
    conn.receive(json.dumps([2, "t1", "TriggerMessage", {"requestedMessage": "BootNotification"}]), T0 + 1)
    frames = sent(conn)
    assert [f[:2] for f in frames] == [[3, "t1"], [2, frames[1][1]]] and frames[1][2] == "BootNotification"
    assert frames[0][2] == {"status": "Accepted"}


def test_authorization_lapses_without_an_ev(tmp_path: Path) -> None:
    """E03: a token accepted with no EV plugged waits TxCtrlr.EVConnectionTimeOut (60 s)."""
    csms, cs, port = online(tmp_path)
    cs.handle(TokenPresented(1, CARD), T0)
    cs.handle(TokenPresented(2, CARD), T0 + 30)
    csms.settle()
    assert csms.conn.get_timer() == T0 + 60
    cs.handle(EvPlugged(2), T0 + 50)  # in time on EVSE 2
    csms.conn.handle_timer(T0 + 60)
    csms.settle(T0 + 60)
    cs.handle(EvPlugged(1), T0 + 61)  # too late on EVSE 1
    csms.settle(T0 + 61)
    assert port.take() == [("start", 2, "tx1")]
    assert [e.plug_deadline for e in cs.evses.values()] == [None, None]  # no alarm left
