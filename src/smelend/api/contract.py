"""The electronic credit-line contract a borrower accepts: one self-contained HTML page, hashed.

It states the parties (the enterprise, its owner with the resident ID masked, the bank), the line (limit,
validity), the annual rate, every repayment method with its terms and APR (annualised on all costs, as the
People's Bank of China's disclosure rule asks), fees, penalty and prepayment terms. The HTML is stored
encrypted (it names the borrower) with its SHA-256, so what was accepted can be proved later.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from html import escape
from typing import Any

from smelend.ids import ric
from smelend.products.model import Product

BANK_NAME = "smelend bank"


def _percent(rate: str | Decimal) -> str:
    return f"{(Decimal(str(rate)) * 100).quantize(Decimal('0.0001')).normalize():f}%"


def render(*, offer_id: str, offer: dict[str, Any], product: Product, enterprise_name: str, uscc: str, owner_name: str,
           owner_resident_id: str, start: date, end: date, accepted_at: str) -> str:
    """The contract's HTML (deterministic for the same inputs)."""
    e = escape
    methods = "".join(
        f"<tr><td>{e(m['method'])}</td><td>{m['min_term']}–{m['max_term']}</td><td>{m['sample_term']}</td>"
        f"<td>{e(_percent(m['apr']))}</td><td>{e(m['total_interest'])}</td><td>{e(m['total_fees'])}</td></tr>"
        for m in offer["methods"]
    )
    penalty = product.penalty
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Credit line contract {e(offer_id)}</title></head>
<body>
<h1>Credit line contract (授信合同) {e(offer_id)}</h1>
<p>Lender: {e(BANK_NAME)}. Borrower: {e(enterprise_name)} (USCC {e(uscc)}), represented by its owner
{e(owner_name)} (resident ID {e(ric.mask(owner_resident_id))}). Product: {e(product.name)} ({e(product.id)}).</p>
<h2>The line</h2>
<ul>
<li>Credit limit: <strong>{e(offer['limit'])}</strong> yuan, revolving: repaid principal may be drawn again.</li>
<li>Validity: from {start.isoformat()} to {end.isoformat()} ({int(offer['line_validity_months'])} months); draws only within it.</li>
<li>Annual interest rate (simple, 年化利率): <strong>{e(_percent(offer['annual_rate']))}</strong> ({e(str(offer['annual_rate']))}).</li>
<li>Arrangement fee: {e(_percent(offer['arrangement_fee_rate']))} of each draw; monthly fee: {e(_percent(offer['monthly_fee_rate']))} of the original principal.</li>
<li>APR cap applied: {e(_percent(offer['apr_cap']))}{' (the rate was priced down to stay within it)' if offer.get('priced_down_to_cap') else ''}.</li>
</ul>
<h2>Repayment methods and their APR (all costs, for a draw of the whole line)</h2>
<table border="1"><tr><th>method</th><th>terms allowed (periods)</th><th>term shown</th><th>APR</th><th>total interest</th><th>total fees</th></tr>
{methods}</table>
<h2>Terms</h2>
<ul>
<li>Overdue principal bears penalty interest at {e(str(penalty.rate_multiplier))} × the contract rate after {penalty.grace_days} grace days{'; overdue interest compounds' if penalty.compound_overdue_interest else ''}.</li>
<li>Prepayment is allowed at any time ({e(product.prepayment.value)}); prepayment fee {e(_percent(product.fees.prepayment_fee_rate))}.</li>
<li>Repayments are applied to penalty, then interest, then principal, past due before current.</li>
<li>The lender may freeze the line when the borrower's risk changes; loans already drawn run on.</li>
</ul>
<p>Accepted electronically at {e(accepted_at)}.</p>
</body></html>
"""


def sha256(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8")).hexdigest()
