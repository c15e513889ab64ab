"""Daily reconciliation: the ledger against the loan book, the lines, and the bank core's records.

Every difference is reported, never silently fixed: fixing is a person's decision, made with a new
entry, because the ledger is append-only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from smelend.ledger import Account, TrialBalance
from smelend.operations.context import Book
from smelend.store import ledger as ledger_store
from smelend.store.tables import bank_core_transfers, credit_lines, journal_entries, loans


@dataclass(frozen=True)
class Difference:
    what: str  # e.g. "loan 7 principal"
    ledger_fen: int
    book_fen: int

    def as_dict(self) -> dict[str, object]:
        return {"what": self.what, "ledger_fen": self.ledger_fen, "book_fen": self.book_fen, "difference_fen": self.ledger_fen - self.book_fen}


LOAN_COLUMNS = {
    Account.PRINCIPAL_RECEIVABLE: "principal_outstanding_fen",
    Account.INTEREST_RECEIVABLE: "interest_receivable_fen",
    Account.PENALTY_RECEIVABLE: "penalty_receivable_fen",
    Account.LOAN_LOSS_ALLOWANCE: "provision_fen",
    Account.CUSTOMER_CREDIT: "credit_balance_fen",
}


def trial_balance(book: Book) -> tuple[TrialBalance, TrialBalance]:
    """The balances kept as postings are written, and the same recomputed from every posting."""
    with book.engine.connect() as conn:
        return ledger_store.trial_balance(conn), ledger_store.recomputed_trial_balance(conn)


def reconcile(book: Book) -> list[Difference]:
    differences: list[Difference] = []
    with book.engine.connect() as conn:
        kept, recomputed = ledger_store.trial_balance(conn), ledger_store.recomputed_trial_balance(conn)
        for account in sorted(set(kept.balances_fen) | set(recomputed.balances_fen), key=lambda a: a.value):
            if kept.balances_fen.get(account, 0) != recomputed.balances_fen.get(account, 0):
                differences.append(Difference(f"account {account.value}: kept balance vs postings", kept.balances_fen.get(account, 0), recomputed.balances_fen.get(account, 0)))
        rows = conn.execute(select(loans)).mappings().all()
        for account, column in LOAN_COLUMNS.items():
            sign = 1 if account.normal_side.value == "debit" else -1
            ledger = {k: sign * v for k, v in ledger_store.loan_balances(conn, account).items()}
            for row in rows:
                book_value = 0 if row["status"] in ("pending", "cancelled") else row[column]  # not disbursed: nothing posted
                if ledger.get(row["id"], 0) != book_value:
                    differences.append(Difference(f"loan {row['id']} {account.value}", ledger.get(row["id"], 0), book_value))
        suspended = ledger_store.loan_balances(conn, Account.SUSPENDED_INTEREST)
        written = ledger_store.loan_balances(conn, Account.WRITTEN_OFF)
        for row in rows:
            book_suspended = row["suspended_interest_fen"] + row["suspended_penalty_fen"]
            if suspended.get(row["id"], 0) != book_suspended:
                differences.append(Difference(f"loan {row['id']} suspended interest (memo)", suspended.get(row["id"], 0), book_suspended))
            if written.get(row["id"], 0) != row["written_off_fen"]:
                differences.append(Difference(f"loan {row['id']} written off (memo)", written.get(row["id"], 0), row["written_off_fen"]))
        used = dict(
            conn.execute(
                select(loans.c.line_id, func.sum(loans.c.principal_outstanding_fen))
                .where(loans.c.status.in_(["active", "pending"]))
                .group_by(loans.c.line_id)
            ).all()
        )
        for line_id, used_fen in conn.execute(select(credit_lines.c.id, credit_lines.c.used_fen)).all():
            if int(used.get(line_id) or 0) != used_fen:
                differences.append(Difference(f"line {line_id} used", int(used.get(line_id) or 0), used_fen))
        differences.extend(_settlements(conn, kept))
    return differences


def _settlements(conn, kept: TrialBalance) -> list[Difference]:
    """The settlement account against the bank core: in total, and transfer by transfer."""
    found: list[Difference] = []
    transfers = conn.execute(select(bank_core_transfers.c.instruction_id, bank_core_transfers.c.kind, bank_core_transfers.c.amount_fen).where(bank_core_transfers.c.status == "settled")).all()
    net_in = sum(amount if kind in ("paid_in", "collection") else -amount for _, kind, amount in transfers)
    ledger_net = kept.balances_fen.get(Account.SETTLEMENT, 0)
    if ledger_net != net_in:
        found.append(Difference("settlement account vs bank core settled transfers", ledger_net, net_in))
    keys = set(conn.execute(select(journal_entries.c.idempotency_key).where(journal_entries.c.kind.in_(["disbursement", "repayment", "refund"]))).scalars())
    for instruction_id, kind, amount in transfers:
        key = {"disbursement": f"disbursement:{instruction_id.split(':', 1)[-1]}", "refund": f"refund:{instruction_id}"}.get(kind, f"repayment:{instruction_id}")
        if key not in keys:
            found.append(Difference(f"bank core transfer {instruction_id} has no ledger entry", 0, amount))
    return found
