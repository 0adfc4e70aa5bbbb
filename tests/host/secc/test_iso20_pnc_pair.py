"""Our -20 EVCC against our -20 SECC with Plug & Charge (DC and DC_BPT, both key types): the
EV signs PnC_AReqAuthorizationMode with its contract key, the SECC verifies it and the
session charges to SessionStopRes; either side without PnC falls back to EIM."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from host.ev.evcc.common import SessionStopped
from host.ev.evcc.pnc20 import ev20_from_folder
from host.exi import codec
from host.exi.schemas import iso20_common_messages as m
from host.pki import hierarchy
from host.pki.profiles import PROFILES
from host.secc import iso20_constants as k
from host.secc import sig20
from host.secc.iso20_pnc import config20_from_folder
from tests.host.secc.iso20_helpers import Iso20Pair, pair


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    made = {}
    for name in ("iso20", "iso20-ed448"):
        made[name] = tmp_path_factory.mktemp(name)
        hierarchy.init(made[name], PROFILES[name], hierarchy.Names(), dt.datetime.now(dt.UTC))
    return made


def authorization_req(p: Iso20Pair) -> m.AuthorizationReq:
    reqs = [msg for ns, payload in p.evcc.exchanged if ns == m.NAMESPACE
            and isinstance(msg := codec.decode(ns, payload), m.AuthorizationReq)]
    return reqs[0]


@pytest.mark.parametrize(("service", "mode", "profile"), [
    (k.SERVICE_DC, k.CONTROL_SCHEDULED, "iso20"),
    (k.SERVICE_DC_BPT, k.CONTROL_DYNAMIC, "iso20"),
    (k.SERVICE_DC_BPT, k.CONTROL_SCHEDULED, "iso20-ed448"),
    (k.SERVICE_DC, k.CONTROL_DYNAMIC, "iso20-ed448")])
def test_our_evcc_charges_by_contract(pki, service, mode, profile):
    folder = pki[profile]
    p = pair(service, mode, discharge=service == k.SERVICE_DC_BPT, pnc=ev20_from_folder(folder),
             secc_kw={"pnc": config20_from_folder(folder)})
    assert isinstance(p.evcc.result, SessionStopped), p.evcc.result
    assert ("AuthorizationReq", "OK") in p.answered()
    assert p.secc.emaid == hierarchy.Names().emaid
    req = authorization_req(p)
    assert req.SelectedAuthorizationService is m.authorizationType.PnC
    method = req.Header.Signature.SignedInfo.SignatureMethod.Algorithm
    assert method == (sig20.ECDSA_SHA512 if profile == "iso20" else sig20.EDDSA_ED448)
    assert p.loops() >= 1


def test_either_side_without_pnc_falls_back_to_eim(pki):
    folder = pki["iso20"]
    ev_only = pair(pnc=ev20_from_folder(folder))
    secc_only = pair(secc_kw={"pnc": config20_from_folder(folder)})
    for p in (ev_only, secc_only):
        assert isinstance(p.evcc.result, SessionStopped), p.evcc.result
        assert authorization_req(p).SelectedAuthorizationService is m.authorizationType.EIM


def test_the_signed_request_is_repeated_unaltered_while_the_station_decides(pki):
    folder = pki["iso20"]
    p = pair(pnc=ev20_from_folder(folder), secc_kw={"pnc": config20_from_folder(folder)},
             controller_kw={"authorize_after": 0.35})
    assert isinstance(p.evcc.result, SessionStopped), p.evcc.result
    codes = [code for name, code in p.answered() if name == "AuthorizationReq"]
    assert len(codes) >= 3 and set(codes) == {"OK"}
    reqs = [codec.decode(ns, payload) for ns, payload in p.evcc.exchanged if ns == m.NAMESPACE]
    signed = [r for r in reqs if isinstance(r, m.AuthorizationReq)]
    assert len(signed) == len(codes)
    assert all(r.PnC_AReqAuthorizationMode == signed[0].PnC_AReqAuthorizationMode
               and r.Header.Signature == signed[0].Header.Signature for r in signed)
