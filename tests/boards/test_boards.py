"""Board definitions: each loads; a bad one names the field that is wrong."""

from __future__ import annotations

import pytest

import boards


@pytest.mark.parametrize("name", boards.NAMES)
def test_every_board_validates(name: str) -> None:
    assert boards.load(name)["name"] == name


def _sim() -> dict:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in boards.load("rp2040").items()}


def test_missing_field_is_named() -> None:
    b = _sim()
    del b["uart"]
    with pytest.raises(boards.BoardError, match="missing field 'uart'"):
        boards.validate(b)


def test_pin_used_twice_is_named() -> None:
    b = _sim()
    b["pins"]["estop"] = b["pins"]["cp_pwm"]
    with pytest.raises(boards.BoardError, match=r"pin 2 used twice \('pins.cp_pwm' and 'pins.estop'\)"):
        boards.validate(b)


def test_out_of_range_value_is_named() -> None:
    b = _sim()
    b["link_timeout_ms"] = 5000
    with pytest.raises(boards.BoardError, match="'link_timeout_ms' is 5000"):
        boards.validate(b)


def test_unknown_board() -> None:
    with pytest.raises(boards.BoardError, match="unknown board 'nope'"):
        boards.load("nope")
