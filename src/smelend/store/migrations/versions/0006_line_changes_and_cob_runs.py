"""Book-wide close of business: run ids, stages and their progress (issue 7).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

Reserved so that work on several issues can add tables side by side; filled by that work.
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401


revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
