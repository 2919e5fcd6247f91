"""Which sequence numbers the outbox holds, kept as rows come and go, so depth needs no COUNT(*).

``depth`` is read by every /status, /metrics and dashboard poll and by the watchdog. Counting
``seq > cursor`` walks every undelivered row while holding the lock the writer needs: after days of
a sink down, millions of rows per poll. The stored rows are instead described by their number, the
highest sequence number, and the numbers missing below it (holes), which follow from two facts:

- rows only leave from the bottom: the delivered ones (``seq <= `` the slowest cursor) and the
  quota's oldest, so a deletion never opens a hole;
- AUTOINCREMENT gives a new row a number above every one the table ever had: by one as a rule,
  but SQLite allows gaps, so a jump is kept as a hole (as are the gaps of a file opened at start).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


class StoredRows:
    """The outbox's rows: how many, the highest ``seq``, and the ``seq`` ranges missing below it.

    Every seq in ``[lowest stored, last]`` is either stored or in a hole, so the rows above a cursor
    are ``last - cursor`` less the holes above it; below the lowest stored row that overcounts (the
    deleted rows were neither), hence the bound by ``rows``. Holes below the lowest row are harmless.
    """

    def __init__(self, rows: int, last: int, holes: Sequence[tuple[int, int]] = ()) -> None:
        self.rows = rows
        self.last = last  # the highest seq stored (once none are: the last one, or 0 in a file opened empty)
        self.holes = list(holes)  # (first, last) seq ranges, inclusive, never stored

    @classmethod
    def read(cls, db: sqlite3.Connection) -> StoredRows:
        """The rows of an outbox file at start (one pass; a second one only where seqs are missing)."""
        rows, lowest, last = db.execute("SELECT COUNT(*), MIN(seq), MAX(seq) FROM events").fetchone()
        if not rows or last - lowest + 1 == rows:
            return cls(rows, last or 0)
        holes = db.execute(
            "SELECT before + 1, seq - 1 FROM "
            "(SELECT seq, LAG(seq) OVER (ORDER BY seq) AS before FROM events) WHERE seq > before + 1"
        ).fetchall()
        return cls(rows, last, holes)

    def added(self, seqs: Sequence[int]) -> None:
        """Rows committed with these sequence numbers (ascending, above ``last``)."""
        for seq in seqs:
            if seq > self.last + 1:
                self.holes.append((self.last + 1, seq - 1))
            self.last = seq
            self.rows += 1

    def removed(self, count: int, upto: int | None = None) -> None:
        """``count`` rows deleted from the bottom (all of those ``<= upto``, when given)."""
        self.rows -= count
        if upto is not None:  # the holes every sink is past no longer matter
            self.holes = [(first, end) for first, end in self.holes if end > upto]

    def above(self, cursor: int) -> int:
        """The stored rows with ``seq > cursor``: exact, without reading the table."""
        missing = sum(end - max(first, cursor + 1) + 1 for first, end in self.holes if end > cursor)
        return max(0, min(self.rows, self.last - cursor - missing))
