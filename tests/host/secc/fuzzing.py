"""One fuzz step both the DIN and the -2 SECC fuzz tests take: a random schema-valid request
(half the time one the state expects) into a SECC, and the checks on what it does."""

from __future__ import annotations

import random
from typing import Any

from host.exi import codec, sample
from host.secc.core import SessionEnded


def random_request(schema: Any, table: Any, requests: list[str], secc: Any,
                   session_id: bytes, rng: random.Random) -> Any:  # fmt: skip
    expected = [cls.__name__ for state, cls in table if state is secc.state]
    names = expected if expected and rng.random() < 0.5 else requests
    message = sample.random_message(schema, rng.choice(names), rng)
    if rng.random() < 0.7:
        message.Header.SessionID = session_id
    return message


def check_one_request(schema: Any, secc: Any, ctrl: Any, message: Any, now: float) -> bool:
    """Feeds ``message``: at most one answer, of the request's type; a FAILED one ends the
    session with the station safe; no answer only when the session ended. True if answered."""
    secc.receive(0x8001, codec.encode(message, schema.NAMESPACE), now)
    out = secc.data_to_send()
    assert len(out) <= 1
    events = list(iter(secc.next_event, None))
    if out:
        response = codec.decode(schema.NAMESPACE, out[0][1]).Body.BodyElement
        request_name = type(message.Body.BodyElement).__name__
        assert type(response).__name__ == request_name.replace("Req", "Res")
        if response.ResponseCode.value.startswith("FAILED"):
            assert secc.finished and ctrl.ended is not None
            assert not ctrl.plant.energised and not ctrl.plant.contactors_closed
    else:
        assert secc.finished
    if secc.finished:
        assert [e for e in events if isinstance(e, SessionEnded)]
    return bool(out)
