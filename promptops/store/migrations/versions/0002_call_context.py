"""Call context: where a logged call came from (source), the messages after the prompt's
(extra_messages), user id, session id, tags and metadata.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('call_logs') as batch:
        batch.add_column(sa.Column('source', sa.String(), nullable=True))
        batch.add_column(sa.Column('extra_messages', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('user_id', sa.String(), nullable=True))
        batch.add_column(sa.Column('session_id', sa.String(), nullable=True))
        batch.add_column(sa.Column('tags', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('meta', sa.JSON(), nullable=True))
    op.create_index(op.f('ix_call_logs_user_id'), 'call_logs', ['user_id'], unique=False)
    op.create_index(op.f('ix_call_logs_session_id'), 'call_logs', ['session_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_call_logs_session_id'), table_name='call_logs')
    op.drop_index(op.f('ix_call_logs_user_id'), table_name='call_logs')
    with op.batch_alter_table('call_logs') as batch:
        batch.drop_column('meta')
        batch.drop_column('tags')
        batch.drop_column('session_id')
        batch.drop_column('user_id')
        batch.drop_column('extra_messages')
        batch.drop_column('source')
