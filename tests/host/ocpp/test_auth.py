"""Authorization: Authorize, the local list (SendLocalList / GetLocalListVersion), the
cache (ClearCache) and the offline policy from the device model, through the station
interface with a scripted station."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from host.ocpp.devmodel import Component, Variable
from host.ocpp.station import EvPlugged, IdToken, TokenPresented

from .helpers import T0, sent
from .test_chargingstation import CARD, Csms, online

OTHER = IdToken("DEADBEEF", "ISO14443")
AUTH = Component("AuthCtrlr")


def entry(token: IdToken, status: str | None = "Accepted") -> dict:
    out: dict = {"idToken": token.to_json()}
    if status is not None:
        out["idTokenInfo"] = {"status": status}
    return out


def send_list(csms: Csms, version: int, kind: str, *entries: dict) -> str:
    payload: dict = {"versionNumber": version, "updateType": kind}
    if entries:
        payload["localAuthorizationList"] = list(entries)
    return csms.request("SendLocalList", payload)[2]["status"]


def version(csms: Csms) -> int:
    return csms.request("GetLocalListVersion", {})[2]["versionNumber"]


def test_local_list_full_and_differential_updates(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    assert version(csms) == 0
    assert send_list(csms, 3, "Full", entry(CARD), entry(OTHER, "Blocked")) == "Accepted"
    assert version(csms) == 3
    assert cs.model.value("LocalAuthListCtrlr", "Entries") == "2"
    assert send_list(csms, 3, "Differential", entry(OTHER)) == "VersionMismatch"
    assert send_list(csms, 2, "Differential", entry(OTHER)) == "VersionMismatch"
    assert cs.auth.lookup(OTHER, T0).status == "Blocked"  # a refused update changed nothing
    assert send_list(csms, 4, "Differential", entry(OTHER), entry(CARD, None)) == "Accepted"
    assert cs.auth.lookup(OTHER, T0).status == "Accepted"
    assert cs.auth.lookup(CARD, T0) is None  # no idTokenInfo: removed
    assert send_list(csms, 5, "Full", entry(CARD), entry(CARD)) == "Failed"  # listed twice
    assert send_list(csms, 1, "Full") == "Accepted"  # Full may go back, and may empty it
    assert (version(csms), cs.model.value("LocalAuthListCtrlr", "Entries")) == (1, "0")
    cs.model.set_own(Component("LocalAuthListCtrlr"), Variable("Enabled"), "false")
    assert send_list(csms, 9, "Full", entry(CARD)) == "Failed" and version(csms) == 0


def test_authorize_answer_fills_the_cache_and_clear_cache_empties_it(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path, answers={"Authorize": lambda p: {
        "idTokenInfo": {"status": "Blocked"}}})  # fmt: skip
    cs.handle(TokenPresented(1, CARD), T0)
    csms.settle()
    assert cs.auth.lookup(CARD, T0).status == "Blocked"
    assert csms.request("ClearCache", {})[2] == {"status": "Accepted"}
    assert cs.auth.lookup(CARD, T0) is None
    cs.model.set_own(Component("AuthCacheCtrlr"), Variable("Enabled"), "false")
    assert csms.request("ClearCache", {})[2] == {"status": "Rejected"}


def test_rejected_token_is_logged_with_its_reason(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    csms, cs, port = online(tmp_path, answers={"Authorize": lambda p: {
        "idTokenInfo": {"status": "Expired"}}})  # fmt: skip
    caplog.set_level(logging.INFO, logger="v2gate.ocpp")
    cs.handle(EvPlugged(1), T0)
    cs.handle(TokenPresented(1, CARD), T0)
    csms.settle()
    assert port.take() == []  # nothing started
    lines = [r.getMessage() for r in caplog.records if "OCPP-IdToken-Rejected" in r.getMessage()]
    assert len(lines) == 1 and "Expired" in lines[0] and CARD.value in lines[0] and "csms" in lines[0]


def test_local_pre_authorize_starts_without_asking(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    send_list(csms, 1, "Full", entry(CARD))
    cs.handle(EvPlugged(1), T0)
    cs.handle(TokenPresented(1, CARD), T0)
    csms.settle()
    assert csms.take("Authorize") == [{"idToken": CARD.to_json()}]  # LocalPreAuthorize false
    cs.handle(TokenPresented(1, CARD), T0)
    cs.model.set_own(AUTH, Variable("LocalPreAuthorize"), "true")
    cs.handle(TokenPresented(1, CARD), T0 + 1)
    csms.settle()
    assert csms.take("Authorize") == []
    assert [c[0] for c in port.take()] == ["start", "stop", "start"]


def test_an_expired_list_entry_is_not_accepted(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    e = entry(CARD)
    e["idTokenInfo"]["cacheExpiryDateTime"] = "2027-01-15T08:00:00Z"  # T0 is 2027-01-15 08:00
    send_list(csms, 1, "Full", e)
    assert cs.auth.lookup(CARD, T0 - 60).status == "Accepted"
    assert cs.auth.lookup(CARD, T0 + 60).status == "Expired"


@pytest.mark.parametrize("offline_local, unknown_ok, token, starts", [
    (True, False, CARD, True),     # on the local list: accepted offline
    (True, False, OTHER, False),   # unknown, OfflineTxForUnknownIdEnabled false
    (True, True, OTHER, True),     # unknown, but allowed
    (False, True, CARD, False),    # LocalAuthorizeOffline false: nothing starts offline
])  # fmt: skip
def test_offline_policy(tmp_path: Path, offline_local: bool, unknown_ok: bool, token: IdToken,
                        starts: bool) -> None:  # fmt: skip
    csms, cs, port = online(tmp_path)
    send_list(csms, 1, "Full", entry(CARD))
    cs.model.set_own(AUTH, Variable("LocalAuthorizeOffline"), str(offline_local).lower())
    cs.model.set_own(AUTH, Variable("OfflineTxForUnknownIdEnabled"), str(unknown_ok).lower())
    csms.conn.connection_lost(T0 + 1)
    cs.handle(EvPlugged(1), T0 + 2)
    cs.handle(TokenPresented(1, token), T0 + 2)
    assert [c[0] for c in port.take()] == (["start"] if starts else [])
    if starts:  # the Started event is on disk, flagged offline, for the replay
        assert csms.conn.queue.head().payload["offline"] is True


def test_authorize_timeout_falls_back_to_the_offline_policy(tmp_path: Path) -> None:
    csms, cs, port = online(tmp_path)
    send_list(csms, 1, "Full", entry(CARD))
    cs.handle(EvPlugged(1), T0)
    csms.settle()
    cs.handle(TokenPresented(1, CARD), T0)
    assert [f[2] for f in sent(csms.conn)] == ["Authorize"]
    assert port.take() == []  # asking the CSMS, which never answers
    csms.conn.handle_timer(T0 + 60)
    cs.poll(T0 + 60)
    assert [c[0] for c in port.take()] == ["start"]
