"""importjob: archives uploaded in the console or through the API, imported by the workers;
directoryversion: the per-company directory version that invalidates the routing caches

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-26 07:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import connector.db

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    when = connector.db.UTCDateTime(timezone=True)
    op.create_table(
        'importjob',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('mailbox', text(), nullable=False),
        sa.Column('via', text(), nullable=False),
        sa.Column('created_by', text(), nullable=False),
        sa.Column('filename', text(), nullable=False),
        sa.Column('directory', text(), nullable=False),
        sa.Column('bytes', sa.Integer(), nullable=False),
        sa.Column('state', text(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=True),
        sa.Column('created_at', when, nullable=False),
        sa.Column('started_at', when, nullable=True),
        sa.Column('finished_at', when, nullable=True),
        sa.Column('lease_owner', text(), nullable=True),
        sa.Column('lease_until', when, nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('run_started_at', when, nullable=True),
        sa.Column('run_start_messages', sa.Integer(), nullable=False),
        sa.Column('error', text(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('importjob', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_importjob_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_importjob_state'), ['state'], unique=False)
    op.create_table(
        'directoryversion',
        sa.Column('tenant_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('tenant_id'),
    )


def downgrade() -> None:
    op.drop_table('directoryversion')
    with op.batch_alter_table('importjob', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_importjob_state'))
        batch_op.drop_index(batch_op.f('ix_importjob_tenant_id'))
    op.drop_table('importjob')
