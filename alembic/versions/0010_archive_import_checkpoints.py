"""importcheckpoint: how far each source of an archive import has been filed (resumable imports)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 05:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import connector.db

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'importcheckpoint',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('mailbox', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('position', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('messages', sa.Integer(), nullable=False),
        sa.Column('tally', sa.JSON(), nullable=False),
        sa.Column('finished_at', connector.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('updated_at', connector.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tenant_id', 'mailbox', 'source'),
    )
    with op.batch_alter_table('importcheckpoint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_importcheckpoint_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('importcheckpoint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_importcheckpoint_tenant_id'))
    op.drop_table('importcheckpoint')
