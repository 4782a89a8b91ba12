"""threadbackfill.provider_message_id, thread_key: a thread's backlog is a row, read after the commit

The sync commit no longer calls the provider for the earlier messages of a thread it opens: it
records the opening copy's ids here, and the step reads the thread outside the transaction.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('threadbackfill', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider_message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('thread_key', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('threadbackfill', schema=None) as batch_op:
        batch_op.drop_column('thread_key')
        batch_op.drop_column('provider_message_id')
