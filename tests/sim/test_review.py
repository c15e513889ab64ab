"""Line reviews go through the real reassessment engine: a missed payment is acted on, a clean line is not cut."""

from __future__ import annotations

from datetime import date

from smelend.sim.review import LineRow, review, review_frame


def _row(line_id: int, *, missed: bool, streak: int, used_fen: int = 3_000_000) -> LineRow:
    return LineRow(line_id, "tax-data-loan", False, 10_000_000, used_fen, date(2026, 1, 1), 12, 6, streak, missed, 200_000_000, "A")


def test_a_missed_payment_is_acted_on_and_a_clean_line_is_not_cut() -> None:
    changes = review([_row(1, missed=False, streak=6), _row(2, missed=True, streak=0)], date(2026, 7, 31))
    by_line = {r["line_id"]: r for r in changes.iter_rows(named=True)}
    assert 2 in by_line and by_line[2]["action"] in ("decrease", "freeze")
    assert by_line[2]["limit_after_fen"] <= by_line[2]["limit_before_fen"]
    assert 1 not in by_line or by_line[1]["limit_after_fen"] >= by_line[1]["limit_before_fen"]


def test_the_frame_has_every_column_reassessment_reads() -> None:
    from smelend.lines.reassess import INPUT_COLUMNS

    frame = review_frame([_row(1, missed=False, streak=1)])
    assert set(INPUT_COLUMNS) <= set(frame.columns)
    assert review([], date(2026, 7, 31)).height == 0
