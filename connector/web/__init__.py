"""The FastAPI application: the console (server-rendered pages), the JSON API, webhooks, health and metrics."""
