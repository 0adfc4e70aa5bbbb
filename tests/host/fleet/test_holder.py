"""The charger's side of the fog's setpoints: `SetpointHolder`."""

from __future__ import annotations

from host.fleet.charger import SetpointHolder
from host.fleet.topics import Setpoint


def test_a_refresh_from_a_fog_whose_clock_is_ahead_leaves_no_unlimited_moment() -> None:
    # the fog stamps `issued` with its clock; the charger's may be a second behind. The
    # refreshed limit replaced the held one but was not "in force" until the charger's
    # clock reached `issued`: for that second the charger had no limit at all
    holder = SetpointHolder()
    assert holder.offer(Setpoint("c1", "limit", "limit", 5000.0, 100.0, 130.0))
    assert holder.limit(105.0) == 5000.0
    assert holder.offer(Setpoint("c1", "limit", "limit", 4000.0, 116.0, 146.0))  # received at 115
    assert holder.limit(115.0) == 4000.0
    assert holder.limit(146.0) is None  # and it still ends at its expiry


def test_an_older_setpoint_never_replaces_a_newer_one() -> None:
    holder = SetpointHolder()
    holder.offer(Setpoint("c1", "e2", "target", -3000.0, 120.0, 150.0))
    assert not holder.offer(Setpoint("c1", "e1", "target", -7000.0, 110.0, 140.0))  # a resend
    assert holder.target(125.0) == -3000.0 and holder.stale == 1
