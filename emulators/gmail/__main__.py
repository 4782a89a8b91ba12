"""``python -m emulators.gmail --port 8025 --user ann@firm.example [--service-account-key sa.json]``: run it
standalone."""

from __future__ import annotations

import argparse

from .server import serve_forever


def main() -> None:
    parser = argparse.ArgumentParser(description="Loopback Gmail API + Google OAuth + Pub/Sub push emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--user", action="append", default=[], help="a mailbox to create (repeatable)")
    parser.add_argument("--client", action="append", default=[],
                        help="an OAuth client as CLIENT_ID:SECRET:REDIRECT_URI (repeatable)")
    parser.add_argument("--service-account-key", metavar="PATH",
                        help="write a service account's JSON key here, delegated gmail.readonly on the users' domains")
    args = parser.parse_args()
    clients = [(cid, secret, [redirect]) for cid, secret, redirect in (c.split(":", 2) for c in args.client)]
    serve_forever(args.host, args.port, users=args.user, oauth_clients=clients,
                  service_account_key=args.service_account_key)


if __name__ == "__main__":
    main()
