"""spool, quarantine: the SMTP dropbox stores each message before answering 250; unauthenticated mail is kept

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 04:17:59.971906
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import connector.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('quarantine',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('verdict', sa.Text(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('envelope_recipients', sa.JSON(), nullable=False),
    sa.Column('internet_message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('from_email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('created_at', connector.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('released_at', connector.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_by', sa.Integer(), nullable=True),
    sa.Column('deleted_at', connector.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['deleted_by'], ['user.id'], ),
    sa.ForeignKeyConstraint(['released_by'], ['user.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantine_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quarantine_user_id'), ['user_id'], unique=False)

    op.create_table('spool',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', connector.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('mail_from', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('rcpt_tos', sa.JSON(), nullable=False),
    sa.Column('peer_ip', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('helo', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tls', sa.Boolean(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('not_before', connector.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('filed_at', connector.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('authentication', sa.Text(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('spool', schema=None) as batch_op:
        batch_op.create_index('ix_spool_state_id', ['state', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('spool', schema=None) as batch_op:
        batch_op.drop_index('ix_spool_state_id')

    op.drop_table('spool')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantine_user_id'))
        batch_op.drop_index(batch_op.f('ix_quarantine_tenant_id'))

    op.drop_table('quarantine')
