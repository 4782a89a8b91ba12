"""Use cases the CLI, the web console and the API share: each takes a session and plain values."""
