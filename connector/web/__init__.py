"""The FastAPI application: webhooks, health, metrics (and, later, the console and the JSON API)."""
