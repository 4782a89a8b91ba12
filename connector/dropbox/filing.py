"""Filing spooled mail: claim a row, read it, file it (or refuse or quarantine it), mark it, in ONE transaction.

Per row, in order:

1. parse the bytes (`connector.mail.mime.parse`, source SMTP) and add the SMTP envelope recipients the
   headers hide (the Bcc: which dropbox address was used); unreadable MIME is quarantined;
2. route it (`Router.route`, pure): the dropbox rules decide the company, whether the From address is
   an authorized sender of an enabled user (F7, F8) and what to file it under;
3. bounces, delivery reports, auto-replies and mailer-daemons are refused as noise (audited);
4. mail the router would file is authenticated first (SPF, DKIM, DMARC, ARC) and, when its From domain
   does not vouch for it under ``smtp.authentication``, quarantined for the user it claims to be from;
5. otherwise `apply` writes the decision, with the verdict in the audit, exactly as `Capture` does.

The spool row is marked done in that same transaction, so `kill -9` at any moment either leaves the
row pending with nothing written (another filer takes it) or leaves everything committed: nothing is
lost and nothing is filed twice. A failure (a DNS server that does not answer, a bug) rolls back,
backs off and tries again; after ``smtp.max_filing_attempts`` the message is quarantined as unfileable.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.config import SenderAuthentication, Settings
from connector.db import transaction, utcnow
from connector.dropbox import spool
from connector.dropbox.authentication import Authenticator, policy_accepts
from connector.dropbox.noise import classify
from connector.errors import MimeError
from connector.mail.envelope import Envelope, Source
from connector.mail.mime import parse
from connector.models import AuditEntry, SpooledMessage, SpoolState, Tenant
from connector.routing.addresses import parse_dropbox_address
from connector.routing.apply import apply
from connector.routing.core import Router
from connector.routing.decision import Decision, Outcome
from connector.routing.repository import SqlRepository
from connector.services.capture import retrying
from connector.services.quarantine import UNAUTHENTICATED, UNFILEABLE, UNREADABLE, quarantine, with_envelope_recipients
from connector.sync.commit import request_copies, requeue_parked

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


@dataclasses.dataclass(frozen=True)
class Filed:
    spool_id: int
    outcome: str  # logged | unassigned | refused | quarantined | retry (a failed attempt, tried again later)
    reason: str
    authentication: str = ""
    activity_id: int | None = None


class SpoolFiler:
    def __init__(self, engine: Engine, settings: Settings, authenticator: Authenticator,
                 clock: Clock = utcnow) -> None:
        self.engine = engine
        self.settings = settings
        self.authenticator = authenticator
        self.clock = clock  # the routing clock (due dates of tasks); the spool's own times are always real

    # ------------------------------------------------------------------ loops
    def file_all(self) -> list[Filed]:
        """File every due row now (tests, `--once`); rows postponed after a failure are left for later."""
        results: list[Filed] = []
        while (filed := self.file_next()) is not None:
            results.append(filed)
        return results

    def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        """File until ``stop``; idle, wait for ``wake`` (the listener's in-process nudge) or the poll interval."""
        wake = wake or threading.Event()
        while not stop.is_set():
            try:
                filed = self.file_next()
            except Exception:  # the database is away: keep the thread, try again after a pause
                log.exception("spool filer: cannot claim")
                stop.wait(self.settings.smtp.filing_poll_seconds)
                continue
            if filed is None:
                wake.wait(self.settings.smtp.filing_poll_seconds)
                wake.clear()

    # ------------------------------------------------------------------ one row
    def file_next(self) -> Filed | None:
        """Claim, file and mark one due row; None when no row is due."""
        claimed: list[int] = []
        try:
            return retrying(self._once, claimed, also=(spool.LostClaim,))
        except Exception as exc:
            if not claimed:
                raise
            return self._failed(claimed[-1], exc)

    def _once(self, claimed: list[int]) -> Filed | None:
        with transaction(self.engine) as session:
            row = spool.claim(session, utcnow())
            if row is None:
                return None
            assert row.id is not None
            claimed.append(row.id)
            filed = self._file(session, row)
            spool.finish(session, row.id, utcnow(), outcome=filed.outcome, reason=filed.reason,
                         authentication=filed.authentication, activity_id=filed.activity_id)
            return filed

    def _file(self, session: Session, row: SpooledMessage) -> Filed:
        assert row.id is not None
        try:
            envelope = with_envelope_recipients(parse(row.raw, source=Source.SMTP), row.rcpt_tos)
        except MimeError as exc:
            tenant_id, user_id = _addressed(SqlRepository(session), self.settings, row.rcpt_tos)
            quarantine(session, row.raw, UNREADABLE, source=Source.SMTP.value, tenant_id=tenant_id, user_id=user_id,
                       envelope_recipients=row.rcpt_tos, detail={**_receipt(row), "error": str(exc)[:500]},
                       notify=self.settings)
            return Filed(row.id, "quarantined", UNREADABLE)
        repo = SqlRepository(session)
        decision = Router(repo, self.settings, self.clock).route(envelope)
        noise = classify(envelope, row.mail_from)
        if noise is not None:
            _audit_noise(session, decision, envelope, row, noise.value)
            return Filed(row.id, "refused", noise.value)
        summary = ""
        mode = self._authentication_for(session, decision.tenant_id)
        if decision.outcome in (Outcome.LOGGED, Outcome.UNASSIGNED) and mode is not SenderAuthentication.OFF:
            verdict = self.authenticator.verify(row.raw, ip=row.peer_ip, helo=row.helo, mail_from=row.mail_from)
            summary = verdict.summary()
            if not policy_accepts(verdict, mode):
                claimed = envelope.from_ or envelope.sender
                user = repo.user_by_sender_address(claimed.email) if claimed else None
                quarantine(session, row.raw, UNAUTHENTICATED, source=Source.SMTP.value,
                           tenant_id=decision.tenant_id, user_id=user.id if user else None, verdict=summary,
                           envelope_recipients=row.rcpt_tos, detail=_receipt(row), notify=self.settings)
                return Filed(row.id, "quarantined", UNAUTHENTICATED, summary)
        decision = dataclasses.replace(decision, detail={**decision.detail, **_receipt(row),
                                                         **({"authentication": summary} if summary else {})})
        applied = apply(decision, session, self.settings)
        if applied.thread_opened and applied.activity_id is not None:  # the users' mailboxes hold its earlier mail
            request_copies(session, envelope.internet_message_id, applied.activity_id, utcnow())
        if applied.created and decision.tenant_id is not None:  # replies under an edited subject read earlier
            requeue_parked(session, decision.tenant_id, [envelope.internet_message_id], utcnow())
        return Filed(row.id, applied.outcome.value, applied.reason.value, summary, applied.activity_id)

    def _authentication_for(self, session: Session, tenant_id: int | None) -> SenderAuthentication:
        """The company's own policy when it chose one (a firm behind a filtering gateway may turn it off), else the
        deployment's `smtp.authentication`."""
        tenant = session.get(Tenant, tenant_id) if tenant_id is not None else None
        if tenant is not None and tenant.sender_authentication:
            return SenderAuthentication(tenant.sender_authentication)
        return self.settings.smtp.authentication

    def _failed(self, row_id: int, exc: Exception) -> Filed:
        error = f"{type(exc).__name__}: {exc}"
        log.warning("spool row %s: filing failed (%s)", row_id, error)
        attempts = spool.postpone(self.engine, row_id, utcnow(), error)
        if attempts < self.settings.smtp.max_filing_attempts:
            return Filed(row_id, "retry", error[:200])
        with transaction(self.engine) as session:  # give up filing; keep it for a person instead
            row = session.exec(select(SpooledMessage).where(
                col(SpooledMessage.id) == row_id, SpooledMessage.state == SpoolState.PENDING.value)
                .with_for_update()).first()
            if row is not None:
                tenant_id, user_id = _addressed(SqlRepository(session), self.settings, row.rcpt_tos)
                quarantine(session, row.raw, UNFILEABLE, source=Source.SMTP.value, tenant_id=tenant_id,
                           user_id=user_id, envelope_recipients=row.rcpt_tos, notify=self.settings,
                           detail={**_receipt(row), "error": error[:500], "attempts": attempts})
                spool.finish(session, row_id, utcnow(), outcome="quarantined", reason=UNFILEABLE)
        return Filed(row_id, "quarantined", UNFILEABLE)


def _addressed(repo: SqlRepository, settings: Settings, rcpt_tos: list[str]) -> tuple[int | None, int | None]:
    """The company (and, for a personal or action address, the user) the envelope recipients belong to:
    who gets to see a message that could not be read or filed, when its headers cannot tell."""
    for address in rcpt_tos:
        parsed = parse_dropbox_address(address, settings.dropbox)
        if parsed is None:
            continue
        owner = repo.user_by_token(parsed.token) if parsed.token else None
        if owner is not None:
            return owner.tenant_id, owner.id
        tenant = repo.tenant_by_slug(parsed.slug) if parsed.slug else None
        if tenant is not None:
            return tenant.id, None
    return None, None


def _receipt(row: SpooledMessage) -> dict[str, object]:
    """What the SMTP transaction said, for the audit and the quarantine."""
    return {"spool_id": row.id, "mail_from": row.mail_from, "envelope_recipients": list(row.rcpt_tos),
            "peer_ip": row.peer_ip, "helo": row.helo, "tls": row.tls}


def _audit_noise(session: Session, decision: Decision, envelope: Envelope, row: SpooledMessage, reason: str) -> None:
    sender = envelope.from_ or envelope.sender
    session.add(AuditEntry(
        tenant_id=decision.tenant_id, action="refused", reason=reason, internet_message_id=envelope.internet_message_id,
        source=Source.SMTP.value, detail={"from": sender.email if sender else "", "subject": envelope.subject,
                                          **_receipt(row)}))
