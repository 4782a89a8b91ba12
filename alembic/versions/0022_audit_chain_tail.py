"""auditentry: the end of a company's chain found by index (tenant_id, seq) instead of sorting all its entries

Sealing a transaction's entries reads the company's last chained entry and its unchained ones. By the company
alone, each seal sorted every entry the company had: an archive import slowed as its audit trail grew.
The company-only index stays: the audit page lists a company's newest entries in id order from it.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-26 17:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_auditentry_tenant_seq', 'auditentry', ['tenant_id', 'seq'])


def downgrade() -> None:
    op.drop_index('ix_auditentry_tenant_seq', table_name='auditentry')
