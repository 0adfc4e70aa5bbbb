"""The station's power window: fog setpoints with expiry, metered export, operator maxima."""

from __future__ import annotations

import pytest

from host.fleet.arbitration import arbitrate
from host.fleet.charger import SetpointHolder
from host.fleet.topics import Setpoint

pytestmark = pytest.mark.unit


def holder(*sps: tuple[str, float, float, float]) -> SetpointHolder:
    h = SetpointHolder()
    for kind, w, issued, expires in sps:
        h.offer(Setpoint("c1", "ev1" if kind == "target" else "limit", kind, w, issued, expires))
    return h


def window(h: SetpointHolder, now: float = 10.0, export: bool = True,
           charge: float = 11_000.0, discharge: float = 10_000.0):
    return arbitrate(now, h, export_allowed=export, max_charge_w=charge,
                     max_discharge_w=discharge)


def test_without_setpoints_the_operator_maxima_bound_the_request() -> None:
    a = window(holder())
    assert (a.min_w, a.max_w, a.target_w) == (-10_000.0, 11_000.0, None)
    assert a.apply(20_000.0) == 11_000.0 and a.apply(-20_000.0) == -10_000.0
    assert a.apply(3_000.0) == 3_000.0


def test_no_export_while_the_meter_does_not_allow_it_even_for_a_dr_target() -> None:
    a = window(holder(("target", -6_000.0, 0.0, 100.0)), export=False)
    assert a.min_w == 0.0 and a.target_w == 0.0 and a.apply(-5_000.0) == 0.0
    assert "min: export not metered" in a.bounds and "target: DR, clamped" in a.bounds


def test_a_dr_target_is_followed_until_it_expires() -> None:
    h = holder(("target", -6_000.0, 0.0, 100.0))
    assert window(h, now=50.0).apply(7_000.0) == -6_000.0
    after = window(h, now=100.0)  # expires is exclusive
    assert after.target_w is None and after.apply(7_000.0) == 7_000.0


def test_a_target_beyond_the_operator_maximum_is_clamped() -> None:
    a = window(holder(("target", -25_000.0, 0.0, 100.0)))
    assert a.target_w == -10_000.0


def test_the_fog_limit_caps_import_until_it_expires() -> None:
    h = holder(("limit", 4_000.0, 0.0, 30.0))
    a = window(h, now=10.0)
    assert a.max_w == 4_000.0 and a.apply(9_000.0) == 4_000.0 and "max: fog limit" in a.bounds
    assert window(h, now=30.0).apply(9_000.0) == 9_000.0


def test_a_limit_and_a_target_together_the_limit_caps_the_target() -> None:
    a = window(holder(("limit", 2_000.0, 0.0, 100.0), ("target", 5_000.0, 1.0, 100.0)))
    assert a.target_w == 2_000.0


def test_a_negative_limit_cannot_force_unmetered_export() -> None:
    h = holder(("limit", -3_000.0, 0.0, 100.0))
    assert window(h, export=True).apply(5_000.0) == -3_000.0
    a = window(h, export=False)
    assert a.max_w == 0.0 and a.apply(5_000.0) == 0.0
    assert "max: fog limit, held at min" in a.bounds


def test_an_older_setpoint_does_not_replace_a_newer_one() -> None:
    h = holder(("target", -6_000.0, 5.0, 100.0), ("target", -1_000.0, 1.0, 100.0))
    assert window(h).target_w == -6_000.0


def test_negative_operator_maxima_are_refused() -> None:
    with pytest.raises(ValueError, match="magnitudes"):
        window(holder(), charge=-1.0)
