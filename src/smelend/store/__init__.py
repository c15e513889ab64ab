"""The database adapter: SQLAlchemy Core tables, Alembic migrations, PII encryption and repositories.

The pure core never imports this package. Start with :func:`open_store`, then work in transactions::

    engine = open_store()
    with engine.begin() as conn:
        person_id = add_person(conn, "Zhang San", "11010519491231002X", "13800138000")
"""

from smelend.store.db import make_engine, normalise_url, open_store, upgrade
from smelend.store.pii import (
    DecryptError,
    EncryptedText,
    Keyring,
    KeyringError,
    configure,
    load_keyring,
    lookup_hash,
    rotate_key,
)
from smelend.store.reencrypt import reencrypt
from smelend.store.repositories import (
    Enterprise,
    Person,
    add_enterprise,
    add_person,
    add_person_if_new,
    find_enterprise_by_uscc,
    find_person_by_resident_id,
    find_persons_by_mobile,
    get_enterprise,
    get_or_create_enterprise,
    get_person,
)

__all__ = [
    "DecryptError",
    "EncryptedText",
    "Enterprise",
    "Keyring",
    "KeyringError",
    "Person",
    "add_enterprise",
    "add_person",
    "add_person_if_new",
    "configure",
    "find_enterprise_by_uscc",
    "find_person_by_resident_id",
    "find_persons_by_mobile",
    "get_enterprise",
    "get_or_create_enterprise",
    "get_person",
    "load_keyring",
    "lookup_hash",
    "make_engine",
    "normalise_url",
    "open_store",
    "reencrypt",
    "rotate_key",
    "upgrade",
]
