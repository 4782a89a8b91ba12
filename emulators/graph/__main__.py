"""``python -m emulators.graph``: run the Graph emulator on loopback (see `server.main`)."""

from .server import main

main()
