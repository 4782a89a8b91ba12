"""External ids for the host system and outbound event webhooks

Records and users get the host system's `external_id` (unique per company, and per kind for records) and an
`updated_at` that the API's change feed pages by (existing rows start at their creation); records can be
archived. The event webhook tables: endpoints, the transactional outbox, deliveries and their attempts.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26 07:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import connector.db

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = connector.db.UTCDateTime(timezone=True)
_TEXT = sqlmodel.sql.sqltypes.AutoString()


def upgrade() -> None:
    for table in ('record', 'user'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('external_id', _TEXT, nullable=True))
            batch.add_column(sa.Column('updated_at', _TIME, nullable=True))
            if table == 'record':
                batch.add_column(sa.Column('archived_at', _TIME, nullable=True))
        op.execute(f'UPDATE "{table}" SET updated_at = created_at')
        with op.batch_alter_table(table) as batch:
            batch.alter_column('updated_at', existing_type=_TIME, nullable=False)
            keys = ['tenant_id', 'kind', 'external_id'] if table == 'record' else ['tenant_id', 'external_id']
            batch.create_unique_constraint(f'uq_{table}_external_id', keys)
            batch.create_index(f'ix_{table}_tenant_updated', ['tenant_id', 'updated_at', 'id'])
    _create_webhook_tables()


def _create_webhook_tables() -> None:
    op.create_table(
        'webhookendpoint',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('url', _TEXT, nullable=False),
        sa.Column('description', _TEXT, nullable=False),
        sa.Column('secret', sa.Text(), nullable=False),
        sa.Column('event_types', sa.JSON(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_by', _TEXT, nullable=False),
        sa.Column('created_at', _TIME, nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_webhookendpoint_tenant_id', 'webhookendpoint', ['tenant_id'])
    op.create_table(
        'eventoutbox',
        sa.Column('id', _TEXT, nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('type', _TEXT, nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('created_at', _TIME, nullable=False),
        sa.Column('dispatched_at', _TIME, nullable=True),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_eventoutbox_tenant_id', 'eventoutbox', ['tenant_id'])
    op.create_index('ix_eventoutbox_undispatched', 'eventoutbox', ['dispatched_at', 'created_at'])
    op.create_table(
        'webhookdelivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('event_id', _TEXT, nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('status', _TEXT, nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', _TIME, nullable=True),
        sa.Column('last_attempt_at', _TIME, nullable=True),
        sa.Column('response_code', sa.Integer(), nullable=True),
        sa.Column('last_error', _TEXT, nullable=False),
        sa.Column('delivered_at', _TIME, nullable=True),
        sa.Column('created_at', _TIME, nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id']),
        sa.ForeignKeyConstraint(['event_id'], ['eventoutbox.id']),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhookendpoint.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    for column in ('tenant_id', 'event_id', 'endpoint_id'):
        op.create_index(f'ix_webhookdelivery_{column}', 'webhookdelivery', [column])
    op.create_index('ix_webhookdelivery_due', 'webhookdelivery', ['status', 'next_attempt_at'])
    op.create_table(
        'webhookattempt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=False),
        sa.Column('at', _TIME, nullable=False),
        sa.Column('response_code', sa.Integer(), nullable=True),
        sa.Column('error', _TEXT, nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['delivery_id'], ['webhookdelivery.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_webhookattempt_delivery_id', 'webhookattempt', ['delivery_id'])


def downgrade() -> None:
    for table in ('webhookattempt', 'webhookdelivery', 'eventoutbox', 'webhookendpoint'):
        op.drop_table(table)
    for table in ('user', 'record'):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f'ix_{table}_tenant_updated')
            batch.drop_constraint(f'uq_{table}_external_id', type_='unique')
            batch.drop_column('updated_at')
            batch.drop_column('external_id')
            if table == 'record':
                batch.drop_column('archived_at')
