"""Filing a batch in one transaction writes exactly the rows that one transaction per message writes.

`capture_batch` asks a batch's look-ups up front and inserts most rows at the end, remembering in between
what the batch itself wrote; `Capture.process_all` files each message in a transaction of its own, reading
everything from the database. Generated conversations (replies, copies in two mailboxes and at the dropbox,
every address scheme, missing subjects, #references, attachments) go through both, page by page, and every
row of every table capture writes is compared, ids replaced by what they name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from connector.config import Settings, load_settings
from connector.crypto import CompanyCipher
from connector.db import transaction
from connector.mail.envelope import Envelope
from connector.routing.apply import Applied
from connector.services.capture import Capture, capture_batch
from tests.conftest import FIXED_NOW, _empty, build_world
from tests.mailbuilder import in_mailbox, mail, to_dropbox

TOKENS = {"alice@acme-law.com": "abcdefghijkm", "bob@acme-law.com": "bcdefghijkmn"}  # fixed: both runs alike
PEOPLE = ["Alice Archer <alice@acme-law.com>", "Bob Baker <bob@acme-law.com>", "Carol <carol@clientco.com>",
          "hank@globex.com", "Mindy <mindy@globex.com>", "peter@initech.com", "Zed <zed@stranger.example>",
          "yan@stranger.example"]
DROPBOXES = ["acme+10802@bcc.example.com", "1001.acme@bcc.example.com", "acme@bcc.example.com",
             "notes@bcc.example.com", "acme+99999@bcc.example.com", "dropbox-abcdefghijkm@bcc.example.com",
             "case-abcdefghijkm@bcc.example.com", "task-tomorrow-abcdefghijkm@bcc.example.com",
             "dropbox-bcdefghijkmn@bcc.example.com"]
SUBJECTS = ["Draft", "Re: Draft", "", "Renewal #CO34322", "Numbers for Q3"]
PDF = ("brief.pdf", "application/pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n")
WHERE = ["dropbox", "alice@acme-law.com", "bob@acme-law.com"]

a_mail = st.fixed_dictionaries({  # users send half the mail and most of it names a dropbox: much is filed
    "sender": st.sampled_from(PEOPLE[:2]) | st.sampled_from(PEOPLE),
    "to": st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3, unique=True),
    "cc": st.lists(st.sampled_from(PEOPLE), max_size=2, unique=True),
    "bcc": st.lists(st.sampled_from(DROPBOXES), min_size=1, max_size=2, unique=True)
    | st.lists(st.sampled_from(DROPBOXES), max_size=1), "subject": st.sampled_from(SUBJECTS),
    "parent": st.none() | st.integers(0, 10), "attach": st.booleans()})


def envelopes(mails: list[dict[str, Any]], copies: list[tuple[int, int]]) -> list[Envelope]:
    """Each generated mail as real RFC 5322 bytes, then its copies as the connector meets them."""
    raws, roots = [], []
    for index, spec in enumerate(mails):
        parent = spec["parent"] % index if spec["parent"] is not None and index else None
        chain = [f"<g{parent}@test>"] if parent is not None else []
        roots.append(roots[parent] if parent is not None else index)
        raws.append(mail(spec["sender"], spec["to"], spec["cc"], spec["bcc"], subject=spec["subject"],
                         message_id=f"<g{index}@test>", in_reply_to=chain[0] if chain else None, references=chain,
                         attachments=[PDF] if spec["attach"] else []))
    found = []
    for which, where in copies:
        index = which % len(mails)
        if WHERE[where] == "dropbox":
            found.append(to_dropbox(raws[index]))
        else:
            found.append(in_mailbox(raws[index], WHERE[where], thread_key=f"{WHERE[where]}:conv{roots[index]}"))
    return found


def fresh_world(engine: Engine) -> None:
    _empty(engine)
    build_world(engine)
    with engine.begin() as conn:
        for email, token in TOKENS.items():
            conn.execute(text('UPDATE "user" SET dropbox_token = :t WHERE email = :e'), {"t": token, "e": email})
        # exclusions, company-wide and one user's, to be asked in bulk like everything else
        conn.execute(text("INSERT INTO exclusion (tenant_id, user_id, pattern) SELECT tenant_id, NULL, "
                          "'yan@stranger.example' FROM \"user\" WHERE email = 'alice@acme-law.com'"))
        conn.execute(text("INSERT INTO exclusion (tenant_id, user_id, pattern) SELECT tenant_id, id, '@initech.com' "
                          "FROM \"user\" WHERE email = 'alice@acme-law.com'"))


def one_at_a_time(engine: Engine, config: Settings, pages: list[list[Envelope]]) -> list[Applied]:
    capture = Capture(engine, config, clock=lambda: FIXED_NOW)
    return [applied for page in pages for _, applied in capture.process_all(page)]


def in_bulk(engine: Engine, config: Settings, pages: list[list[Envelope]]) -> list[Applied]:
    results = []
    for page in pages:
        with transaction(engine) as session:
            results += [applied for _, applied in capture_batch(session, config, lambda: FIXED_NOW, page)]
    return results


# ------------------------------------------------------------------------------------------- every row
IGNORED = {"id", "created_at", "updated_at", "logged_at", "seen_at", "at", "tenant_id", "session_epoch", "hash",
           "prev_hash"}
CAPTURED = ["record", "thread", "threadkey", "threadtarget", "activity", "activitylink", "participant",
            "activitysource", "attachment", "blob", "rawmessage", "unassigned", "auditentry"]


def every_row(engine: Engine) -> dict[str, list[Any]]:
    """Each captured table's rows with ids replaced by what they name (records by natural key, threads by their
    messages, users by login), timestamps left out; the audit in the order it was written."""
    with engine.connect() as conn:
        tables = {t.name: t for t in SQLModel.metadata.sorted_tables}
        raw = {name: [dict(r._mapping) for r in conn.execute(tables[name].select().order_by(
            *tables[name].primary_key.columns))] for name in CAPTURED}
        users = {r.id: r.email for r in conn.execute(text('SELECT id, email FROM "user"'))}
    cipher = CompanyCipher.from_settings(load_settings())
    for row in raw["blob"]:  # sealed with a fresh IV each time: compared by what they hold
        row["content"] = cipher.open(row["tenant_id"], row["content"])
    records = {r["id"]: (r["kind"], r["email"] or r["origin_message_id"] or r["number"]) for r in raw["record"]}
    activities = {r["id"]: r["internet_message_id"] for r in raw["activity"]}
    threads = {t["id"]: tuple(sorted(m for a, m in activities.items() if _thread_of(raw, a) == t["id"]))
               for t in raw["thread"]}
    names = {"record_id": records, "customer_id": records, "user_id": users, "owner_user_id": users,
             "thread_id": threads, "activity_id": activities}

    def named(row: dict[str, Any]) -> dict[str, Any]:
        out = {k: names[k].get(v, v) if k in names else v for k, v in row.items() if k not in IGNORED}
        if out.get("origin_message_id") and out.get("number"):
            out["number"] = "generated from the id"
        if isinstance(out.get("detail"), dict):
            detail = dict(out["detail"])
            detail["activity_id"] = activities.get(detail.get("activity_id"), detail.get("activity_id"))
            detail["targets"] = sorted(map(str, (records.get(t, t) for t in detail.get("targets", []))))
            detail.pop("unassigned_id", None)
            out["detail"] = detail
        return out

    result = {name: sorted(repr(sorted(named(r).items())) for r in rows) for name, rows in raw.items()}
    result["auditentry"] = [repr(sorted(named(r).items())) for r in raw["auditentry"]]
    result["thread"] = sorted(threads.values())  # type: ignore[assignment]
    return result


def _thread_of(raw: dict[str, list[dict[str, Any]]], activity_id: int) -> int:
    return next(r["thread_id"] for r in raw["activity"] if r["id"] == activity_id)


def outcomes(results: Sequence[Applied]) -> list[tuple[str, str, bool, bool]]:
    return [(a.outcome.value, a.reason.value, a.created, a.thread_opened) for a in results]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(mails=st.lists(a_mail, min_size=1, max_size=8),
       copies=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 2)), min_size=1, max_size=14),
       page=st.integers(1, 14))
def check_equivalence(engine: Engine, config: Settings, mails: list[dict[str, Any]],
                      copies: list[tuple[int, int]], page: int) -> None:
    items = envelopes(mails, copies)
    pages = [items[i:i + page] for i in range(0, len(items), page)]
    fresh_world(engine)
    expected = one_at_a_time(engine, config, pages)
    expected_rows = every_row(engine)
    fresh_world(engine)
    got = in_bulk(engine, config, pages)
    assert outcomes(got) == outcomes(expected)
    for outcome, reason, created, _ in outcomes(got):
        event(f"{outcome}/{reason}{' (new)' if created else ''}")
    assert every_row(engine) == expected_rows


def test_a_batch_writes_the_rows_one_transaction_per_message_writes(engine: Engine, settings: Settings) -> None:
    check_equivalence(engine, settings)


def test_the_comparison_sees_a_difference(engine: Engine, settings: Settings) -> None:
    """The oracle is not blind: one message more on one side is a different set of rows."""
    first = envelopes([{"sender": PEOPLE[0], "to": [PEOPLE[2]], "cc": [], "bcc": [DROPBOXES[0]], "subject": "Draft",
                        "parent": None, "attach": True}], [(0, 0)])
    fresh_world(engine)
    one_at_a_time(engine, settings, [first])
    expected = every_row(engine)
    fresh_world(engine)
    in_bulk(engine, settings, [first, [first[0].with_changes(mailbox="bob@acme-law.com")]])
    assert every_row(engine) != expected
    fresh_world(engine)
    in_bulk(engine, settings, [first])
    assert every_row(engine) == expected
