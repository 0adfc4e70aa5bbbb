"""host.secc.serve as `v2gate secc` and `v2gate simulate` use it: the -20 machines its
factories make date their messages by the wall clock (seconds since 1970), not by the
server's monotonic clock."""

from __future__ import annotations

import time

import pytest

from host.exi.schemas import iso20_common_messages as m
from host.secc.serve import factories
from host.v2g import sap
from host.v2g.protocol import SessionContext


@pytest.mark.parametrize("protocol", [sap.ISO20_DC, sap.ISO20_AC])
def test_iso20_timestamps_are_wall_clock_seconds(protocol: sap.AppProtocol) -> None:
    now = time.monotonic()
    context = SessionContext(protocol, 1, False, "fe80::2", now, now)
    machine = factories([protocol])[protocol.namespace](context)
    header = machine.header(now)
    assert isinstance(header.TimeStamp, int)
    # the same instant on both clocks (a minute's slack for a slow machine, not a timing test)
    assert abs(header.TimeStamp - time.time()) < 60, (header.TimeStamp, time.time(), now)
    # a schedule offered now is anchored on the wall clock too
    assert abs(machine.timestamp(now) - time.time()) < 60


def test_the_wall_offset_is_read_for_each_connection() -> None:
    offsets = iter([1_000.0, 2_000.0])
    made = factories([sap.ISO20_DC], wall_offset=lambda: next(offsets))
    context = SessionContext(sap.ISO20_DC, 1, False, "fe80::2", 0.0, 0.0)
    first, second = (made[sap.ISO20_DC.namespace](context) for _ in range(2))
    assert first.timestamp(5.0) == 1_005 and second.timestamp(5.0) == 2_005
    assert isinstance(first.respond(m.SessionSetupReq(Header=first.header(5.0), EVCCID="X"),
                                    m.responseCodeType.OK, 5.0), m.SessionSetupRes)
