"""Who may see which dashboard page: the API's staff roles, page by page (admin sees everything).

This mirrors the API's own checks, so the dashboard never shows more than a role could fetch with its
token: decisions, replay and the review queue as ``GET /v1/decisions/{id}``, ``POST .../replay`` and
``GET /v1/reviews`` allow them; reviewing as ``POST .../review`` (risk); the audit log as ``GET /v1/audit``
(auditor). The portfolio (aggregates over the book, no personal data) is for operations and product
managers; the funnel and channels and the segments pages (figures of :mod:`smelend.marketing`) for
marketing and product; the strategy runs (figures of :mod:`smelend.sim`, simulated markets only) for
marketing, product and risk.

>>> allowed("risk", "replay"), allowed("marketing", "replay"), allowed("admin", "audit")
(True, False, True)
"""

from __future__ import annotations

ADMIN = "admin"

PAGES: dict[str, tuple[str, ...]] = {
    "portfolio": ("operations", "product"),
    "decisions": ("risk", "auditor"),  # search and one decision's reasons, versions and trace
    "replay": ("risk", "auditor"),
    "reviews": ("risk", "auditor"),  # the referral queue
    "review": ("risk",),  # approve or decline a referral
    "audit": ("auditor",),
    "funnel": ("marketing", "product"),  # the funnel, the "310" standard and the channels' cost and return
    "segments": ("marketing", "product"),  # recorded segmentation runs and each segment's strategy
    "strategy-runs": ("marketing", "product", "risk"),  # the strategy lab's recorded runs and comparisons
}

# The pages in the navigation bar, in order, with their titles and paths.
NAVIGATION: tuple[tuple[str, str, str], ...] = (
    ("portfolio", "Portfolio", "/dashboard/portfolio"),
    ("decisions", "Decisions", "/dashboard/decisions"),
    ("reviews", "Referrals", "/dashboard/reviews"),
    ("audit", "Audit log", "/dashboard/audit"),
    ("funnel", "Funnel and channels", "/dashboard/funnel"),
    ("segments", "Segments", "/dashboard/segments"),
    ("strategy-runs", "Strategy runs", "/dashboard/strategy-runs"),
)


def allowed(role: str, page: str) -> bool:
    """True when a staff member with ``role`` may use ``page`` (an unknown page is allowed to nobody)."""
    return page in PAGES and (role == ADMIN or role in PAGES[page])


def navigation(role: str) -> list[tuple[str, str, str]]:
    return [item for item in NAVIGATION if allowed(role, item[0])]
