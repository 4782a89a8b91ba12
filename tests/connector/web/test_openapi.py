"""The published OpenAPI document is complete: every operation says what it does, and every successful answer
has a schema and at least one example (in the answer itself, its schema, or the schema of its items)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.connector.web.conftest import sqlite_only


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def _has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    schema = _resolve(document, media.get("schema", {}))
    if "examples" in schema or "example" in schema:
        return True
    items = schema.get("items")
    return isinstance(items, dict) and "examples" in _resolve(document, items)


@sqlite_only
def test_every_api_operation_has_a_summary_and_every_answer_a_schema_with_an_example(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    problems = []
    for path, operations in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            if not operation.get("summary"):
                problems.append(f"{where}: no summary")
            for status, answer in operation["responses"].items():
                if not status.startswith("2") or status == "204":  # 204: no content, nothing to describe
                    continue
                for media_type, media in answer.get("content", {"(none)": {}}).items():
                    if "schema" not in media:
                        problems.append(f"{where} {status} {media_type}: no schema")
                    elif not _has_example(document, media):
                        problems.append(f"{where} {status} {media_type}: no example")
    assert problems == [], "\n".join(problems)
