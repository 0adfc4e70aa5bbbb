from __future__ import annotations

from pathlib import Path

from host.fleet.outbox import Outbox


def _put(box: Outbox, owner: str = "c1") -> int:
    return box.put(owner, "t", lambda n: f"record {n}".encode())


def test_numbers_payloads_and_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    assert [_put(box) for _ in range(3)] == [1, 2, 3]
    assert _put(box, "c2") == 1  # numbering is per owner
    assert box.pending("c1") == [(1, "t", b"record 1"), (2, "t", b"record 2"), (3, "t", b"record 3")]
    box.ack("c1", 2)  # acknowledged out of order: the rest stays, oldest first
    assert [n for n, _, _ in box.pending("c1")] == [1, 3]


def test_survives_reopen_and_never_reuses_a_number(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    for _ in range(4):
        _put(box)
    for n in (1, 2, 3, 4):
        box.ack("c1", n)
    box.close()
    box = Outbox(tmp_path / "o.sqlite")
    assert box.pending("c1") == [] and box.last_number("c1") == 4
    assert _put(box) == 5  # a receiver that saw 1-4 must not see a second "1"


def test_unsent_records_are_still_there_after_a_crash(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    for _ in range(3):
        _put(box)
    box.ack("c1", 1)
    del box  # no close: as a killed process leaves it
    again = Outbox(tmp_path / "o.sqlite")
    assert [n for n, _, _ in again.pending("c1")] == [2, 3]


def test_bounded_queue_drops_the_oldest_and_counts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", limit=3)
    for _ in range(5):
        _put(box)
    assert [n for n, _, _ in box.pending("c1")] == [3, 4, 5]
    assert box.dropped("c1") == 2 and box.pending_count("c1") == 3


def test_ranges_deleted_now_or_at_flush(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    for _ in range(6):
        _put(box)
    box.ack("c1", 2, 4)
    assert [n for n, _, _ in box.pending("c1")] == [1, 5, 6]
    box.ack("c1", 5, 6, defer=True)
    assert [n for n, _, _ in box.pending("c1")] == [1, 5, 6]  # not yet
    box.flush()
    assert [n for n, _, _ in box.pending("c1")] == [1]
    assert [n for n, _, _ in box.pending("c1", after=1)] == []
