"""Ethical walls, per-activity visibility and the view audit

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 07:00:00

Walls, the company's visibility policy and an owner's choice per e-mail live in tables of their own: no row
means "the whole company", so existing mail and companies keep what they had. Views and downloads are
audit entries (`activity.viewed`, `attachment.downloaded`): no table of their own.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from connector.db import UTCDateTime

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'wall',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('tenant_id', sa.Integer(), sa.ForeignKey('tenant.id'), nullable=False),
        sa.Column('record_id', sa.Integer(), sa.ForeignKey('record.id'), nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('user.id'), nullable=False),
        sa.Column('created_by', sa.String(), nullable=False),
        sa.Column('reason', sa.String(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('record_id', 'user_id'),
    )
    for column in ('tenant_id', 'record_id', 'user_id'):
        op.create_index(f'ix_wall_{column}', 'wall', [column])
    op.create_table(
        'visibilitypolicy',
        sa.Column('tenant_id', sa.Integer(), sa.ForeignKey('tenant.id'), primary_key=True),
        sa.Column('visibility', sa.String(), nullable=False),
        sa.Column('changed_by', sa.String(), nullable=False),
        sa.Column('changed_at', UTCDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'activityvisibility',
        sa.Column('activity_id', sa.Integer(), sa.ForeignKey('activity.id'), primary_key=True),
        sa.Column('visibility', sa.String(), nullable=False),
        sa.Column('set_by', sa.String(), nullable=False),
        sa.Column('set_at', UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('activityvisibility')
    op.drop_table('visibilitypolicy')
    for column in ('user_id', 'record_id', 'tenant_id'):
        op.drop_index(f'ix_wall_{column}', table_name='wall')
    op.drop_table('wall')
