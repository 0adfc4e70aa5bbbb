from __future__ import annotations

import pytest

from host.fleet.dispatch import FogState
from host.fleet.topics import DrEvent, Setpoint, Telemetry


def _t(charger: str, seq: int = 1, *, feeder: str = "f1", charge: float = 11000.0,
       discharge: float = 7400.0, power: float = 0.0) -> Telemetry:  # fmt: skip
    return Telemetry(charger, feeder, seq, 100.0, power, charge, discharge)


def _fog(**kw: object) -> FogState:
    fog = FogState("fog1", **kw)  # type: ignore[arg-type]
    for i, (c, d) in enumerate([(11000, 7400), (22000, 11000), (7400, 3700)]):
        fog.telemetry(_t(f"c{i}", charge=c, discharge=d), 100.0)
    return fog


def test_dr_export_target_split_by_discharge_capacity_sums_exactly() -> None:
    fog = _fog()
    fog.dr_event(DrEvent("e1", "f1", -11050.0, 100.0, 600.0), 100.0)
    sps = fog.dispatch(101.0)
    by = {sp.charger: sp for sp in sps}
    assert set(by) == {"c0", "c1", "c2"}
    assert sum(sp.setpoint_w for sp in sps) == pytest.approx(-11050.0)
    # in proportion to 7400 : 11000 : 3700, all "target", for the ttl (refreshed later)
    assert by["c1"].setpoint_w / by["c2"].setpoint_w == pytest.approx(11000 / 3700)
    assert all(sp.kind == "target" and sp.expires == 131.0 and sp.event == "e1" for sp in sps)
    fog.dr_event(DrEvent("e2", "f1", -1000.0, 100.0, 10.0), 102.0)
    assert {sp.expires for sp in fog.dispatch(102.0)} == {110.0}  # a short event: its end


def test_shortfall_saturates_every_charger_and_says_so_once() -> None:
    fog = _fog()
    fog.dr_event(DrEvent("e1", "f1", -50000.0, 100.0, 600.0), 100.0)
    sps = fog.dispatch(101.0)
    assert sorted(sp.setpoint_w for sp in sps) == [-11000.0, -7400.0, -3700.0]
    lines = []
    while (line := fog.next_log()) is not None:
        lines.append(line)
    assert sum("can give 22100 W of 50000 W" in line for line in lines) == 1
    fog.dispatch(140.0)
    assert fog.next_log() is None


def test_import_target_is_capped_at_the_feeder_limit() -> None:
    fog = _fog(feeder_limits={"f1": 20000.0})
    fog.dr_event(DrEvent("e1", "f1", 30000.0, 100.0, 600.0), 100.0)
    assert sum(sp.setpoint_w for sp in fog.dispatch(101.0)) == pytest.approx(20000.0)


def test_feeder_limit_without_event_binds_then_lifts() -> None:
    fog = _fog(feeder_limits={"f1": 20200.0})  # chargers could take 40400 W
    sps = fog.dispatch(101.0)
    assert all(sp.kind == "limit" for sp in sps)
    assert sum(sp.setpoint_w for sp in sps) == pytest.approx(20200.0)
    # c1 unplugs (capacity 0): 18400 W fit under the limit, every limit is lifted at once
    fog.telemetry(_t("c1", 2, charge=0.0, discharge=0.0), 102.0)
    lifted = fog.dispatch(102.0)
    assert {sp.charger for sp in lifted} == {"c0", "c1", "c2"}
    assert all(sp.expires == sp.issued == 102.0 for sp in lifted)


def test_steady_event_is_not_resent_until_half_way_to_expiry() -> None:
    fog = _fog(ttl=30.0)
    fog.dr_event(DrEvent("e1", "f1", -9000.0, 100.0, 600.0), 100.0)
    assert len(fog.dispatch(101.0)) == 3
    for now in (102.0, 110.0, 115.0):
        fog.telemetry(_t("c0", int(now)), now)
        fog.telemetry(_t("c1", int(now), charge=22000, discharge=11000), now)
        fog.telemetry(_t("c2", int(now), charge=7400, discharge=3700), now)
        assert fog.dispatch(now) == []
    assert len(fog.dispatch(116.0)) == 3  # issued 101, expires 131: refreshed from 116


