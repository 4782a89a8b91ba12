"""parkedreply: replies with an edited subject that arrive before their conversation is logged

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-26 08:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from connector.db import UTCDateTime

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'parkedreply',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('mailbox_id', sa.Integer(), nullable=False),
        sa.Column('internet_message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('ref_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('seen_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['mailbox_id'], ['mailbox.id']),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('mailbox_id', 'internet_message_id', 'ref_hash'),
    )
    op.create_index('ix_parkedreply_tenant_id', 'parkedreply', ['tenant_id'])
    op.create_index('ix_parkedreply_mailbox_id', 'parkedreply', ['mailbox_id'])
    op.create_index('ix_parkedreply_ref_hash', 'parkedreply', ['ref_hash'])


def downgrade() -> None:
    op.drop_table('parkedreply')
