"""The SMTP front door refuses an archived matter's address at RCPT, in words the sender's bounce passes on,
and takes it again once the matter is restored."""

from __future__ import annotations

from tests.connector.dropbox.conftest import MATTER, Dropbox
from tests.connector.routing.test_archived_records import archive_matter


def _rcpt(dropbox: Dropbox, address: str) -> tuple[int, str]:
    with dropbox.client() as client:
        client.mail("alice@acme-law.com")
        code, text = client.rcpt(address)
        return code, text.decode()


def test_an_archived_matters_address_is_refused_at_rcpt(dropbox: Dropbox) -> None:
    archive_matter(dropbox.world)
    code, text = _rcpt(dropbox, MATTER)
    assert (code, text.split(":")[0]) == (550, "5.1.1 address archived")
    assert "matter 10802, which is closed and archived" in text
    assert _rcpt(dropbox, "1001.acme@bcc.example.com")[0] == 250  # the live project still takes mail
    archive_matter(dropbox.world, archived=False)
    assert _rcpt(dropbox, MATTER)[0] == 250
