"""Console pages, one module per area: the user's settings, mailboxes, records and mail, administration."""
