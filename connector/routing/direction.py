"""Which way a filed message went, seen from the company: "sent" when the firm wrote it, else "received".

Its From alone misses the firm's own mail written as a mailbox that is nobody's login: a user who sends as a
shared mailbox (Outlook Send As: From is the shared address; Send on Behalf: Sender is the user; Gmail "send
mail as": From is the alias) writes mail the firm sent, whose From is no user. So, besides a From that is a
user's address, the message was sent when
* its From is at the company's own verified mail domain (a shared mailbox, an alias, a room of the firm);
* the provider filed this copy as the mailbox owner's own sent mail (Graph Sent Items, Gmail `SENT`): the
  owner, a user, sent it, whatever mailbox its From names;
* its Sender is a user (Send on Behalf, RFC 5322 §3.6.2: the agent who wrote on the From's behalf).
The last two speak of the envelope itself, not of the original a forward to the dropbox files (F14).
"""

from __future__ import annotations

from collections.abc import Collection

from connector.mail.envelope import Direction, Envelope
from connector.models import Tenant
from connector.routing.rules import MessageView


def of(envelope: Envelope, view: MessageView, user_addresses: Collection[str], tenant: Tenant | None) -> Direction:
    """``user_addresses``: the company's users among the message's addresses (logins and verified senders)."""
    sent = view.from_ is not None and (view.from_.email in user_addresses or _own_domain(view.from_.domain, tenant))
    if not view.is_forwarded_original:
        sent = sent or envelope.direction is Direction.SENT or (
            envelope.sender is not None and envelope.sender.email in user_addresses)
    return Direction.SENT if sent else Direction.RECEIVED


def _own_domain(domain: str, tenant: Tenant | None) -> bool:
    """The company's own mail domain, once DNS proved it is theirs (an unproven one anybody could claim)."""
    return (tenant is not None and tenant.verified_at is not None and bool(tenant.domain)
            and domain == (tenant.domain or "").lower())
