"""auditentry: an index for a company's entries of one action, newest first

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-26 13:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_auditentry_tenant_action_id', 'auditentry', ['tenant_id', 'action', 'id'])


def downgrade() -> None:
    op.drop_index('ix_auditentry_tenant_action_id', table_name='auditentry')
