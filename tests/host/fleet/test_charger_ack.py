from __future__ import annotations

from pathlib import Path

from host.fleet.charger import ChargerLink
from host.fleet.outbox import Outbox
from host.fleet.topics import MAX_ACK_RANGES, Ack


def test_an_acknowledgement_of_many_ranges_is_one_transaction(tmp_path: Path) -> None:
    # one commit (an fsync on a durable outbox) per range, each range a scan of the whole
    # backlog (no index on number), each sent number tested against every range: an
    # acknowledgement of MAX_ACK_RANGES scattered numbers held the charger's loop for a
    # minute. The work is counted in SQLite VM instructions (per 1000), not timed.
    box = Outbox(tmp_path / "o.sqlite")
    count = 4000
    box.put_many([("c1", "t", lambda n: b"r") for _ in range(count)])
    link = ChargerLink("c1", "f1", box, None)  # type: ignore[arg-type]  # no broker needed
    link._sent_at = {n: 0.0 for n in range(1, count + 1)}
    statements: list[str] = []
    steps = []
    box.db.set_trace_callback(statements.append)
    box.db.set_progress_handler(lambda: steps.append(1), 1000)
    link._on_ack(Ack("c1", tuple((n, n) for n in range(1, count, 2))))
    box.db.set_trace_callback(None)
    box.db.set_progress_handler(None, 0)
    assert statements.count("COMMIT") == 1
    assert len(steps) < count // 2  # under 1000 instructions a range: no scan per range
    assert [n for n, _, _ in box.pending("c1", count)] == list(range(2, count + 1, 2))
    assert sorted(link._sent_at) == list(range(2, count + 1, 2))
    assert link.counts.acked == count // 2
    assert count // 2 <= MAX_ACK_RANGES  # what a fog may send in one


def test_overlapping_ranges_acknowledge_what_any_of_them_covers(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.put_many([("c1", "t", lambda n: b"r") for _ in range(12)])
    link = ChargerLink("c1", "f1", box, None)  # type: ignore[arg-type]
    link._sent_at = {n: 0.0 for n in range(1, 13)}
    link._on_ack(Ack("c1", ((1, 8), (2, 3), (10, 10))))
    assert sorted(link._sent_at) == [9, 11, 12]
    assert [n for n, _, _ in box.pending("c1")] == [9, 11, 12]
