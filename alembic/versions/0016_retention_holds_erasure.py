"""Retention rules, disposal register, legal holds and erasure

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26 07:00:00

A record's close date (retention counted after close), one retention rule per company and record kind, the
disposal register (what was disposed of, when, under which rule: never the content) and legal holds. Erasure
needs no table: it rewrites rows in place and says so in the audit log (`redacted`, `erased`).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from connector.db import UTCDateTime

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        'retentionrule',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('tenant_id', sa.Integer(), sa.ForeignKey('tenant.id'), nullable=False),
        sa.Column('kind', sa.String(), nullable=False),
        sa.Column('years', sa.Integer(), nullable=False),
        sa.Column('days', sa.Integer(), nullable=False),
        sa.Column('trigger', sa.String(), nullable=False),
        sa.Column('created_by', sa.String(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('tenant_id', 'kind'),
    )
    op.create_index('ix_retentionrule_tenant_id', 'retentionrule', ['tenant_id'])
    op.create_table(
        'disposalrecord',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('tenant_id', sa.Integer(), sa.ForeignKey('tenant.id'), nullable=False),
        sa.Column('activity_id', sa.Integer(), sa.ForeignKey('activity.id'), nullable=False),
        sa.Column('internet_message_id', sa.String(), nullable=False),
        sa.Column('rule_id', sa.Integer(), sa.ForeignKey('retentionrule.id'), nullable=True),
        sa.Column('rule', sa.String(), nullable=False),
        sa.Column('record_id', sa.Integer(), sa.ForeignKey('record.id'), nullable=True),
        sa.Column('disposed', sa.JSON(), nullable=False),
        sa.Column('disposed_by', sa.String(), nullable=False),
        sa.Column('disposed_at', UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_disposalrecord_tenant_id', 'disposalrecord', ['tenant_id'])
    op.create_index('ix_disposalrecord_activity_id', 'disposalrecord', ['activity_id'], unique=True)
    op.create_table(
        'legalhold',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('tenant_id', sa.Integer(), sa.ForeignKey('tenant.id'), nullable=False),
        sa.Column('record_id', sa.Integer(), sa.ForeignKey('record.id'), nullable=False),
        sa.Column('reason', sa.String(), nullable=False),
        sa.Column('placed_by', sa.String(), nullable=False),
        sa.Column('placed_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('released_by', sa.String(), nullable=False),
        sa.Column('released_at', UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_legalhold_tenant_id', 'legalhold', ['tenant_id'])
    op.create_index('ix_legalhold_record_id', 'legalhold', ['record_id'])


def downgrade() -> None:
    for table, columns in (('legalhold', ('record_id', 'tenant_id')), ('disposalrecord', ('activity_id', 'tenant_id')),
                           ('retentionrule', ('tenant_id',))):
        for column in columns:
            op.drop_index(f'ix_{table}_{column}', table_name=table)
        op.drop_table(table)
    with op.batch_alter_table('record', schema=None) as batch_op:
        batch_op.drop_column('closed_at')
