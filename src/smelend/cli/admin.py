"""`smelend db` and `smelend pii`: migrations and key rotation."""

from __future__ import annotations

import typer

from smelend.cli.common import JSON_OPTION, db_app, emit_json, pii_app, stderr
from smelend.store import open_store



@db_app.command("upgrade")
def db_upgrade(json_out: bool = JSON_OPTION) -> None:
    """Apply pending migrations to the database named by SMELEND_DATABASE_URL (SQLite by default)."""
    engine = open_store()
    document = {"database": engine.url.render_as_string(hide_password=True), "upgraded": True}
    engine.dispose()
    if json_out:
        emit_json(document)
    else:
        stderr.print(f"database {document['database']} is up to date")


@pii_app.command("rotate-key")
def pii_rotate_key(
    reencrypt_rows: bool = typer.Option(False, "--reencrypt", help="Also rewrite every stored row with the new key."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Add a new PII key to the key file and make it active; old keys stay for reading old rows."""
    from smelend.store import configure, load_keyring, reencrypt, rotate_key

    open_store().dispose()  # makes sure a key file and the schema exist
    key_id = rotate_key()
    configure(load_keyring())
    rows = 0
    if reencrypt_rows:
        engine = open_store()
        rows = reencrypt(engine)
        engine.dispose()
    document = {"active_key_id": key_id, "reencrypted_rows": rows}
    if json_out:
        emit_json(document)
    else:
        stderr.print(f"active PII key is now {key_id}; re-encrypted {rows} rows")


