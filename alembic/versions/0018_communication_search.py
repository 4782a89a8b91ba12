"""Full-text search over communications, and the indexes the Communications tab pages by

SQLite: FTS5 external-content tables over activity (subject, sender, text) and participant (address, name),
kept in step by triggers, so every writer (the bulk one too) indexes its rows in its own transaction.
PostgreSQL: a generated tsvector column on each, with a GIN index. Both index the rows already there.
Words are runs of letters and digits on both (punctuation is a separator: an address is several words).
connector/services/search.py is the one reader.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26 07:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMELINE = ("tenant_id", "id", "thread_id", "sent_at", "unlogged_at")
SEARCHED = {"activity": ("subject", "from_name", "from_email", "text"), "participant": ("email", "name")}
# PostgreSQL: a tsvector holds at most 1 MB; the first 200,000 characters of a body are searched
_PG_WORDS = ("to_tsvector('simple'::regconfig, regexp_replace(left({}, 200000), '[^[:alnum:]]+', ' ', 'g'))")


def upgrade() -> None:
    # the Communications tab: a thread's messages, a record's and a person's mail, without reading the rows;
    # the timeline index answers a page's counts and order from the index alone (PostgreSQL read the table)
    op.create_index('ix_activity_thread_sent', 'activity', ['thread_id', 'sent_at'])
    op.create_index('ix_activity_timeline', 'activity', [*TIMELINE])
    op.create_index('ix_activitylink_record_activity', 'activitylink', ['record_id', 'activity_id'])
    op.create_index('ix_participant_email_role', 'participant', ['email', 'role', 'activity_id'])
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in SEARCHED.items():
            joined = " || ' ' || ".join(f'coalesce("{c}", \'\')' for c in columns)
            op.execute(f'ALTER TABLE {table} ADD COLUMN search tsvector '
                       f'GENERATED ALWAYS AS ({_PG_WORDS.format(joined)}) STORED')
            op.execute(f'CREATE INDEX ix_{table}_search ON {table} USING gin (search)')
        return
    for table, columns in SEARCHED.items():
        _sqlite_search(table, columns)


def _sqlite_search(table: str, columns: tuple[str, ...]) -> None:
    fts = f"{table}_search"
    names = ", ".join(columns)
    new, old = (", ".join(f"{side}.{c}" for c in columns) for side in ("new", "old"))
    op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', content_rowid='id', "
               "tokenize='unicode61 remove_diacritics 2')")
    insert = f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new});"
    delete = f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old});"
    op.execute(f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {insert} END")
    op.execute(f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {delete} END")
    op.execute(f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {names} ON {table} BEGIN {delete} {insert} END")
    op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in SEARCHED:
            op.execute(f'DROP INDEX ix_{table}_search')
            op.execute(f'ALTER TABLE {table} DROP COLUMN search')
    else:
        for table in SEARCHED:
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER {table}_search_{event}")
            op.execute(f"DROP TABLE {table}_search")
    op.drop_index('ix_participant_email_role', table_name='participant')
    op.drop_index('ix_activitylink_record_activity', table_name='activitylink')
    op.drop_index('ix_activity_timeline', table_name='activity')
    op.drop_index('ix_activity_thread_sent', table_name='activity')