def test_stale_chargers_get_nothing_and_the_rest_take_their_share() -> None:
    fog = _fog(stale_after=5.0)
    fog.telemetry(_t("c0", 2), 110.0)  # only c0 heard from since 100
    fog.dr_event(DrEvent("e1", "f1", -5000.0, 100.0, 600.0), 110.0)
    sps = fog.dispatch(110.0)
    assert [(sp.charger, sp.setpoint_w) for sp in sps] == [("c0", -5000.0)]


def test_telemetry_duplicates_holes_and_late_fills() -> None:
    fog = FogState("fog1")
    for seq in (1, 2, 2, 1, 5, 6):
        fog.telemetry(_t("c0", seq, power=float(seq)), 100.0)
    assert fog.counts.duplicates == 2 and fog.holes() == 2  # 3 and 4 are missing
    assert fog.chargers["c0"].last.seq == 6
    # a resend fills a hole: not a duplicate, and the newest record stays the state
    fog.telemetry(_t("c0", 3, power=3.0), 100.0)
    assert fog.counts.duplicates == 2 and fog.holes() == 1
    assert fog.chargers["c0"].last.seq == 6 and fog.chargers["c0"].last.power_w == 6.0


def test_every_record_is_acknowledged_duplicates_too() -> None:
    fog = FogState("fog1")
    for seq in (1, 2, 3, 5, 2):
        fog.telemetry(_t("c0", seq), 100.0)
    fog.telemetry(_t("c1", 7, feeder="f2"), 100.0)
    assert sorted(fog.acks()) == [("f1", "c0", ((1, 3), (5, 5))), ("f2", "c1", ((7, 7),))]
    assert fog.acks() == []  # each once


def test_upstream_loss_keeps_the_event_and_limits_and_says_so() -> None:
    fog = _fog(feeder_limits={"f1": 30000.0})
    fog.upstream(True, 100.0)
    fog.dr_event(DrEvent("e1", "f1", -9000.0, 100.0, 600.0), 100.0)
    while fog.next_log():
        pass
    fog.upstream(False, 200.0)
    line = fog.next_log()
    assert line is not None and "lost" in line and "e1" in line and "700.0" in line
    assert "f1 30000 W" in line
    for c, d in (("c0", 7400), ("c1", 11000), ("c2", 3700)):
        fog.telemetry(_t(c, 2, discharge=d), 200.0)
    assert sum(sp.setpoint_w for sp in fog.dispatch(200.0)) == pytest.approx(-9000.0)
    for c, d in (("c0", 7400), ("c1", 11000), ("c2", 3700)):
        fog.telemetry(_t(c, 3, discharge=d), 700.0)
    # the event is over: no more targets, and the 30 kW limit binds the 40.4 kW chargers
    after = fog.dispatch(700.0)
    assert all(sp.kind == "limit" for sp in after)


def test_repeated_event_is_counted_once() -> None:
    fog = _fog()
    ev = DrEvent("e1", "f1", -9000.0, 100.0, 600.0)
    fog.dr_event(ev, 100.0)
    fog.dr_event(ev, 100.5)
    assert fog.counts.dr_events == 1


def test_deadband_never_lets_the_held_limits_add_up_beyond_the_feeder_limit() -> None:
    fog = FogState("fog1", feeder_limits={"f1": 100000.0})
    for i in range(10):
        fog.telemetry(_t(f"c{i}", charge=11000.0), 100.0)
    held = {sp.charger: sp for sp in fog.dispatch(100.0)}  # 10 x 10000 W
    # a small charger joins: each share drops by 45 W, inside the 50 W deadband
    fog.telemetry(_t("c10", charge=500.0), 101.0)
    held |= {sp.charger: sp for sp in fog.dispatch(101.0)}
    in_force = sum(sp.setpoint_w for sp in held.values() if sp.kind == "limit" and sp.expires > 101.0)
    assert in_force <= 100000.0 + 1e-6


def _in_force(held: dict[str, dict[str, Setpoint]], now: float) -> dict[str, set[str]]:
    return {c: {k for k, sp in kinds.items() if sp.issued <= now < sp.expires}
            for c, kinds in held.items()}  # fmt: skip


def _hold(held: dict[str, dict[str, Setpoint]], sps: list[Setpoint]) -> None:
    for sp in sps:  # as each charger's SetpointHolder keeps them: one per kind
        held.setdefault(sp.charger, {})[sp.kind] = sp


