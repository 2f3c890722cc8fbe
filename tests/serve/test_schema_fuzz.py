"""schemathesis against the served OpenAPI schema: no 5xx, answers that match the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from siftrec.serve.app import create_app


@pytest.fixture(scope="module")
def api_schema(ials_dir: Path) -> schemathesis.BaseSchema:
    app = create_app(ials_dir, max_k=20, max_body_bytes=8192)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


def test_api_answers_match_the_schema(api_schema: schemathesis.BaseSchema) -> None:
    """Every operation, a few seeded examples each (schemathesis' pytest plugin is not used:
    it does not run under this pytest)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 6

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=5,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS)

        check()
