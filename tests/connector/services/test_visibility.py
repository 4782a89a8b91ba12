"""Who sees logged mail: its owner's choice (owner, team, company) or else the company's policy; administrators see
past visibility; the team of a matter is whoever owns mail filed under it; every change is audited."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from connector.errors import InputError
from connector.models import AuditEntry, Participant, Record, Tenant, User
from connector.services import users, views, visibility_policy, walls
from connector.services.capture import Capture
from connector.services.visibility import reader_for
from tests.conftest import World
from tests.mailbuilder import mail, to_dropbox

ALICE, BOB = "Alice Archer <alice@acme-law.com>", "Bob Baker <bob@acme-law.com>"
MATTER = "acme+10802@bcc.example.com"


def subjects_seen_by(world: World, email: str, record: Record | None = None) -> set[str]:
    with Session(world.engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        reader = reader_for(session, users.get_user(session, email))
        return {m.subject for t in views.communications(session, tenant, record, reader=reader) for m in t.messages}


def log(capture: Capture, sender: str, subject: str, message_id: str, bcc: str = MATTER,
        cc: tuple[str, ...] = ()) -> int:
    applied = capture.process(to_dropbox(mail(sender, ["carol@clientco.com"], cc=list(cc), bcc=[bcc],
                                              subject=subject, message_id=message_id)))
    assert applied.activity_id is not None
    return applied.activity_id


def choose(world: World, activity_id: int, value: str, by: str) -> None:
    with Session(world.engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        reader = reader_for(session, users.get_user(session, by))
        visibility_policy.set_activity_visibility(session, tenant, activity_id, value, reader=reader, by=by)
        session.commit()


def make_admin(world: World) -> None:
    with Session(world.engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        users.create_user(session, tenant, "ada@acme-law.com", "Ada Admin", role="Administrator")
        session.commit()


def test_an_owner_keeps_an_email_to_herself_and_opens_it_again(world: World, capture: Capture) -> None:
    make_admin(world)
    secret = log(capture, ALICE, "Settlement terms", "<v1@acme-law.com>")
    assert subjects_seen_by(world, "bob@acme-law.com") == {"Settlement terms"}  # the company default
    choose(world, secret, "owner", by="alice@acme-law.com")
    assert subjects_seen_by(world, "bob@acme-law.com") == set()
    assert subjects_seen_by(world, "alice@acme-law.com") == {"Settlement terms"}
    assert subjects_seen_by(world, "ada@acme-law.com") == {"Settlement terms"}  # administrators see past it
    choose(world, secret, "policy", by="alice@acme-law.com")
    assert subjects_seen_by(world, "bob@acme-law.com") == {"Settlement terms"}
    with Session(world.engine) as session:
        changes = session.exec(select(AuditEntry).where(AuditEntry.action == "activity.visibility_changed")
                               .order_by(AuditEntry.id)).all()  # type: ignore[arg-type]
    assert [(c.detail["before"], c.detail["after"], c.detail["by"]) for c in changes] == [
        ("policy", "owner", "alice@acme-law.com"), ("owner", "policy", "alice@acme-law.com")]


def test_only_the_owner_or_an_administrator_changes_who_sees_an_email(world: World, capture: Capture) -> None:
    make_admin(world)
    secret = log(capture, ALICE, "Settlement terms", "<v1@acme-law.com>")
    with pytest.raises(InputError, match="only the user who logged this e-mail or an administrator"):
        choose(world, secret, "company", by="bob@acme-law.com")
    choose(world, secret, "owner", by="ada@acme-law.com")
    assert subjects_seen_by(world, "bob@acme-law.com") == set()
    with pytest.raises(InputError, match="visibility must be one of owner, team, company, policy"):
        choose(world, secret, "everyone", by="alice@acme-law.com")


def test_team_mail_is_seen_by_the_people_on_it_and_by_the_matters_team(world: World, capture: Capture) -> None:
    secret = log(capture, ALICE, "Settlement terms", "<v1@acme-law.com>")
    choose(world, secret, "team", by="alice@acme-law.com")
    assert subjects_seen_by(world, "bob@acme-law.com") == set()  # not on it, not on the matter's team
    log(capture, BOB, "Website", "<w1@acme-law.com>", bcc="1001.acme@bcc.example.com")
    assert subjects_seen_by(world, "bob@acme-law.com") == {"Website"}  # a project's team is not the matter's
    log(capture, BOB, "Expert witness", "<e1@acme-law.com>")  # Bob's own mail on the matter: he joins its team
    assert subjects_seen_by(world, "bob@acme-law.com") == {"Website", "Expert witness", "Settlement terms"}


def test_a_user_on_the_email_sees_team_mail(world: World, capture: Capture) -> None:
    secret = log(capture, ALICE, "Settlement terms", "<v1@acme-law.com>", cc=("bob@acme-law.com",))
    choose(world, secret, "team", by="alice@acme-law.com")
    assert subjects_seen_by(world, "bob@acme-law.com") == {"Settlement terms"}
    choose(world, secret, "owner", by="alice@acme-law.com")
    assert subjects_seen_by(world, "bob@acme-law.com") == set()


def test_the_company_policy_applies_to_mail_already_logged_unless_its_owner_chose(world: World,
                                                                                   capture: Capture) -> None:
    log(capture, ALICE, "Settlement terms", "<v1@acme-law.com>")
    shared = log(capture, ALICE, "Hearing date", "<v2@acme-law.com>")
    choose(world, shared, "company", by="alice@acme-law.com")
    with Session(world.engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        visibility_policy.set_company_visibility(session, tenant, "owner", by="ada@acme-law.com")
        session.commit()
    assert subjects_seen_by(world, "bob@acme-law.com") == {"Hearing date"}
    with Session(world.engine) as session:
        bob = session.exec(select(User).where(User.email == "bob@acme-law.com")).one()
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        page = views.communications_page(session, tenant, world.matter, reader=reader_for(session, bob))
        [change] = session.exec(select(AuditEntry).where(AuditEntry.action == "visibility.policy_changed")).all()
    assert page.messages == 1  # the count says what Bob may read, not what exists
    assert (change.detail["before"], change.detail["after"]) == ("company", "owner")


def test_a_user_walled_from_a_contact_sees_no_mail_she_took_part_in_by_address_or_by_record(world: World,
                                                                                            capture: Capture) -> None:
    """The wall finds a contact among the participants two ways: by her address, and by her record when the mail
    names her by another address; each alone hides the mail."""
    by_address = capture.process(to_dropbox(mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject="Lunch",
                                                 message_id="<l1@acme-law.com>"))).activity_id
    by_record = capture.process(to_dropbox(mail(ALICE, ["carol.client@old-firm.example"], bcc=[MATTER],
                                                subject="Old address", message_id="<o1@acme-law.com>"))).activity_id
    log(capture, ALICE, "Board minutes", "<b1@acme-law.com>")  # to Carol as logged: both ways
    capture.process(to_dropbox(mail(ALICE, ["hank@globex.com"], bcc=[MATTER], subject="Expert witness",
                                    message_id="<e1@acme-law.com>")))
    with Session(world.engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        carol = walls.find_target(session, tenant, "contact:carol@clientco.com")
        session.execute(update(Participant).where(Participant.activity_id == by_address,
                                                  Participant.email == "carol@clientco.com").values(record_id=None))
        session.execute(update(Participant).where(Participant.activity_id == by_record,
                                                  Participant.email == "carol.client@old-firm.example")
                        .values(record_id=carol.id))
        walls.add_wall(session, tenant, "contact:carol@clientco.com", "bob@acme-law.com", by="ada@acme-law.com")
        session.commit()
    everything = {"Lunch", "Old address", "Board minutes", "Expert witness"}
    assert subjects_seen_by(world, "alice@acme-law.com", world.matter) == everything
    assert subjects_seen_by(world, "bob@acme-law.com", world.matter) == {"Expert witness"}