@pytest.mark.parametrize("limit", [None, 20000.0])
def test_a_cut_short_event_lifts_its_targets_at_once(limit: float | None) -> None:
    fog = _fog(feeder_limits={"f1": limit} if limit else {})
    fog.dr_event(DrEvent("e1", "f1", -9000.0, 100.0, 600.0), 100.0)
    held: dict[str, dict[str, Setpoint]] = {}
    _hold(held, fog.dispatch(101.0))  # discharge targets until 131 (ttl)
    # the DERMS ends the event early (same id, a duration that ended it)
    fog.dr_event(DrEvent("e1", "f1", -9000.0, 100.0, 5.0), 110.0)
    for c, d in (("c0", 7400), ("c1", 11000), ("c2", 3700)):
        fog.telemetry(_t(c, 2, charge=40000.0, discharge=d), 110.0)
    _hold(held, fog.dispatch(110.0))
    # no charger keeps discharging for an event that is over
    assert all("target" not in kinds for kinds in _in_force(held, 110.0).values())


def test_a_charger_whose_numbering_restarted_is_heard_again() -> None:
    # its outbox file was lost (a reinstall): seq starts again at 1, with newer records.
    # Taken for duplicates, it stayed stale for good: no share, and no feeder limit
    fog = FogState("fog1", feeder_limits={"f1": 5000.0})
    for seq in (1, 2, 3):
        fog.telemetry(Telemetry("c0", "f1", seq, 100.0 + seq, 0.0, 11000.0, 0.0), 100.0 + seq)
    fog.telemetry(Telemetry("c0", "f1", 1, 200.0, 0.0, 11000.0, 0.0), 200.0)
    assert fog.counts.duplicates == 0 and fog.chargers["c0"].last.seq == 1
    assert [sp.charger for sp in fog.dispatch(200.0)] == ["c0"]  # limited again
    fog.telemetry(Telemetry("c0", "f1", 1, 200.0, 0.0, 11000.0, 0.0), 201.0)  # a resend
    assert fog.counts.duplicates == 1


def test_acknowledgements_of_many_scattered_numbers_stay_within_what_a_charger_reads() -> None:
    # two fogs of a group get alternate numbers of a charger catching up on its backlog:
    # one acknowledgement of more ranges than decode_ack takes was refused whole, so the
    # charger resent the same records, got the same refused acknowledgement, forever
    from host.fleet.topics import Ack, decode_ack

    fog = FogState("fog1")
    numbers = list(range(1, 2 * 25_000, 2))
    for seq in numbers:
        fog.telemetry(_t("c0", seq), 100.0)
    acked = []
    for feeder, charger, ranges in fog.acks():
        assert (feeder, charger) == ("f1", "c0")
        for first, last in decode_ack(Ack(charger, ranges).encode()).ranges:
            acked += range(first, last + 1)
    assert sorted(acked) == numbers


def test_holes_that_cannot_fill_are_not_kept_forever() -> None:
    # a fog of a group of two gets every other number of a charger, for ever: the numbers
    # above its watermark were all kept, so its memory grew with every record
    from host.fleet.dispatch import HOLE_WINDOW

    fog = FogState("fog1")
    for seq in range(1, 6 * HOLE_WINDOW, 2):
        fog.telemetry(_t("c0", seq), 100.0)
    seen = fog.chargers["c0"]
    assert len(seen.above) <= HOLE_WINDOW and seen.below > 4 * HOLE_WINDOW
    assert seen.had(6 * HOLE_WINDOW - 1) and not seen.had(6 * HOLE_WINDOW + 1)
    fog.acks()
    fog.telemetry(_t("c0", 1), 100.0)  # a forgotten number again: acknowledged all the same
    assert fog.acks() == [("f1", "c0", ((1, 1),))]


def test_a_restarted_fog_does_not_count_what_was_acknowledged_before_as_holes() -> None:
    # a new fog (restarted, or joining the group) first hears a charger at its oldest
    # unacknowledged number: those below were acknowledged and deleted, never to come
    fog = FogState("fog1")
    for seq in range(50_001, 50_011):
        fog.telemetry(_t("c0", seq), 100.0)
    assert fog.holes() == 0 and not fog.chargers["c0"].above
