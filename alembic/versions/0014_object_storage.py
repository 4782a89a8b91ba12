"""Raw messages and attachments per company, sealed with its key, in the database or an object store

The blob table was one row per distinct content across every company. It becomes one row per company and
content (primary key tenant_id + sha256), sealed with the company's key (connector.crypto.CompanyCipher),
with a location: "database" (the content in the row) or the S3 object holding it. Existing content is
given to each company whose mail refers to it (a blob two companies shared becomes two rows) and sealed;
content nothing refers to is dropped. Attachments and raw messages keep their sha256 without a foreign key:
the blob is the activity's company's (connector/storage).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 07:00:00
"""
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 200
# SQLite's foreign keys have no names; batch mode finds them by this convention.
_SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_REFERRERS = ('attachment', 'rawmessage')


def upgrade() -> None:
    for table in _REFERRERS:
        with _batch(table) as batch:
            batch.drop_constraint(_fk_name(table), type_='foreignkey')
    with op.batch_alter_table('attachment') as batch:
        batch.create_index('ix_attachment_sha256', ['sha256'], unique=False)
    op.create_table(
        'blob_new',
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('location', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name='fk_blob_tenant_id_tenant'),
        sa.PrimaryKeyConstraint('tenant_id', 'sha256', name='pk_blob_tenant_sha256'),
    )
    _copy_per_company()
    op.drop_table('blob')
    op.rename_table('blob_new', 'blob')


def _copy_per_company() -> None:
    """Each company's copy of the content its mail refers to, sealed with its key (asked for only when there
    is content to seal)."""
    connection = op.get_bind()
    pairs = connection.execute(sa.text(
        "SELECT DISTINCT activity.tenant_id, x.sha256 FROM (SELECT activity_id, sha256 FROM attachment "
        "UNION SELECT activity_id, sha256 FROM rawmessage) x JOIN activity ON activity.id = x.activity_id "
        "JOIN blob ON blob.sha256 = x.sha256 ORDER BY 1, 2")).all()
    if not pairs:
        return
    seal = _cipher().seal
    for start in range(0, len(pairs), _CHUNK):
        part = pairs[start:start + _CHUNK]
        contents = dict(connection.execute(sa.text("SELECT sha256, content FROM blob WHERE sha256 IN :digests")
                                           .bindparams(sa.bindparam('digests', expanding=True)),
                                           {"digests": sorted({sha for _, sha in part})}).all())
        connection.execute(sa.text("INSERT INTO blob_new (tenant_id, sha256, size, location, content) "
                                   "VALUES (:tenant_id, :sha256, :size, 'database', :content)"),
                           [{"tenant_id": tenant_id, "sha256": sha, "size": len(contents[sha]),
                             "content": seal(tenant_id, bytes(contents[sha]))} for tenant_id, sha in part])


def downgrade() -> None:
    connection = op.get_bind()
    elsewhere = connection.execute(sa.text("SELECT count(*) FROM blob WHERE location <> 'database'")).scalar_one()
    if elsewhere:
        raise RuntimeError(f"{elsewhere} blobs are kept in an object store, which the schema before 0014 cannot "
                           "read: downgrading would lose them")
    op.create_table(
        'blob_old',
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('sha256', name='pk_blob_sha256'),
    )
    _copy_shared(connection)
    op.drop_table('blob')
    op.rename_table('blob_old', 'blob')
    with op.batch_alter_table('attachment') as batch:
        batch.drop_index('ix_attachment_sha256')
    for table in _REFERRERS:
        with _batch(table) as batch:
            batch.create_foreign_key(_fk_name(table), 'blob', ['sha256'], ['sha256'])


def _copy_shared(connection: sa.Connection) -> None:
    rows = connection.execute(sa.text("SELECT tenant_id, sha256, content FROM blob ORDER BY sha256, tenant_id")).all()
    if not rows:
        return
    unseal: Callable[[int, bytes], bytes] = _cipher().open
    seen: set[str] = set()
    for tenant_id, sha, content in rows:
        if sha in seen:
            continue
        seen.add(sha)
        plain = unseal(tenant_id, bytes(content))
        connection.execute(sa.text("INSERT INTO blob_old (sha256, size, content) VALUES (:sha, :size, :content)"),
                           {"sha": sha, "size": len(plain), "content": plain})


def _cipher() -> Any:  # imported late: only a database with content to seal needs the key
    from connector.config import load_settings
    from connector.crypto import CompanyCipher

    return CompanyCipher.from_settings(load_settings())


def _batch(table: str) -> Any:
    return op.batch_alter_table(table, naming_convention=_SQLITE_NAMES)


def _fk_name(table: str) -> str:
    """PostgreSQL named the constraint <table>_<column>_fkey; SQLite's is found by the batch convention."""
    return f'{table}_sha256_fkey' if op.get_bind().dialect.name == 'postgresql' else f'fk_{table}_sha256_blob'
