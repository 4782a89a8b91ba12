"""Administrators may use email capture; a contact's timeline finds the mail they took part in by address

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 09:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Companies created before: their Administrator role gets the permission new companies start with.
    # Nobody's mailbox changes state here; an administrator switches capture on for themselves as anyone does.
    op.execute("INSERT INTO rolepermission (role_id, permission) SELECT r.id, 'use_email_capture' FROM role r "
               "WHERE r.name = 'Administrator' AND NOT EXISTS (SELECT 1 FROM rolepermission p "
               "WHERE p.role_id = r.id AND p.permission = 'use_email_capture')")
    op.create_index('ix_participant_email', 'participant', ['email'])


def downgrade() -> None:
    op.drop_index('ix_participant_email', table_name='participant')
