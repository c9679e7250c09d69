"""Every route of ``/openapi.json``, fuzzed by schemathesis on a live server, with and without a
key: no 5xx, and every response matches the status codes, content type and schema the route
declares."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.faults.conftest import KEY

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    status_code_conformance,
]
FUZZ = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("key", [KEY, None], ids=["with-key", "without-key"])
def test_every_route_answers_as_declared(keyed_url: str, key: str | None) -> None:
    schema = schemathesis.openapi.from_url(f"{keyed_url}/openapi.json")
    headers = {"X-API-Key": key} if key else {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    failures: list[str] = []
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy())
        def fuzz(case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)

        try:
            fuzz()
        except Exception as exc:  # collect every route's failure, then report them all
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
