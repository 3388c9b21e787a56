"""Result assertions: which assertions each case ran (type, pass, score, weight, metric).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('eval_results') as batch:
        batch.add_column(sa.Column('assertions', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('eval_results') as batch:
        batch.drop_column('assertions')
