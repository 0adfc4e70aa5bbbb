"""Random schema-valid -2 messages (drawn by the codec itself, host.exi.sample) into -2
SECCs at every point of the AC and DC sequences: the machine never raises, answers at most
once per input, with the response type of the request, and every FAILED answer ends the
session with the station safe."""

from __future__ import annotations

import random
from collections.abc import Callable

from host.exi import sample
from host.exi.schemas import iso2 as i
from host.secc.iso2 import TABLE

from .fuzzing import check_one_request, random_request
from .test_iso2 import (
    AC,
    DC,
    Script,
    auth,
    cpd,
    discovery,
    make,
    power_delivery,
    pre_charge,
    selection,
    setup,
    through_cable_check,
)

REQUESTS = [name for name, _cls in sample.message_roots(i) if name.endswith("Req")]


def _charging_dc(script: Script) -> None:
    through_cable_check(script)
    script.send(pre_charge(400.0), 2.0)
    assert script.send(power_delivery(), 2.0).ResponseCode is i.responseCodeType.OK


def _send(*builders: Callable[[], object]) -> Callable[[Script], None]:
    def play(script: Script) -> None:
        for build in builders:
            assert script.send(build()).ResponseCode.value.startswith("OK")
    return play


_AUTHORIZED = _send(setup, discovery, selection, auth)
PREFIXES: list[list[Callable[[Script], object]]] = [
    [],
    [_send(setup)],
    [_send(setup, discovery)],
    [_send(setup, discovery, selection)],
    [_AUTHORIZED],
    [_AUTHORIZED, _send(lambda: cpd(AC))],
    [_AUTHORIZED, _send(lambda: cpd(AC), power_delivery)],
    [_AUTHORIZED, _send(lambda: cpd(DC))],
    [_AUTHORIZED, _send(lambda: cpd(DC)), _charging_dc],
]


def test_random_requests_at_every_point_of_the_sequence():
    rng = random.Random(15118_2)
    answered = 0
    for n in range(900):
        script, ctrl = make()
        for step in PREFIXES[n % len(PREFIXES)]:
            step(script)
        secc = script.secc
        assert not secc.finished
        message = random_request(i, TABLE, REQUESTS, secc, script.session_id, rng)
        answered += check_one_request(i, secc, ctrl, message, 3.0)
    assert answered > 450  # most inputs decode to a request that gets an answer


def test_random_bytes_end_the_session_without_an_answer():
    rng = random.Random(15118)
    for n in range(300):
        script, ctrl = make()
        for step in PREFIXES[n % len(PREFIXES)]:
            step(script)
        secc = script.secc
        secc.receive(0x8001, bytes([0x80]) + rng.randbytes(rng.randrange(0, 64)), 3.0)
        out = secc.data_to_send()
        assert len(out) <= 1
        if not out:
            assert secc.finished and ctrl.ended is not None
            assert not ctrl.plant.energised and not ctrl.plant.contactors_closed
