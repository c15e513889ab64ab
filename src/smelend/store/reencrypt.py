"""Re-encryption after a key rotation: rewrite every PII value with the active key, in one transaction.

After it commits, no stored value names an old key, so old keys can be retired from the keyring.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine

from smelend.store import pii
from smelend.store.tables import encrypted_columns, metadata

BATCH_ROWS = 500  # rows read and rewritten per round trip; bounds memory on large tables


def reencrypt(engine: Engine) -> int:
    """Rewrite every encrypted column of every row with the active key; returns the number of rows rewritten.

    Reading decrypts with whichever key each value names, so a missing old key fails here, before
    anything is committed.
    """
    pii.active_keyring()  # fail clearly before opening a transaction
    rows = 0
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            columns = encrypted_columns(table)
            if not columns:
                continue
            key = table.c.id
            statement = (
                update(table)
                .where(key == bindparam("_id"))
                .values({column.name: bindparam(f"_{column.name}", type_=column.type) for column in columns})
            )
            last = None
            while True:
                query = select(key, *columns).order_by(key).limit(BATCH_ROWS)
                if last is not None:
                    query = query.where(key > last)
                batch = conn.execute(query).all()
                if not batch:
                    break
                conn.execute(
                    statement,
                    [{"_id": row[0], **{f"_{c.name}": value for c, value in zip(columns, row[1:])}} for row in batch],
                )
                rows += len(batch)
                last = batch[-1][0]
    return rows
