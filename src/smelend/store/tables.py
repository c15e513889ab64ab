"""The database schema as SQLAlchemy Core tables: the one declaration migrations are checked against.

Conventions: PII columns are :class:`~smelend.store.pii.EncryptedText` whose associated data is the
column's own ``table.column`` name, with a keyed-hash ``*_hash`` column beside any PII that is looked
up; money columns are BIGINT fen; timestamps are set by the database, in UTC.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, Date, DateTime, Float, ForeignKey, Integer, MetaData, String, Table, Text, UniqueConstraint, false, func

from smelend.store.pii import MAX_DOCUMENT_CHARS, EncryptedText

# Deterministic constraint names, so migrations can name what they alter on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

HASH_CHARS = 64  # hex HMAC-SHA256
NAME_MAX_CHARS = 100
ENTERPRISE_NAME_MAX_CHARS = 200

metadata = MetaData(naming_convention=NAMING_CONVENTION)

def _created_at() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.current_timestamp())


persons = Table(
    "persons",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", EncryptedText(aad="persons.name"), nullable=False),
    Column("resident_id", EncryptedText(aad="persons.resident_id"), nullable=False),
    Column("resident_id_hash", String(HASH_CHARS), nullable=False, unique=True),
    Column("mobile", EncryptedText(aad="persons.mobile"), nullable=False),
    Column("mobile_hash", String(HASH_CHARS), nullable=False, index=True),
    Column("bank_account", EncryptedText(aad="persons.bank_account"), nullable=True),
    _created_at(),
)

enterprises = Table(
    "enterprises",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uscc", Text, nullable=False, unique=True),  # public registration data: stored plain
    Column("name", Text, nullable=False),
    Column("owner_person_id", Integer, ForeignKey(persons.c.id), nullable=True, index=True),  # unknown on the operator path
    _created_at(),
)


def encrypted_columns(table: Table) -> list[Column[object]]:
    """The PII columns of ``table`` (what re-encryption rewrites)."""
    return [column for column in table.columns if isinstance(column.type, EncryptedText)]


# --- ledger (append-only: migration 0002 adds triggers refusing UPDATE and DELETE) ---------------------

LEDGER_KEY_MAX_CHARS = 200  # = smelend.ledger.entries.MAX_KEY_CHARS
LEDGER_KIND_MAX_CHARS = 40
ACCOUNT_MAX_CHARS = 40

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(LEDGER_KEY_MAX_CHARS), nullable=False, unique=True),
    Column("business_date", Date, nullable=False),
    Column("kind", String(LEDGER_KIND_MAX_CHARS), nullable=False),
    Column("loan_id", Integer, nullable=True, index=True),  # no FK yet: loans arrive in a later migration
    Column("line_id", Integer, nullable=True),
    _created_at(),
)

postings = Table(
    "postings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", Integer, ForeignKey(journal_entries.c.id), nullable=False, index=True),
    Column("account", String(ACCOUNT_MAX_CHARS), nullable=False, index=True),
    Column("amount_fen", BigInteger, nullable=False),  # signed: debit > 0, credit < 0
    Column("loan_id", Integer, nullable=True, index=True),  # copied from the entry: per-loan sums without a join
    CheckConstraint("amount_fen <> 0", name="amount_nonzero"),
)

account_balances = Table(
    "account_balances",
    metadata,
    Column("account", String(ACCOUNT_MAX_CHARS), primary_key=True),
    Column("balance_fen", BigInteger, nullable=False, server_default="0"),  # debit-positive
    Column("postings_count", BigInteger, nullable=False, server_default="0"),
)

# --- the simulated bank core's own book (another system's records, reconciled against the ledger) -----

INSTRUCTION_ID_MAX_CHARS = 200
TRANSFER_KIND_MAX_CHARS = 20
TRANSFER_REASON_MAX_CHARS = 200

bank_core_transfers = Table(
    "bank_core_transfers",
    metadata,
    Column("instruction_id", String(INSTRUCTION_ID_MAX_CHARS), primary_key=True),
    Column("kind", String(TRANSFER_KIND_MAX_CHARS), nullable=False),
    Column("loan_id", Integer, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("business_date", Date, nullable=False, index=True),
    Column("status", String(10), nullable=False),
    Column("reason", String(TRANSFER_REASON_MAX_CHARS), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("settled_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("amount_fen > 0", name="amount_positive"),
    CheckConstraint("status IN ('settled', 'failed')", name="status_known"),
)


# --- the business day, credit lines and loans (the loan book: the ledger's sub-ledger) ---------------

PRODUCT_ID_MAX_CHARS = 40
STATUS_MAX_CHARS = 16
RATE_TEXT_MAX_CHARS = 24  # a Decimal annual rate as text: exact, on every backend

business_day = Table(
    "business_day",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1: one calendar per database
    Column("business_date", Date, nullable=False),  # the open day: operations dated before it are refused
    Column("last_closed", Date, nullable=True),  # the last day close of business finished
    CheckConstraint("id = 1", name="single_row"),
)

credit_lines = Table(
    "credit_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("enterprise_id", Integer, ForeignKey(enterprises.c.id), nullable=False, index=True),
    Column("product_id", String(PRODUCT_ID_MAX_CHARS), nullable=False),
    Column("limit_fen", BigInteger, nullable=False),
    Column("used_fen", BigInteger, nullable=False, server_default="0"),
    Column("annual_rate", String(RATE_TEXT_MAX_CHARS), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("status", String(STATUS_MAX_CHARS), nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    _created_at(),
    # migration 0010 (line targets): a decrease capped at used leaves its decided limit pending here (and
    # the line change that decided it); the limit steps down to it as principal is repaid, then both clear
    Column("target_limit_fen", BigInteger, nullable=True),
    Column("target_change_id", Integer, nullable=True),
    CheckConstraint("limit_fen > 0", name="limit_positive"),
    CheckConstraint("used_fen >= 0 AND used_fen <= limit_fen", name="used_within_limit"),
    CheckConstraint("status IN ('active', 'frozen', 'expired')", name="status_known"),
    CheckConstraint("start_date < end_date", name="dates_ordered"),
)

loans = Table(
    "loans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("line_id", Integer, ForeignKey(credit_lines.c.id), nullable=False, index=True),
    Column("status", String(STATUS_MAX_CHARS), nullable=False, index=True),
    Column("method", String(24), nullable=False),
    Column("term", Integer, nullable=False),
    Column("principal_fen", BigInteger, nullable=False),
    Column("annual_rate", String(RATE_TEXT_MAX_CHARS), nullable=False),
    Column("penalty_rate", String(RATE_TEXT_MAX_CHARS), nullable=False),
    Column("compound_overdue_interest", Boolean, nullable=False),
    Column("grace_days", Integer, nullable=False),
    Column("prepayment", String(24), nullable=False),
    Column("conventions", Text, nullable=False),  # JSON, as the schedule calculator's flags name them
    Column("start_date", Date, nullable=False),
    Column("auto_debit", Boolean, nullable=False, server_default=false()),
    Column("closed_through", Date, nullable=True),
    Column("principal_outstanding_fen", BigInteger, nullable=False),
    Column("interest_receivable_fen", BigInteger, nullable=False, server_default="0"),
    Column("suspended_interest_fen", BigInteger, nullable=False, server_default="0"),
    Column("penalty_receivable_fen", BigInteger, nullable=False, server_default="0"),
    Column("suspended_penalty_fen", BigInteger, nullable=False, server_default="0"),
    Column("interest_carry", BigInteger, nullable=False, server_default="0"),
    Column("penalty_carry", BigInteger, nullable=False, server_default="0"),
    Column("days_past_due", Integer, nullable=False, server_default="0"),
    Column("category", String(STATUS_MAX_CHARS), nullable=False, server_default="pass"),
    Column("flags", Text, nullable=False),  # comma-separated classification flags
    Column("provision_fen", BigInteger, nullable=False, server_default="0"),
    Column("credit_balance_fen", BigInteger, nullable=False, server_default="0"),
    Column("written_off_fen", BigInteger, nullable=False, server_default="0"),
    Column("version", Integer, nullable=False, server_default="1"),
    _created_at(),
    CheckConstraint("principal_fen > 0", name="principal_positive"),
    CheckConstraint("principal_outstanding_fen >= 0 AND principal_outstanding_fen <= principal_fen", name="outstanding_within_principal"),
    CheckConstraint("credit_balance_fen >= 0", name="credit_balance_nonnegative"),
)

installments = Table(
    "installments",
    metadata,
    Column("loan_id", Integer, ForeignKey(loans.c.id), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("period_start", Date, nullable=False),
    Column("due_date", Date, nullable=False, index=True),
    Column("principal_fen", BigInteger, nullable=False),
    Column("interest_fen", BigInteger, nullable=False),
    Column("fee_fen", BigInteger, nullable=False),
    Column("accrued_interest_fen", BigInteger, nullable=False),
    Column("paid_principal_fen", BigInteger, nullable=False),
    Column("paid_interest_fen", BigInteger, nullable=False),
    Column("paid_fee_fen", BigInteger, nullable=False),
    Column("accrual_start", Date, nullable=True),
    Column("accrued_at_start_fen", BigInteger, nullable=False),
    CheckConstraint("paid_principal_fen >= 0 AND paid_principal_fen <= principal_fen", name="principal_paid_within"),
)

repayments = Table(
    "repayments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("loan_id", Integer, ForeignKey(loans.c.id), nullable=False, index=True),
    Column("instruction_id", String(INSTRUCTION_ID_MAX_CHARS), nullable=False, unique=True),
    Column("business_date", Date, nullable=False),
    Column("channel", String(STATUS_MAX_CHARS), nullable=False),  # paid-in, auto-debit
    Column("amount_fen", BigInteger, nullable=False),
    Column("penalty_fen", BigInteger, nullable=False),
    Column("interest_fen", BigInteger, nullable=False),
    Column("fee_fen", BigInteger, nullable=False),
    Column("principal_fen", BigInteger, nullable=False),
    Column("credit_balance_fen", BigInteger, nullable=False),
    Column("recovery_fen", BigInteger, nullable=False),
    _created_at(),
    CheckConstraint("amount_fen > 0", name="amount_positive"),
    CheckConstraint("amount_fen = penalty_fen + interest_fen + fee_fen + principal_fen + credit_balance_fen + recovery_fen", name="parts_sum"),
)

cob_runs = Table(
    "cob_runs",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("loans_closed", Integer, nullable=False),
    Column("accrued_interest_fen", BigInteger, nullable=False),
    Column("accrued_penalty_fen", BigInteger, nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False, server_default=func.current_timestamp()),
)


# --- the lending service (migration 0004) ------------------------------------------------------------
ROLE_MAX_CHARS = 16
PUBLIC_ID_MAX_CHARS = 40  # "APP-..." / "DEC-..." / "OFR-..." identifiers given to callers
KEY_MAX_CHARS = 128
ROLES = ("product", "risk", "marketing", "operations", "auditor", "admin", "borrower")

api_users = Table(  # staff users and borrowers (the bank's app), with hashed bearer tokens
    "api_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_MAX_CHARS), nullable=False),
    Column("role", String(ROLE_MAX_CHARS), nullable=False),
    Column("token_hash", String(HASH_CHARS), nullable=False, unique=True),
    Column("person_id", Integer, ForeignKey(persons.c.id), nullable=True),  # a borrower: who they are
    Column("active", Boolean, nullable=False),
    _created_at(),
)

partners = Table(  # partner platforms: a key id and an HMAC secret (encrypted), limits, callback address
    "partners",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_MAX_CHARS), nullable=False),
    Column("key_id", String(KEY_MAX_CHARS), nullable=False, unique=True),
    Column("secret", EncryptedText(aad="partners.secret"), nullable=False),
    Column("rate_limit_per_minute", Integer, nullable=False),
    Column("max_lending_share", String(RATE_TEXT_MAX_CHARS), nullable=False),  # of new lending, a fraction
    Column("callback_url", Text, nullable=True),
    Column("active", Boolean, nullable=False),
    _created_at(),
    CheckConstraint("rate_limit_per_minute > 0", name="rate_limit_positive"),
)

request_nonces = Table(  # signed requests seen, so a replayed nonce is refused
    "request_nonces",
    metadata,
    Column("key_id", String(KEY_MAX_CHARS), primary_key=True),
    Column("nonce", String(KEY_MAX_CHARS), primary_key=True),
    Column("seen_at", DateTime(timezone=True), nullable=False, index=True),
)

idempotency_keys = Table(  # one stored response per (caller, Idempotency-Key)
    "idempotency_keys",
    metadata,
    Column("principal", String(KEY_MAX_CHARS), primary_key=True),
    Column("key", String(KEY_MAX_CHARS), primary_key=True),
    Column("request_hash", String(HASH_CHARS), nullable=False),
    Column("status", String(STATUS_MAX_CHARS), nullable=False),  # in-progress, done
    Column("response_status", Integer, nullable=True),
    Column("response_body", Text, nullable=True),
    _created_at(),
)

audit_log = Table(  # every state change: who, what, when, before and after (JSON; PII masked)
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.current_timestamp()),
    Column("actor", String(KEY_MAX_CHARS), nullable=False, index=True),
    Column("action", String(KEY_MAX_CHARS), nullable=False),
    Column("entity", String(ROLE_MAX_CHARS * 2), nullable=False),
    Column("entity_id", String(PUBLIC_ID_MAX_CHARS), nullable=False),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
)

applications = Table(
    "applications",
    metadata,
    Column("id", String(PUBLIC_ID_MAX_CHARS), primary_key=True),
    Column("person_id", Integer, ForeignKey(persons.c.id), nullable=False, index=True),
    Column("enterprise_id", Integer, ForeignKey(enterprises.c.id), nullable=False, index=True),
    Column("product_id", String(PRODUCT_ID_MAX_CHARS), nullable=False),
    Column("requested_fen", BigInteger, nullable=False),
    Column("channel", String(KEY_MAX_CHARS), nullable=False),
    Column("partner_id", Integer, ForeignKey(partners.c.id), nullable=True, index=True),  # came through a partner
    Column("user_id", Integer, ForeignKey(api_users.c.id), nullable=True, index=True),  # came from a borrower's app
    Column("status", String(STATUS_MAX_CHARS), nullable=False),  # approved, declined, referred, accepted
    Column("applied_on", Date, nullable=False),
    _created_at(),
    CheckConstraint("requested_fen > 0", name="requested_positive"),
)

decisions = Table(  # the whole Decision (inputs included: PII) as encrypted JSON, plus what is queried
    "decisions",
    metadata,
    Column("id", String(PUBLIC_ID_MAX_CHARS), primary_key=True),
    Column("application_id", String(PUBLIC_ID_MAX_CHARS), ForeignKey(applications.c.id), nullable=False, index=True),
    Column("outcome", String(STATUS_MAX_CHARS), nullable=False),
    Column("limit_fen", BigInteger, nullable=False),
    Column("strategy_sha256", String(HASH_CHARS), nullable=False),
    Column("document", EncryptedText(aad="decisions.document", max_chars=MAX_DOCUMENT_CHARS), nullable=False),
    Column("review_outcome", String(STATUS_MAX_CHARS), nullable=True),  # a refer, approved or declined by staff
    Column("reviewed_by", Integer, ForeignKey(api_users.c.id), nullable=True),
    Column("review_comment", Text, nullable=True),
    _created_at(),
)

offers = Table(
    "offers",
    metadata,
    Column("id", String(PUBLIC_ID_MAX_CHARS), primary_key=True),
    Column("decision_id", String(PUBLIC_ID_MAX_CHARS), ForeignKey(decisions.c.id), nullable=False, unique=True),
    Column("limit_fen", BigInteger, nullable=False),
    Column("annual_rate", String(RATE_TEXT_MAX_CHARS), nullable=False),
    Column("document", Text, nullable=False),  # the offer (methods, APRs, fees) as JSON: no PII
    Column("status", String(STATUS_MAX_CHARS), nullable=False),  # open, accepted
    Column("line_id", Integer, ForeignKey(credit_lines.c.id), nullable=True, unique=True),
    _created_at(),
)

contracts = Table(  # the electronic contract a borrower accepted, with its hash
    "contracts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("offer_id", String(PUBLIC_ID_MAX_CHARS), ForeignKey(offers.c.id), nullable=False, unique=True),
    Column("line_id", Integer, ForeignKey(credit_lines.c.id), nullable=False, unique=True),
    Column("html", EncryptedText(aad="contracts.html", max_chars=MAX_DOCUMENT_CHARS), nullable=False),  # names the borrower: encrypted
    Column("sha256", String(HASH_CHARS), nullable=False),
    _created_at(),
)

callbacks = Table(  # signed notifications to partners, delivered with retries
    "callbacks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("partner_id", Integer, ForeignKey(partners.c.id), nullable=False, index=True),
    Column("event", String(KEY_MAX_CHARS), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(STATUS_MAX_CHARS), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    _created_at(),
)


# --- the staff dashboard: password logins and web sessions (migration 0008, issue 9; smelend.web) -----
PASSWORD_HASH_MAX_CHARS = 200  # "scrypt$n$r$p$salt$hash" (smelend.web.passwords)

web_logins = Table(  # a staff user's dashboard login: a unique name and an scrypt hash, with lock-out
    "web_logins",
    metadata,
    Column("user_id", Integer, ForeignKey(api_users.c.id), primary_key=True),
    Column("login", String(NAME_MAX_CHARS), nullable=False, unique=True),
    Column("password_hash", String(PASSWORD_HASH_MAX_CHARS), nullable=False),
    Column("failed_attempts", Integer, nullable=False, server_default="0"),  # consecutive, since the last success or lock
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("password_set_at", DateTime(timezone=True), nullable=False, server_default=func.current_timestamp()),
    CheckConstraint("failed_attempts >= 0", name="failed_attempts_nonnegative"),
)

web_sessions = Table(  # dashboard sessions: the cookie's SHA-256 (never the cookie), CSRF token, expiry
    "web_sessions",
    metadata,
    Column("id_hash", String(HASH_CHARS), primary_key=True),
    Column("user_id", Integer, ForeignKey(api_users.c.id), nullable=False, index=True),
    Column("csrf_token", String(HASH_CHARS), nullable=False),
    _created_at(),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)
# --- end of the staff dashboard's tables -----------------------------------------------------------------


# --- line management data: enterprise events, behaviour scores, collections (migration 0005, issue 7 part A) ---
EVENT_KIND_MAX_CHARS = 24
STEP_MAX_CHARS = 40
RUN_ID_MAX_CHARS = 64
EVENT_KINDS = ("tax_record", "invoice_record", "settlement_record", "external_alert")

enterprise_events = Table(  # refreshed provider data and external alerts, one row per record received
    "enterprise_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("enterprise_id", Integer, ForeignKey(enterprises.c.id), nullable=False, index=True),
    Column("kind", String(EVENT_KIND_MAX_CHARS), nullable=False),
    Column("event_date", Date, nullable=False, index=True),
    Column("revenue_12m_fen", BigInteger, nullable=True),  # tax: declared sales; invoices: invoiced sales; settlement: inflow x 12
    Column("trend", Float, nullable=True),  # growth over the year as a fraction (a ratio, not money)
    Column("tax_grade", String(2), nullable=True),
    Column("detail", Text, nullable=True),
    _created_at(),
    CheckConstraint("kind IN ('tax_record', 'invoice_record', 'settlement_record', 'external_alert')", name="kind_known"),
)

behaviour_scores = Table(  # the behaviour score of a line on a business date
    "behaviour_scores",
    metadata,
    Column("line_id", Integer, ForeignKey(credit_lines.c.id), primary_key=True),
    Column("business_date", Date, primary_key=True),
    Column("score", Integer, nullable=False),
    Column("pd", Float, nullable=False),
    Column("grade", String(8), nullable=False),
    Column("model_version", String(40), nullable=False),
    Column("reasons", Text, nullable=False),  # comma-separated reason codes, most points lost first
)

collection_actions = Table(  # reminders and dunning steps decided by a close-of-business run
    "collection_actions",
    metadata,
    Column("run_id", String(RUN_ID_MAX_CHARS), primary_key=True),
    Column("loan_id", Integer, ForeignKey(loans.c.id), primary_key=True),
    Column("step", String(STEP_MAX_CHARS), primary_key=True),
    Column("business_date", Date, nullable=False, index=True),
    Column("channel", String(STATUS_MAX_CHARS), nullable=False),
    Column("amount_due_fen", BigInteger, nullable=False),
    Column("days_past_due", Integer, nullable=False),
)

restructurings = Table(  # extensions and restructurings: the new schedule replaced the old one on that date
    "restructurings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("loan_id", Integer, ForeignKey(loans.c.id), nullable=False, index=True),
    Column("business_date", Date, nullable=False),
    Column("kind", String(STATUS_MAX_CHARS), nullable=False),  # extension, restructuring
    Column("old_term", Integer, nullable=False),
    Column("new_term", Integer, nullable=False),
    Column("new_method", String(24), nullable=False),
    Column("principal_fen", BigInteger, nullable=False),  # principal rescheduled (unchanged in the ledger)
    Column("days_past_due", Integer, nullable=False),
    Column("behaviour_grade", String(8), nullable=True),
    Column("rule", String(STEP_MAX_CHARS), nullable=False),
    _created_at(),
    CheckConstraint("kind IN ('extension', 'restructuring')", name="kind_known"),
    CheckConstraint("principal_fen > 0", name="principal_positive"),
)
# --- end of line management data (issue 7 part A) ----------------------------------------------------


# --- line changes, their notification outbox, book-wide close-of-business runs (migration 0006, issue 7 part B) ---
CHANGE_ACTION_MAX_CHARS = 16
REASONS_MAX_CHARS = 400
VERSION_MAX_CHARS = 120
COB_RUN_ID_MAX_CHARS = 40
COB_STAGE_MAX_CHARS = 24

line_changes = Table(  # every reassessment change posted to a line: what, why, under which versions
    "line_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(COB_RUN_ID_MAX_CHARS), nullable=False, index=True),
    Column("line_id", Integer, ForeignKey(credit_lines.c.id), nullable=False),
    Column("effective_date", Date, nullable=False, index=True),
    Column("action", String(CHANGE_ACTION_MAX_CHARS), nullable=False),
    Column("reasons", String(REASONS_MAX_CHARS), nullable=False),  # reason codes, comma-separated, rule order
    Column("limit_before_fen", BigInteger, nullable=False),
    Column("limit_after_fen", BigInteger, nullable=False),
    Column("used_fen", BigInteger, nullable=False),
    Column("status_before", String(STATUS_MAX_CHARS), nullable=False),
    Column("status_after", String(STATUS_MAX_CHARS), nullable=False),
    Column("end_before", Date, nullable=False),
    Column("end_after", Date, nullable=False),
    Column("temp_limit_fen", BigInteger, nullable=False, server_default="0"),  # the temporary part of the limit after the change
    Column("temp_limit_until", Date, nullable=True),
    Column("rules_version", String(VERSION_MAX_CHARS), nullable=False),
    Column("settings_version", String(VERSION_MAX_CHARS), nullable=False),
    Column("strategy_version", String(VERSION_MAX_CHARS), nullable=False),
    Column("model_version", String(VERSION_MAX_CHARS), nullable=False),
    _created_at(),
    # migration 0010 (line targets): the decided target of a decrease capped at used, and the step: 0 for
    # the day's reassessment decision (one a line a day: a rerun cannot apply one twice), 1, 2, ... for
    # the day's step-downs towards a target as principal is repaid
    Column("step", Integer, nullable=False, server_default="0"),
    Column("target_limit_fen", BigInteger, nullable=True),
    UniqueConstraint("line_id", "effective_date", "step"),
    CheckConstraint("limit_after_fen > 0 AND limit_after_fen >= used_fen", name="limit_covers_used"),
    CheckConstraint("temp_limit_fen >= 0 AND temp_limit_fen <= limit_after_fen", name="temp_within_limit"),
)

line_notifications = Table(  # the outbox: one notice to the borrower per line change, written with it
    "line_notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("line_change_id", Integer, ForeignKey(line_changes.c.id), nullable=False, unique=True),
    Column("line_id", Integer, ForeignKey(credit_lines.c.id), nullable=False, index=True),
    Column("event", String(KEY_MAX_CHARS), nullable=False),  # line.increase, line.freeze, ...
    Column("payload", Text, nullable=False),  # JSON: amounts as yuan strings, reasons, dates; no PII
    Column("status", String(STATUS_MAX_CHARS), nullable=False),  # pending, sent
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    _created_at(),
)

cob_pipeline_runs = Table(  # one row per business date closed by the book-wide pipeline (run id = "cob-<date>")
    "cob_pipeline_runs",
    metadata,
    Column("run_id", String(COB_RUN_ID_MAX_CHARS), primary_key=True),
    Column("business_date", Date, nullable=False, unique=True),
    Column("status", String(STATUS_MAX_CHARS), nullable=False),  # running, finished
    Column("summary", Text, nullable=True),  # JSON of the day's counts, once finished
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.current_timestamp()),
    Column("finished_at", DateTime(timezone=True), nullable=True),
)

cob_pipeline_progress = Table(  # chunks of a stage already written, committed with the chunk's rows
    "cob_pipeline_progress",
    metadata,
    Column("run_id", String(COB_RUN_ID_MAX_CHARS), ForeignKey(cob_pipeline_runs.c.run_id), primary_key=True),
    Column("stage", String(COB_STAGE_MAX_CHARS), primary_key=True),
    Column("chunk", Integer, primary_key=True),
    Column("rows", Integer, nullable=False),
    Column("counts", Text, nullable=False),  # JSON: what the chunk wrote, by kind
    _created_at(),
)
# --- end of line changes and close-of-business runs (issue 7 part B) ----------------------------------------


# --- marketing (issue 8, migration 0007) ----------------------------------------------------------------

MARKETING_KIND_MAX_CHARS = 16
MARKETING_KEY_MAX_CHARS = 80
MARKETING_NAME_MAX_CHARS = 100

marketing_events = Table(  # prospects, touches, applications and draws of the marketing data set, one JSON row each (no PII)
    "marketing_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(MARKETING_KIND_MAX_CHARS), nullable=False),
    Column("key", String(MARKETING_KEY_MAX_CHARS), nullable=False),
    Column("document", Text, nullable=False),
    _created_at(),
    UniqueConstraint("kind", "key"),
)

marketing_campaigns = Table(  # a campaign planned by uplift: its settings and the plan's figures as JSON
    "marketing_campaigns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(MARKETING_NAME_MAX_CHARS), nullable=False, unique=True),
    Column("learner", String(MARKETING_KIND_MAX_CHARS), nullable=False),
    Column("document", Text, nullable=False),
    _created_at(),
)

coupon_grants = Table(  # one interest-discount coupon granted to one targeted customer; its cost posts to the ledger when redeemed
    "coupon_grants",
    metadata,
    Column("id", String(MARKETING_KEY_MAX_CHARS), primary_key=True),
    Column("campaign_id", Integer, ForeignKey(marketing_campaigns.c.id), nullable=False, index=True),
    Column("customer_ref", String(MARKETING_KEY_MAX_CHARS), nullable=False),
    Column("discount_bp", Integer, nullable=False),
    Column("max_discount_fen", BigInteger, nullable=False),
    Column("status", String(MARKETING_KIND_MAX_CHARS), nullable=False),  # granted, redeemed
    Column("cost_fen", BigInteger, nullable=True),
    Column("redeemed_on", Date, nullable=True),
    _created_at(),
    UniqueConstraint("campaign_id", "customer_ref"),
    CheckConstraint("discount_bp > 0", name="discount_positive"),
    CheckConstraint("cost_fen IS NULL OR cost_fen >= 0", name="cost_not_negative"),
)

segment_assignments = Table(  # the segment (and cluster) each customer was put in by one segmentation run
    "segment_assignments",
    metadata,
    Column("run", String(MARKETING_KEY_MAX_CHARS), primary_key=True),
    Column("customer_ref", String(MARKETING_KEY_MAX_CHARS), primary_key=True),
    Column("segment", String(MARKETING_NAME_MAX_CHARS), nullable=False),
    Column("cluster", Integer, nullable=True),
    _created_at(),
)
# --- end marketing


# --- strategy lab (issue 9, migration 0009) ----------------------------------------------------------------

SIM_NAME_MAX_CHARS = 60
SIM_KIND_MAX_CHARS = 16

sim_runs = Table(  # one `smelend simulate` or `smelend compare` run: its settings and the whole metrics.json
    "sim_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(SIM_KIND_MAX_CHARS), nullable=False),  # simulate, compare
    Column("smes", Integer, nullable=False),
    Column("months", Integer, nullable=False),
    Column("seeds", Integer, nullable=False),
    Column("shock", Boolean, nullable=False),
    Column("baseline", String(SIM_NAME_MAX_CHARS), nullable=True),
    Column("out_dir", Text, nullable=False),
    Column("document", Text, nullable=False),  # metrics.json
    _created_at(),
    CheckConstraint("smes > 0 AND months > 0 AND seeds > 0", name="sizes_positive"),
)

sim_run_strategies = Table(  # each strategy (or ablation variant) of a run, with its headline figures as columns for listing
    "sim_run_strategies",
    metadata,
    Column("run_id", Integer, ForeignKey(sim_runs.c.id), primary_key=True),
    Column("name", String(SIM_NAME_MAX_CHARS), primary_key=True),
    Column("role", String(SIM_KIND_MAX_CHARS), nullable=False),  # strategy, ablation
    Column("applications", Float, nullable=False),
    Column("lines", Float, nullable=False),
    Column("balance_end_fen", BigInteger, nullable=False),
    Column("profit_fen", BigInteger, nullable=False),
    Column("npl_ratio", Float, nullable=False),
    Column("raroc", Float, nullable=False),
    Column("ledger_balanced", Boolean, nullable=False),
    Column("figures", Text, nullable=False),  # the strategy's part of metrics.json
)
# --- end strategy lab


# --- recorded segmentation runs (issue 8, migration 0011) ----------------------------------------------------

segment_runs = Table(  # one `smelend marketing segments --record RUN`: the book it read, its parameters and the profile document
    "segment_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(MARKETING_KEY_MAX_CHARS), nullable=False, index=True),  # the run of its segment_assignments rows
    Column("source", String(MARKETING_KIND_MAX_CHARS), nullable=False),  # db, synthetic
    Column("customers", Integer, nullable=False),
    Column("parameters", Text, nullable=False),  # JSON
    Column("document", Text, nullable=False),  # JSON: what `smelend marketing segments --json` printed
    _created_at(),
    CheckConstraint("source IN ('db', 'synthetic')", name="source_known"),
)
# --- end recorded segmentation runs
