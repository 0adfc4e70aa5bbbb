"""Random schema-valid -2 messages (host.exi.sample, random header Signatures included) into
a Plug & Charge SECC over TLS at every PnC point: after Contract was selected, after
PaymentDetails, after the signed Authorization, in the AC loop with a receipt pending. The
machine never raises, answers at most once, with the request's response type, and every
FAILED answer ends the session with the station safe."""

from __future__ import annotations

import random
from collections.abc import Callable

from host.exi import sample
from host.exi.schemas import iso2 as i
from host.secc.iso2 import TABLE
from tests.host.ev.pnc_setup import ev_pnc

from .fuzzing import check_one_request, random_request
from .test_iso2 import AC, cpd, discovery, power_delivery, setup
from .test_iso2_pnc import CONTRACT, SignedScript, make, selection, signed_auth

REQUESTS = [name for name, _cls in sample.message_roots(i) if name.endswith("Req")]
OK = i.responseCodeType.OK


def _contract(script: SignedScript) -> None:
    for body in (setup(), discovery(), selection(CONTRACT, (1, 2))):
        assert script.send(body).ResponseCode.value.startswith("OK")


def _details(script: SignedScript) -> None:
    res = script.send(ev_pnc().payment_details())
    assert res.ResponseCode is OK
    script.challenge = res.GenChallenge  # type: ignore[attr-defined]


def _authorized(script: SignedScript) -> None:
    assert script.send(*signed_auth(script.challenge)).ResponseCode is OK  # type: ignore[attr-defined]


def _ac_loop(script: SignedScript) -> None:
    for body in (cpd(AC), power_delivery(), i.ChargingStatusReq()):
        assert script.send(body).ResponseCode is OK


PREFIXES: list[list[Callable[[SignedScript], None]]] = [
    [_contract], [_contract, _details], [_contract, _details, _authorized],
    [_contract, _details, _authorized, _ac_loop],
]


def test_random_requests_at_every_pnc_point():
    rng = random.Random(15118_2_2)
    answered = 0
    for n in range(300):
        script, ctrl = make()
        ctrl.receipt = True
        for step in PREFIXES[n % len(PREFIXES)]:
            step(script)
        secc = script.secc
        assert not secc.finished
        message = random_request(i, TABLE, REQUESTS, secc, script.session_id, rng)
        answered += check_one_request(i, secc, ctrl, message, 3.0)
    assert answered > 150
