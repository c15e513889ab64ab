"""A worker for the resume test: ``python resume_worker.py DB_URL DATA_DIR THROUGH CHUNK_ROWS``.

Runs the book-wide close of business through THROUGH with the local runner, printing one line per
progress report, flushed: ``STAGE <stage> <day> <done> <total>``. The test SIGKILLs it part way.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path


def main() -> None:
    url, data_dir, through, chunk_rows = sys.argv[1], Path(sys.argv[2]), date.fromisoformat(sys.argv[3]), int(sys.argv[4])
    from smelend.cob.pipeline import run_close_of_business
    from smelend.cob.runners import LocalRunner
    from smelend.operations.context import open_book
    from smelend.store import open_store

    book = open_book(open_store(url))

    def progress(stage: str, day: date, done: int, total: int) -> None:
        print(f"STAGE {stage} {day.isoformat()} {done} {total}", flush=True)

    run_close_of_business(book, through, LocalRunner(1), data_dir, progress, write_chunk_rows=chunk_rows)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
