"""privacy settings (tenant, user), the audit hash chain, raw messages kept for export

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('file_internal_mail', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('headers_only', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('blocked_labels', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('headers_only_labels', sa.JSON(), nullable=False, server_default='[]'))
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('never_file', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('headers_only', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('auditentry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_auditentry_seq'), ['seq'], unique=False)
    op.create_table(
        'rawmessage',
        sa.Column('activity_id', sa.Integer(), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(['activity_id'], ['activity.id']),
        sa.ForeignKeyConstraint(['sha256'], ['blob.sha256']),
        sa.PrimaryKeyConstraint('activity_id'),
    )
    with op.batch_alter_table('rawmessage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rawmessage_sha256'), ['sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rawmessage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rawmessage_sha256'))
    op.drop_table('rawmessage')
    with op.batch_alter_table('auditentry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auditentry_seq'))
        for column in ('hash', 'prev_hash', 'seq'):
            batch_op.drop_column(column)
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('headers_only')
        batch_op.drop_column('never_file')
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        for column in ('headers_only_labels', 'blocked_labels', 'headers_only', 'file_internal_mail'):
            batch_op.drop_column(column)
