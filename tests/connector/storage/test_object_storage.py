"""Raw messages and attachments kept in an S3 bucket (a real S3-compatible server on loopback) or in the
database: sealed with each company's key in both, one copy per company, readable back byte for byte, and
deletable once nothing refers to them."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass

import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connector.config import Settings
from connector.crypto import CompanyCipher
from connector.db import transaction
from connector.errors import ConfigError
from connector.models import Activity, Attachment, Blob, Record, Tenant
from connector.models.mail import RawMessage
from connector.services import activities, records, users
from connector.services.capture import Capture
from connector.services.export import Scope, export
from connector.storage.factory import blob_store
from connector.storage.ports import BlobMissing, StorageUnavailable
from connector.storage.release import release
from connector.storage.settings import StorageBackend, StorageSettings
from tests.conftest import FIXED_NOW, World, enabled_company
from tests.connector.conftest import Bucket
from tests.mailbuilder import mail, to_dropbox

ALICE = "Alice Archer <alice@acme-law.com>"
CONTRACT = ("contract.pdf", "application/pdf", b"%PDF-1.4\nThe settlement terms, confidential.\n%%EOF\n")


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True)
class Company:
    tenant: Tenant
    sender: str
    matter: str  # its matter's dropbox address


def second_company(engine: Engine) -> Company:
    """Globex Legal, a second firm using the same deployment, with a matter 10802 of its own."""
    with transaction(engine) as session:
        tenant = enabled_company(session, "Globex Legal", "globex", "globex-legal.com")
        users.set_capture(session, users.create_user(session, tenant, "gina@globex-legal.com", "Gina"), True)
        records.create_record(session, tenant, "matter", number="10802", title="Globex v. Initrode")
    return Company(tenant, "Gina <gina@globex-legal.com>", "globex+10802@bcc.example.com")


def file_contract(capture: Capture, sender: str, matter: str, message_id: str) -> bytes:
    raw = mail(sender, ["carol@clientco.com"], bcc=[matter], subject="The contract", message_id=message_id,
               attachments=[CONTRACT])
    assert capture.process(to_dropbox(raw)).activity_id is not None
    return raw


def export_zip(engine: Engine, settings: Settings, tenant: Tenant) -> dict[str, bytes]:
    out = io.BytesIO()
    with Session(engine) as session:
        export(session, tenant, Scope(matter="10802"), out, store=blob_store(settings, session))
        session.commit()
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_raw_mime_and_attachments_go_to_the_bucket_sealed_and_come_back_byte_for_byte(
        world: World, settings: Settings, bucket: Bucket) -> None:
    in_s3 = bucket.storing(settings)
    raw = file_contract(Capture(world.engine, in_s3, clock=lambda: FIXED_NOW), ALICE,
                        "acme+10802@bcc.example.com", "<contract@acme>")
    tenant_id = world.tenant.id
    assert bucket.object_keys() == sorted(f"bcc-capture/{tenant_id}/{sha(c)}" for c in (raw, CONTRACT[2]))
    for key in bucket.object_keys():  # what the bucket holds is not the mail: no subject, no document text
        stored = bucket.read(key)
        assert b"The contract" not in stored and b"settlement terms" not in stored and b"%PDF" not in stored
    with Session(world.engine) as session:
        rows = session.execute(select(Blob.location, Blob.content)).all()
        assert {location for location, _ in rows} == {f"s3://{bucket.name}/{key}" for key in bucket.object_keys()}
        assert {content for _, content in rows} == {None}  # the database keeps only the catalogue
        attachment = session.scalars(select(Attachment)).one()
        _, content, _ = activities.get_attachment(session, world.tenant, attachment.id,
                                                  store=blob_store(in_s3, session))
    assert content == CONTRACT[2]
    files = export_zip(world.engine, in_s3, world.tenant)
    eml = next(name for name in files if name.endswith("message.eml"))
    assert files[eml] == raw
    assert files[eml.replace("message.eml", "attachments/contract.pdf")] == CONTRACT[2]


def test_the_same_attachment_in_two_companies_is_two_objects_and_erasing_one_leaves_the_other(
        world: World, settings: Settings, bucket: Bucket) -> None:
    in_s3 = bucket.storing(settings)
    globex = second_company(world.engine)
    capture = Capture(world.engine, in_s3, clock=lambda: FIXED_NOW)
    file_contract(capture, ALICE, "acme+10802@bcc.example.com", "<acme-copy@acme>")
    file_contract(capture, globex.sender, globex.matter, "<globex-copy@globex>")
    digest = sha(CONTRACT[2])
    ours, theirs = f"bcc-capture/{world.tenant.id}/{digest}", f"bcc-capture/{globex.tenant.id}/{digest}"
    assert {ours, theirs} <= set(bucket.object_keys())
    assert bucket.read(ours) != bucket.read(theirs)  # each sealed with its company's key

    with transaction(world.engine) as session:  # Acme erases its mail, as retention would
        acme_mail = select(Activity.id).where(Activity.tenant_id == world.tenant.id)
        digests = set(session.scalars(select(Attachment.sha256).where(Attachment.activity_id.in_(acme_mail))))
        digests |= set(session.scalars(select(RawMessage.sha256).where(RawMessage.activity_id.in_(acme_mail))))
        session.execute(delete(Attachment).where(Attachment.activity_id.in_(acme_mail)))
        session.execute(delete(RawMessage).where(RawMessage.activity_id.in_(acme_mail)))
        store = blob_store(in_s3, session)
        assert release(session.connection(), store, globex.tenant.id, [digest]) == []  # Globex's is still in use
        assert sorted(release(session.connection(), store, world.tenant.id, digests)) == sorted(digests)
    assert ours not in bucket.object_keys() and theirs in bucket.object_keys()
    with Session(world.engine) as session:
        store = blob_store(in_s3, session)
        assert store.get(globex.tenant.id, digest) == CONTRACT[2]
        with pytest.raises(BlobMissing):
            store.get(world.tenant.id, digest)


def test_in_the_database_each_company_has_its_own_sealed_copy(world: World, settings: Settings) -> None:
    assert settings.storage.backend is StorageBackend.DATABASE  # the embedded default
    globex = second_company(world.engine)
    capture = Capture(world.engine, settings, clock=lambda: FIXED_NOW)
    file_contract(capture, ALICE, "acme+10802@bcc.example.com", "<acme-copy@acme>")
    file_contract(capture, globex.sender, globex.matter, "<globex-copy@globex>")
    with Session(world.engine) as session:
        rows = {tenant_id: content for tenant_id, content in session.execute(
            select(Blob.tenant_id, Blob.content).where(Blob.sha256 == sha(CONTRACT[2])))}
        assert set(rows) == {world.tenant.id, globex.tenant.id}
        assert all(b"settlement terms" not in content for content in rows.values())
        cipher = CompanyCipher.from_settings(settings)
        assert cipher.open(globex.tenant.id, rows[globex.tenant.id]) == CONTRACT[2]
        with pytest.raises(ConfigError):  # Acme's copy does not open with Globex's key
            cipher.open(globex.tenant.id, rows[world.tenant.id])
    files = export_zip(world.engine, settings, globex.tenant)
    assert [content for name, content in files.items() if name.endswith("contract.pdf")] == [CONTRACT[2]]


def test_an_unreachable_bucket_files_nothing_so_the_mail_is_tried_again(world: World, settings: Settings) -> None:
    away = settings.model_copy(update={"storage": StorageSettings(
        backend=StorageBackend.S3, bucket="mail", endpoint_url="http://127.0.0.1:9", region="eu-west-1",
        access_key_id="AKIAEXAMPLE", secret_access_key="example-secret")})
    with pytest.raises(StorageUnavailable):
        file_contract(Capture(world.engine, away, clock=lambda: FIXED_NOW), ALICE, "acme+10802@bcc.example.com",
                      "<while-away@acme>")
    with Session(world.engine) as session:  # no activity without its content: the whole transaction rolled back
        assert session.scalars(select(Activity)).all() == []
        assert session.scalars(select(Blob)).all() == []
        assert session.scalars(select(Record).where(Record.kind == "matter")).all() != []


def test_a_bucket_that_does_not_exist_is_a_configuration_error_naming_the_setting(
        world: World, settings: Settings, bucket: Bucket) -> None:
    missing = settings.model_copy(update={"storage": bucket.storing(settings).storage.model_copy(
        update={"bucket": bucket.name + "-typo"})})
    with pytest.raises(ConfigError, match="storage"):
        file_contract(Capture(world.engine, missing, clock=lambda: FIXED_NOW), ALICE, "acme+10802@bcc.example.com",
                      "<typo@acme>")
