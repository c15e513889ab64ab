"""`smelend db`, `smelend pii` and `smelend admin`: migrations, key rotation, API users and partners."""

from __future__ import annotations

import typer

from smelend.cli.common import JSON_OPTION, admin_app, db_app, emit_json, pii_app, stderr
from smelend.errors import Collector, FieldError, InvalidInput
from smelend.ids import ric
from smelend.store import audit, find_person_by_resident_id, open_store
from smelend.store.access import BORROWER_ROLE, DEFAULT_MAX_LENDING_SHARE, DEFAULT_RATE_LIMIT_PER_MINUTE, check_partner, create_partner, create_user
from smelend.store.tables import ROLES



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


# --- `smelend admin`: API users and partners ----------------------------------------------------------

ADMIN_ACTOR = "cli:admin"  # who the audit log names for changes made here
_USER_FIELDS = {"person_id": "person_resident_id"}  # core field -> CLI option (via option_name)
_PARTNER_FIELDS = {"rate_limit_per_minute": "rate_limit", "max_lending_share": "max_share"}


def _renamed(exc: InvalidInput, names: dict[str, str]) -> InvalidInput:
    return InvalidInput([FieldError(names.get(e.field, e.field), e.reason) for e in exc.errors])


@admin_app.command("create-user")
def admin_create_user(
    name: str = typer.Option(..., "--name", help="Who the user is (a staff member's name, or the borrower app's label)."),
    role: str = typer.Option(..., "--role", help=f"One of {', '.join(ROLES)}."),
    person_resident_id: str | None = typer.Option(None, "--person-resident-id", help="A borrower's resident ID (a registered person)."),
    password: str | None = typer.Option(None, "--password", help="Also let this staff user sign in to the dashboard (/dashboard) with --name and this password (12+ characters); only an scrypt hash is stored."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Create an API user and print its bearer token once (only a hash of it is stored); with --password,
    also a dashboard login named --name."""
    from smelend.store import web_sessions
    from smelend.web import passwords

    errors = Collector()  # everything checkable without the database, before it is opened
    if not name.strip():
        errors.add("name", "is required")
    if password is not None:
        if role == BORROWER_ROLE:
            errors.add("password", "borrowers have no dashboard login; only staff roles get a password")
        else:
            try:
                passwords.check_password(password)
            except InvalidInput as exc:
                errors.errors.extend(exc.errors)
    if role not in ROLES:
        errors.add("role", f"must be one of {', '.join(ROLES)}")
    elif role == BORROWER_ROLE and person_resident_id is None:
        errors.add("person_resident_id", "a borrower needs the resident ID of a registered person")
    elif role != BORROWER_ROLE and person_resident_id is not None:
        errors.add("person_resident_id", "only a borrower is a person; staff users have none")
    errors.raise_if_any()
    resident_id = None if person_resident_id is None else _person_resident_id(person_resident_id)
    engine = open_store()
    try:
        with engine.begin() as conn:
            person_id = None
            if resident_id is not None:
                person = find_person_by_resident_id(conn, resident_id)
                if person is None:
                    raise InvalidInput.one("person_resident_id", "no registered person has this resident ID")
                person_id = person.id
            if password is not None and web_sessions.login_taken(conn, name):
                raise InvalidInput.one("name", "another user already signs in to the dashboard with this name")
            try:
                user_id, token = create_user(conn, name, role, person_id)
            except InvalidInput as exc:
                raise _renamed(exc, _USER_FIELDS) from None
            if password is not None:
                web_sessions.set_password(conn, user_id, name, passwords.hash_password(password))
            audit.record(conn, ADMIN_ACTOR, "create-user", "api_user", user_id, None,
                         {"name": name, "role": role, "person_id": person_id, "dashboard_login": password is not None})
    finally:
        engine.dispose()
    if json_out:
        emit_json({"id": user_id, "name": " ".join(name.split()), "role": role, "token": token, "dashboard_login": password is not None})
    else:
        login = "; signs in to /dashboard with its name and password" if password is not None else ""
        stderr.print(f"created API user {user_id} ({role}){login}; the token is shown only now:")
        print(token)


def _person_resident_id(resident_id: str) -> str:
    try:
        return ric.validate(resident_id, field="person_resident_id")
    except InvalidInput as exc:
        raise _renamed(exc, {"resident_id": "person_resident_id"}) from None


@admin_app.command("set-password")
def admin_set_password(
    name: str = typer.Option(..., "--name", help="The dashboard login name (the staff user's name)."),
    password: str = typer.Option(..., "--password", help="The new password (12+ characters); only an scrypt hash is stored."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Set a new dashboard password for a staff user who has a login: unlocks the login and ends its sessions."""
    from smelend.store import web_sessions
    from smelend.web import passwords

    passwords.check_password(password)
    login_name = web_sessions.clean_login(name)
    engine = open_store()
    try:
        with engine.begin() as conn:
            login = web_sessions.find_login(conn, login_name)
            if login is None:
                raise InvalidInput.one("name", "no dashboard login has this name (create-user --password makes one)")
            ended = web_sessions.end_sessions(conn, login.user_id)
            web_sessions.set_password(conn, login.user_id, login_name, passwords.hash_password(password))
            audit.record(conn, ADMIN_ACTOR, "set-password", "api_user", login.user_id, None, {"login": login_name, "sessions_ended": ended})
    finally:
        engine.dispose()
    if json_out:
        emit_json({"id": login.user_id, "login": login_name, "sessions_ended": ended})
    else:
        stderr.print(f"new password set for {login_name} (user {login.user_id}); {ended} open sessions ended")


@admin_app.command("create-partner")
def admin_create_partner(
    name: str = typer.Option(..., "--name", help="The partner platform's name."),
    rate_limit: int = typer.Option(DEFAULT_RATE_LIMIT_PER_MINUTE, "--rate-limit", help="Requests a minute (per service process)."),
    max_share: str = typer.Option(str(DEFAULT_MAX_LENDING_SHARE), "--max-share", help="Largest fraction of new lending through this partner (0-1]."),
    callback_url: str | None = typer.Option(None, "--callback-url", help="http(s) address receiving signed notifications."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Create a partner and print its key id and signing secret once (the secret is stored encrypted)."""
    try:
        check_partner(name, rate_limit, max_share, callback_url)  # before the database is opened
    except InvalidInput as exc:
        raise _renamed(exc, _PARTNER_FIELDS) from None
    engine = open_store()
    try:
        with engine.begin() as conn:
            try:
                partner_id, key_id, secret = create_partner(conn, name, rate_limit, max_share, callback_url)
            except InvalidInput as exc:
                raise _renamed(exc, _PARTNER_FIELDS) from None
            audit.record(
                conn, ADMIN_ACTOR, "create-partner", "partner", partner_id, None,
                {"name": name, "key_id": key_id, "rate_limit_per_minute": rate_limit, "max_lending_share": max_share, "callback_url": callback_url},
            )
    finally:
        engine.dispose()
    if json_out:
        emit_json({"id": partner_id, "key_id": key_id, "secret": secret})
    else:
        stderr.print(f"created partner {partner_id}; the secret is shown only now:")
        print(f"key_id: {key_id}\nsecret: {secret}")


@admin_app.command("deliver-callbacks")
def deliver_callbacks(json_out: bool = JSON_OPTION) -> None:
    """Deliver the partner callbacks that are due (signed, with retries and back-off); run it from a scheduler."""
    from smelend.api.callbacks import deliver_pending
    from smelend.store import open_store

    engine = open_store()
    try:
        counts = deliver_pending(engine)
    finally:
        engine.dispose()
    if json_out:
        emit_json(counts)
    else:
        stderr.print(f"callbacks: {counts['delivered']} delivered, {counts['retrying']} to retry, {counts['failed']} failed for good")
