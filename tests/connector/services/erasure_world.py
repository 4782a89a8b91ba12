"""A company whose mail names Zelda Quist everywhere a person can be named, and a scan of every column."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from connector.db import transaction
from connector.dropbox.spool import Received, store
from connector.models import Blob, User
from connector.services import activities, privacy, quarantine, records
from connector.services.capture import Capture
from connector.storage.factory import deployment_store
from tests.conftest import World
from tests.mailbuilder import in_mailbox, mail, to_dropbox

ZELDA = "zelda.quist@clientco.com"
TRACES = (ZELDA, "zelda.quist", "zelda quist")  # the address, its local part, her display name
ALICE = "Alice Archer <alice@acme-law.com>"
STATEMENT = ("statement.txt", "text/plain", b"Witness statement of Zelda Quist, 2 March 2026.\n")
PDF = ("brief.pdf", "application/pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")


@dataclass
class Filed:
    to_matter: int  # Alice to Zelda, Bcc the matter, with her statement and a brief attached
    reply: int  # Zelda's reply, read from Alice's mailbox
    mention: int  # Alice to Carol about Zelda (Zelda not on it), filed under the matter
    carol_only: int  # Alice to Carol: nothing of Zelda


def file_zelda_everywhere(world: World, capture: Capture) -> Filed:
    """Her mail in every shape the connector keeps, before and after she became a contact."""
    z = f"Zelda Quist <{ZELDA}>"
    unassigned = capture.process(to_dropbox(mail(ALICE, [z], bcc=["notes@bcc.example.com"], subject="Intro",
                                                 message_id="<intro@acme>")))
    assert unassigned.unassigned_id, unassigned
    with transaction(world.engine) as session:
        records.create_record(session, world.tenant, "contact", email=ZELDA, name="Zelda Quist")
        bob = session.get(User, world.bob.id)
        assert bob is not None
        privacy.set_user_policy(session, bob, never_file=[ZELDA, "@family.example"], by="bob")
    first = capture.process(to_dropbox(mail(
        ALICE, [z], cc=["Carol Client <carol@clientco.com>"], bcc=["acme+10802@bcc.example.com"],
        subject="Your statement, Zelda Quist", body="Dear Zelda Quist,\n\nattached.\n", message_id="<s1@acme>",
        attachments=[STATEMENT, PDF], date=datetime(2026, 3, 2, 9, tzinfo=UTC))))
    reply = capture.process(in_mailbox(mail(z, ["alice@acme-law.com"], subject="Re: Your statement",
                                            body="Thanks!\nZelda\n-- \nzelda.quist@clientco.com\n",
                                            message_id="<r1.zelda.quist@clientco.com>", in_reply_to="<s1@acme>",
                                            references=["<s1@acme>"]), "alice@acme-law.com"))
    mention = capture.process(to_dropbox(mail(ALICE, ["Carol Client <carol@clientco.com>"],
                                              bcc=["acme+10802@bcc.example.com"], subject="About the witness",
                                              body="Zelda Quist will testify.", message_id="<m1@acme>")))
    carol = capture.process(to_dropbox(mail(ALICE, ["Carol Client <carol@clientco.com>"],
                                            bcc=["acme+10802@bcc.example.com"], subject="Fees", message_id="<f1@acme>",
                                            attachments=[PDF])))
    capture.process(to_dropbox(mail(ALICE, [z], bcc=["acme+99999@bcc.example.com"], message_id="<x@acme>")))
    _quarantine_and_spool(world, z)
    assert first.activity_id and reply.activity_id and mention.activity_id and carol.activity_id
    with transaction(world.engine) as session:  # an unlog: the audit keeps who the mail was from
        activities.unlog(session, world.tenant, reply.activity_id, by="alice@acme-law.com")
    return Filed(first.activity_id, reply.activity_id, mention.activity_id, carol.activity_id)


def _quarantine_and_spool(world: World, z: str) -> None:
    raw = mail(z, ["alice@acme-law.com"], subject="Forged?", message_id="<q1@clientco>")
    with transaction(world.engine) as session:
        quarantine.quarantine(session, raw, quarantine.UNAUTHENTICATED, source="smtp", tenant_id=world.tenant.id,
                              user_id=world.alice.id, verdict=f"spf=fail smtp.mailfrom={ZELDA}",
                              envelope_recipients=["acme+10802@bcc.example.com"])
    store(world.engine, Received(raw, ZELDA, ("acme+10802@bcc.example.com",), "127.0.0.1", "mx.clientco.com"))


def traces(engine: Engine, wanted: tuple[str, ...] = TRACES) -> list[str]:
    """Every table.column (of every table in the database, whoever made it) holding one of ``wanted``."""
    schema = MetaData()
    schema.reflect(engine)
    found = []
    with engine.connect() as connection:
        for table in schema.sorted_tables:
            for row in connection.execute(select(table)).mappings():
                for column, value in row.items():
                    text = _as_text(value).lower()
                    found += [f"{table.name}.{column}: {w}" for w in wanted if w in text]
    return sorted(set(found))


def stored_traces(engine: Engine, wanted: tuple[str, ...] = TRACES) -> list[str]:
    """The blobs (original messages, attachments) whose content, read back through the store, holds one of
    ``wanted``: the store keeps them sealed, so the column scan cannot see into them."""
    with Session(engine) as session:
        store = deployment_store(session)
        found = []
        for tenant_id, sha256 in session.exec(select(Blob.tenant_id, Blob.sha256)).all():
            text = _as_text(store.get(tenant_id, sha256)).lower()
            found += [f"blob {sha256[:12]}: {w}" for w in wanted if w in text]
    return sorted(set(found))


def _as_text(value: object) -> str:
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        return value.decode("latin-1") + value.decode("utf-16-le", "ignore")
    return "" if value is None else str(value)
