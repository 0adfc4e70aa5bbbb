"""Random schema-valid -20 requests (drawn by the codec itself, host.exi.sample) and random
bytes into the -20 DC and AC SECCs at every point of their sequences: the machine never
raises, answers at most once per input, with the response type of the request and the
payload type of its schema, and every FAILED answer ends the session with the station safe."""

from __future__ import annotations

import random
import sys
from typing import Any

import pytest

from host.exi import codec, sample
from host.exi.schemas import iso20_ac as ac
from host.exi.schemas import iso20_common_messages as m
from host.exi.schemas import iso20_dc as dc
from host.secc.core import SessionEnded
from host.secc.iso20_ac import Iso20AcSecc
from host.secc.iso20_dc import Iso20DcSecc
from tests.host.secc.iso20_helpers import SID, TYPES, Script, make_secc
from tests.host.secc.test_iso20 import PATH, walk

REQUESTS = {schema: [name for name, _cls in sample.message_roots(schema) if name.endswith("Req")]
            for schema in (m, dc, ac)}  # fmt: skip


def one_input(secc: Any, rng: random.Random, now: float) -> None:
    controller = secc.controller
    if rng.random() < 0.1:
        payload_type = rng.choice(sorted(secc.payload_types))
        secc.receive(payload_type, bytes(rng.getrandbits(8) for _ in range(rng.randrange(40))),
                     now)  # fmt: skip
        request = None
    else:
        # half the time a request the state expects (random inside), else any request
        expected = [cls for state, cls in secc.TABLE if state is secc.state]
        if expected and rng.random() < 0.5:
            cls = rng.choice(expected)
            schema, name = sys.modules[cls.__module__], cls.__name__
        else:
            schema = rng.choice((m, m, dc, ac))
            name = rng.choice(REQUESTS[schema])
        request = sample.random_message(schema, name, rng)
        if rng.random() < 0.7:
            request.Header.SessionID = SID
        secc.receive(TYPES[schema.NAMESPACE], codec.encode(request, schema.NAMESPACE), now)
    out = secc.data_to_send()
    events = list(iter(secc.next_event, None))
    assert len(out) <= 1
    if out:
        payload_type, payload = out[0]
        namespace = {v: k for k, v in TYPES.items()}[payload_type]
        response = codec.decode(namespace, payload)
        assert request is not None
        assert type(response).__name__ == type(request).__name__[:-3] + "Res"
        assert type(response).__module__ == type(request).__module__
        if response.ResponseCode.value.startswith(("FAILED", "WARNING")):
            assert secc.finished or response.ResponseCode.value.startswith("WARNING")
        if secc.finished:
            assert not controller.plant.energised and not controller.plant.contactors_closed
    else:
        assert secc.finished
    if secc.finished:
        assert secc.get_timer() is None
        assert [e for e in events if isinstance(e, SessionEnded)] or secc.end.at < now


@pytest.mark.parametrize("cls", [Iso20DcSecc, Iso20AcSecc])
def test_random_requests_at_every_point_of_the_sequence(cls):
    answered = 0
    inputs = 0
    for seed in range(250):
        rng = random.Random(seed)
        secc, _controller = make_secc(cls=cls)
        script = Script(secc)
        # the scripted path is DC_BPT's; the AC machine walks its common part only
        last = len(PATH) if cls is Iso20DcSecc else PATH.index("detail") + 1
        now = walk(script, PATH[rng.randrange(last)])
        for step in range(rng.randrange(1, 6)):
            if secc.finished:
                break
            one_input(secc, rng, now + step * 0.1)
            inputs += 1
            answered += bool(secc.end is None)
    assert inputs > 250 and answered > 30
