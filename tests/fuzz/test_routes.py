"""Stateful sequences over every route of the real app (schemathesis' state machine, following
the links it infers and the ones added here), keys off and keys on (a writer's and a reader's
key): no 5xx, every request under :data:`REQUEST_S`, the server's RSS growth under a budget."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from tests.fuzz.budgets import REQUEST_S, SERVER_RSS_MIB
from tests.fuzz.conftest import READER, WRITER
from tests.fuzz.server import reset_peak, status_kib

STATEFUL = settings(
    max_examples=10,
    stateful_step_count=8,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)
ONE_ROUTE = settings(STATEFUL, max_examples=4)
# Where a response names what another route reads (beyond the links schemathesis infers).
LINKS = [
    ("post", "/v1/search", "get", "/v1/items/{item_id}", "item_id", "$response.body#/hits/0/id"),
    ("post", "/v1/search", "get", "/v1/documents/{document_id}/file", "document_id",
     "$response.body#/hits/0/document/id"),
    ("get", "/v1/items", "get", "/v1/documents/{document_id}/file", "document_id",
     "$response.body#/items/0/document/id"),
    ("get", "/v1/items/{item_id}", "get", "/v1/documents/{document_id}/file", "document_id",
     "$response.body#/document/id"),
]  # fmt: skip


def with_links(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    ids = {
        (method, path): op["operationId"]
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }
    for method, path, to_method, to_path, parameter, value in LINKS:
        response = spec["paths"][path][method]["responses"]["200"]
        response.setdefault("links", {})[f"{parameter}-{to_method}-{to_path}"] = {
            "operationId": ids[(to_method, to_path)],
            "parameters": {parameter: value},
        }
    return spec


class Calls:
    """Every request of a run: the status codes seen per route, and the requests over budget."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.kwargs = {"base_url": url, "headers": headers, "timeout": REQUEST_S * 3}
        self.seen: dict[str, set[int]] = {}
        self.slow: list[str] = []

    def check(self, response: Any, case: Any) -> None:
        self.seen.setdefault(case.operation.label, set()).add(response.status_code)
        if response.elapsed > REQUEST_S:
            self.slow.append(f"{case.operation.label}: {response.elapsed:.1f} s")
        case.validate_response(response, checks=[not_a_server_error])


def state_machine(schema: Any, calls: Calls) -> type:
    class Routes(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return calls.kwargs

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            calls.check(response, case)

    return Routes


def sweep(operation: Any, calls: Calls) -> None:
    """A few stateless cases of a route no link leads to or from."""

    @ONE_ROUTE
    @given(case=operation.as_strategy())
    def fuzz(case: Any) -> None:
        calls.check(case.call(**calls.kwargs), case)

    fuzz()


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("role", ["reader", "writer"])  # the writer deletes items
def test_every_route_in_stateful_sequences_keeps_the_budgets(
    server: dict[str, Any], role: str
) -> None:
    if not server["keys"] and role == "reader":
        pytest.skip("keys off: one role, every caller is everyone")
    headers = {"X-API-Key": WRITER if role == "writer" else READER} if server["keys"] else {}
    url, pid = server["url"], server["pid"]
    spec = with_links(httpx.get(f"{url}/openapi.json", headers=headers, timeout=30).json())
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20, "the app lists fewer routes than expected"
    rss = status_kib(pid, "VmRSS")
    reset_peak(pid)
    calls = Calls(server["url"], headers)
    state_machine(schema, calls).run(settings=STATEFUL)
    for operation in operations:
        if operation.label not in calls.seen:
            sweep(operation, calls)
    growth = (status_kib(pid, "VmHWM") - rss) / 1024
    assert set(calls.seen) == {op.label for op in operations}, "some routes were never called"
    assert not calls.slow, f"requests over {REQUEST_S} s: {calls.slow}"
    assert growth <= SERVER_RSS_MIB, f"the server grew {growth:.0f} MiB (budget {SERVER_RSS_MIB})"
