"""mailbox.sync_from: capture mail from the moment of connecting, not from the first sync

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 00:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.db

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('mailbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sync_from', connector.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mailbox', schema=None) as batch_op:
        batch_op.drop_column('sync_from')
