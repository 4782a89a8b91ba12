"""The real app on a free loopback port, for tests where providers call back (webhooks)."""

from connector.web.server import free_port, serving

__all__ = ["free_port", "serving"]
