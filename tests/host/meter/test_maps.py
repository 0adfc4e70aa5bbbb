"""Register maps and their codec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.meter.maps import (
    ABB_B23,
    HOLDING,
    INPUT,
    MAPS,
    SDM630,
    TYPES,
    Field,
    Read,
    all_field_names,
    float_step_wh,
    pull_fields,
    pull_value,
    push_value,
    read_plan,
)

pytestmark = pytest.mark.unit


# (field, SI value, registers on the wire) from the makers' encodings
VECTORS = [
    (SDM630.by_name["voltage_l1"], 230.0, [0x4366, 0x0000]),     # IEEE-754 230.0
    (SDM630.by_name["import_wh"], 1500.0, [0x3FC0, 0x0000]),     # 1.5 kWh
    (ABB_B23.by_name["import_wh"], 123_450.0, [0, 0, 0, 12_345]),  # 0.01 kWh steps
    (ABB_B23.by_name["power_l1"], -1234.56, [0xFFFE, 0x1DC0]),   # int32 -123456 cW
    (ABB_B23.by_name["frequency"], 50.02, [5002]),
    (ABB_B23.by_name["voltage_l2"], 231.4, [0, 2314]),
]


@pytest.mark.parametrize("f,value,regs", VECTORS, ids=lambda x: getattr(x, "name", None))
def test_known_encodings_both_ways(f: Field, value: float, regs: list[int]) -> None:
    assert push_value(f, value) == regs
    assert pull_value(f, regs) == pytest.approx(value, rel=1e-6)


def test_the_published_addresses() -> None:
    """Spot checks against the tables cited in maps.py."""
    assert (SDM630.by_name["import_wh"].table, SDM630.by_name["import_wh"].address) == \
        (INPUT, 0x0048)
    assert SDM630.by_name["export_wh"].address == 0x004A
    assert SDM630.by_name["frequency"].address == 0x0046
    assert SDM630.by_name["power_l3"].address == 0x0010
    assert (ABB_B23.by_name["export_wh"].table, ABB_B23.by_name["export_wh"].address) == \
        (HOLDING, 0x5004)
    assert ABB_B23.by_name["current_l3"].address == 0x5B10
    assert ABB_B23.by_name["power_total"].address == 0x5B14


@pytest.mark.parametrize("m", list(MAPS.values()), ids=lambda m: m.name)
def test_the_read_plan_covers_every_field_in_few_requests(m) -> None:
    plan = read_plan(m.fields)
    assert len(plan) <= 3
    assert all(r.count <= 100 for r in plan)
    blocks = {r: [0] * r.count for r in plan}
    assert set(pull_fields(m.fields, blocks)) == set(all_field_names())


def test_a_field_outside_the_registers_read_is_an_error() -> None:
    with pytest.raises(ValueError, match="not covered"):
        pull_fields(SDM630.fields, {Read(INPUT, 0, 18): [0] * 18})


def test_a_nan_register_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a number"):
        pull_value(SDM630.by_name["import_wh"], [0x7FC0, 0])


def test_float_energy_step_grows_with_the_value() -> None:
    f = SDM630.by_name["import_wh"]
    assert float_step_wh(f, 100e6) == pytest.approx(7.8125)   # 100 MWh in float32 kWh
    assert float_step_wh(f, 1000.0) < 0.001
    assert float_step_wh(ABB_B23.by_name["import_wh"], 100e6) == 10.0


@given(st.sampled_from(sorted(TYPES)), st.lists(st.integers(0, 0xFFFF), min_size=4,
                                                  max_size=4))
def test_registers_round_trip(type_: str, words: list[int]) -> None:
    f = Field("x", HOLDING, 0, type_, 1.0)
    regs = words[:f.count]
    try:
        value = pull_value(f, regs)
    except ValueError:
        return                                # NaN / inf floats are refused, not passed
    again = push_value(f, value)
    if type_ == "f32" and value == 0.0:
        return                                # -0.0 and 0.0 are the same reading
    assert again == regs
