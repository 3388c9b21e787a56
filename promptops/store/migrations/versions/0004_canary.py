"""Canary labels: a deployment that serves a share of its label's traffic (canary_percent, split
with the stable deployment canary_base), the move that ends one (canary_end), and on each logged
call the deployment that served it and whether it was the canary.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deployments') as batch:
        batch.add_column(sa.Column('canary_percent', sa.Float(), nullable=True))
        batch.add_column(sa.Column('canary_base', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('canary_end', sa.Integer(), nullable=True))
    with op.batch_alter_table('call_logs') as batch:
        batch.add_column(sa.Column('deployment_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('canary', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('call_logs') as batch:
        batch.drop_column('canary')
        batch.drop_column('deployment_id')
    with op.batch_alter_table('deployments') as batch:
        batch.drop_column('canary_end')
        batch.drop_column('canary_base')
        batch.drop_column('canary_percent')
