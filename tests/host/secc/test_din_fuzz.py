"""Random schema-valid DIN messages (drawn by the codec itself, host.exi.sample) and random
bytes into DIN SECCs at every point of the sequence: the machine never raises, answers
at most once per input, and every FAILED answer ends the session with the station safe."""

from __future__ import annotations

import random

from host.exi import sample
from host.exi.schemas import din as d
from host.secc.din import TABLE

from .fuzzing import check_one_request, random_request
from .helpers import Script, make_secc
from .test_din import _cable_checked, _pre_charge, _to

REQUESTS = [name for name, _cls in sample.message_roots(d) if name.endswith("Req")]
PREFIXES = ["none", "setup", "discovery", "payment", "auth", "cpd", "cable", "precharge",
            "charging"]


def _play(script: Script, prefix: str) -> float:
    if prefix == "none":
        return 0.0
    if prefix in ("cable", "precharge", "charging"):
        now = _cable_checked(script)
        if prefix == "cable":
            return now
        script.send(_pre_charge(350.0), now)
        if prefix == "precharge":
            return now
        now += 5.0
        script.send(_pre_charge(350.0), now)
        assert script.send(d.PowerDeliveryReq(ReadyToChargeState=True), now).ResponseCode \
            is d.responseCodeType.OK
        return now
    _to(script, prefix)
    return 0.0


def test_random_requests_at_every_point_of_the_sequence():
    rng = random.Random(15118)
    answered = 0
    for i in range(1000):
        secc, ctrl = make_secc()
        script = Script(secc)
        now = _play(script, PREFIXES[i % len(PREFIXES)]) + 1.0
        # half the time a request the state expects, so the handlers see random content
        message = random_request(d, TABLE, REQUESTS, secc, script.session_id, rng)
        answered += check_one_request(d, secc, ctrl, message, now)
    assert answered > 500  # most inputs decode to a request that gets an answer


def test_random_bytes_end_the_session_without_an_answer():
    rng = random.Random(70121)
    for i in range(300):
        secc, ctrl = make_secc()
        script = Script(secc)
        now = _play(script, PREFIXES[i % len(PREFIXES)]) + 1.0
        payload = bytes([0x80]) + rng.randbytes(rng.randrange(0, 64))
        secc.receive(0x8001, payload, now)
        out = secc.data_to_send()
        if not out:
            assert secc.finished and ctrl.ended is not None
