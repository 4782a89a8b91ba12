"""`python -m connector.app.cli …` is `bcc-capture …` (worker processes in tests and benchmarks start it so)."""

from connector.app.cli import main

main()
