"""Alembic environment for smelend: runs on a connection passed in by ``smelend.store.db.upgrade``
(``config.attributes["connection"]``), or on a URL (``sqlalchemy.url`` option, else the configured
database), so no alembic.ini is needed. Logging is left alone: stdout belongs to the CLI's output."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from smelend import settings
from smelend.store.db import make_engine
from smelend.store.tables import metadata

config = context.config


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite alters tables by copying them; harmless elsewhere
        **kwargs,
    )


def run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():  # joins the caller's transaction when there is one
        context.run_migrations()


def main() -> None:
    url = config.get_main_option("sqlalchemy.url") or settings.database_url()
    if context.is_offline_mode():
        _configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    engine = make_engine(url)
    try:
        with engine.connect() as own:
            run_on(own)
    finally:
        engine.dispose()


main()
