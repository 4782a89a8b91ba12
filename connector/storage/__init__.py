"""Where raw messages and attachments are kept: a `BlobStore` (`ports`) per transaction, chosen by the
`storage:` settings (`factory.blob_store`).

* The ``blob`` table is the catalogue in both stores: one row per company and content (primary key tenant_id +
  sha256), so the same attachment in two companies is two rows and two objects; content is deduplicated only
  within a company. `DatabaseStore` keeps the content in the row (the embedded default); `S3Store` in the object
  ``<prefix>/<company id>/<sha256>`` of an S3-compatible bucket, the row naming it (``s3://bucket/key``).
* Content is sealed with the company's own key (`connector.crypto.CompanyCipher`) in either store.
* Writes come before the commit: an S3 object is put before its row is inserted, so a crash leaves at most an
  object without a row, never a row without its object.
* No reference count (the bulk writer stays insert-only): a deleter checks references (`release`).

This package imports nothing of the rest of the core at import time, so `connector.config` can read its
settings from `connector.storage.settings`.
"""
