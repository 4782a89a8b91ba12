"""Each company may choose how strictly dropbox mail's sender must authenticate

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 06:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tenant') as batch:
        batch.add_column(sa.Column('sender_authentication', sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tenant') as batch:
        batch.drop_column('sender_authentication')
