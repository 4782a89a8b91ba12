"""user.session_epoch, verification-code limits: sign-out ends the session server-side; codes expire,
allow a few attempts and are issued a few times a day

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.db

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('codes_sent', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('codes_since', connector.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('senderaddress', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('code_expires_at', connector.db.UTCDateTime(timezone=True), nullable=True))
    # Codes issued before this revision were unsalted SHA-256 without expiry: void them (a new one is asked for).
    op.execute("UPDATE senderaddress SET code_hash = '' WHERE verified_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('senderaddress', schema=None) as batch_op:
        batch_op.drop_column('code_expires_at')
        batch_op.drop_column('code_attempts')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('codes_since')
        batch_op.drop_column('codes_sent')
        batch_op.drop_column('session_epoch')
