"""`secret rotate` for stored mail: after it, the content opens with the new key alone, in the database and
in the bucket alike."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from connector.config import Settings
from connector.crypto import new_key
from connector.db import transaction
from connector.errors import ConfigError
from connector.services.capture import Capture
from connector.storage.factory import blob_store, reseal_all
from tests.conftest import FIXED_NOW, World
from tests.connector.conftest import Bucket
from tests.connector.storage.test_object_storage import ALICE, CONTRACT, file_contract, sha


@pytest.mark.parametrize("where", ["database", "s3"])
def test_rotating_the_key_reseals_every_stored_message_and_attachment(world: World, settings: Settings,
                                                                     bucket: Bucket, where: str) -> None:
    old, new = new_key(), new_key()
    base = bucket.storing(settings) if where == "s3" else settings
    with_old, with_both, with_new = (base.model_copy(update={"secret_key": key})
                                     for key in (old, f"{new},{old}", new))
    raw = file_contract(Capture(world.engine, with_old, clock=lambda: FIXED_NOW), ALICE,
                        "acme+10802@bcc.example.com", "<before-rotation@acme>")
    with transaction(world.engine) as session:
        assert reseal_all(with_both, session) == 2  # the message and its attachment
    with Session(world.engine) as session:
        for content in (raw, CONTRACT[2]):
            assert blob_store(with_new, session).get(world.tenant.id, sha(content)) == content
        with pytest.raises(ConfigError, match="key changed"):
            blob_store(with_old, session).get(world.tenant.id, sha(raw))
