"""Who the lab's marketing staff contact: the pre-approved list for campaigns, the at-risk list for retention calls.

Why: a campaign or a retention call is only evidence about the platform if it targets as the bank's staff
would, with what the bank sees, not a random share and not the market's hidden truth.

- **Campaigns** contact the best-ranked eligible businesses: each business's own flat record (the risk engine's
  simulated provider, the same record its application would carry) scored by the real batch scorecards
  (:func:`smelend.marketing.scoring.score_table`, the features, groups, scorecards and grades of ``decide``);
  businesses the bank may approach (:func:`smelend.marketing.whitelist.base_mask`: a relationship or a tax
  authorisation) first, then the lowest PD.
- **Retention calls** go to the customers most at risk of leaving for a competitor, ranked by what the bank
  sees: its own rate above the competitor's posted price for the customer's risk as the bank scores it (the
  rate minus the posted curve's risk loading times the bank's PD, from ``decide``). Neither the latent PD nor
  a business's own competitor offer is read. (The fitted attrition model of
  :mod:`smelend.marketing.retention` needs per-customer draw and late-payment histories and both outcomes in
  each half of the book; the lab does not keep those yet.)
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

from smelend.sim.population import Population, application_for

_CACHE: dict[tuple[int, int, date], tuple[np.ndarray, np.ndarray]] = {}


def prospect_scores(population: Population, provider: Any, risk_strategy: Any, on: date) -> tuple[np.ndarray, np.ndarray]:
    """(PD by the real scorecards, may-approach mask) for every business of ``population`` from its own record
    as of ``on``. Cached per (seed, size, date): the same population gives the same records whatever the strategy."""
    import polars as pl

    from smelend.marketing.scoring import score_table
    from smelend.marketing.whitelist import base_mask

    key = (population.seed, len(population), on)
    if key not in _CACHE:
        rows = [provider.flat(application_for(population, i, on, "customer-manager")) for i in range(len(population))]
        table = pl.DataFrame(rows, infer_schema_length=None)
        _CACHE.clear()
        _CACHE[key] = (score_table(table, risk_strategy).pd, base_mask(table))
    return _CACHE[key]


def campaign_targets(eligible: np.ndarray, pd: np.ndarray, approachable: np.ndarray, share: float) -> np.ndarray:
    """The ``share`` of the eligible businesses (rounded; today's expected count) the bank contacts: those it may
    approach first, then lowest PD first. A boolean mask over all businesses."""
    idx = np.flatnonzero(eligible)
    count = int(round(share * len(idx)))
    order = np.lexsort((pd[idx], ~approachable[idx]))  # last key first: approachable, then PD
    out = np.zeros(eligible.shape[0], bool)
    out[idx[order[:count]]] = True
    return out


def retention_targets(customers: np.ndarray, rate: np.ndarray, bank_pd: np.ndarray, pd_loading: float, share: float) -> np.ndarray:
    """The ``share`` of ``customers`` (rounded) most at risk: the highest rate gap to the competitor's posted price
    for their risk as the bank scores it (rate - pd_loading x the bank's PD). A boolean mask over all businesses."""
    idx = np.flatnonzero(customers)
    count = int(round(share * len(idx)))
    gap = rate[idx] - pd_loading * bank_pd[idx]
    order = np.argsort(-gap, kind="stable")
    out = np.zeros(customers.shape[0], bool)
    out[idx[order[:count]]] = True
    return out
