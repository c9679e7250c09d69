"""A ``.tsv`` uploaded to ``POST /v1/ingest`` is a document whose sheet is a table: its hit
carries the sheet and row range."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_ingest import wait_for


def test_an_uploaded_tsv_is_found_as_a_table_with_its_sheet_and_rows(client: TestClient) -> None:
    table = b"code\tmeaning\nK-9001\tbelt slipping\nK-9002\tbelt torn\n"
    response = client.post(
        "/v1/ingest", files=[("files", ("faults.tsv", table, "text/tab-separated-values"))]
    )
    assert response.status_code == 202, response.json()
    job = wait_for(client, response.json()["job_id"], timeout_s=300)  # loads the passage model
    assert job["state"] == "done" and job["report"]["written"] == 1, job
    body = {"text": "K-9002", "signals": ["lexical"], "top_k": 1}
    hit = client.post("/v1/search", json=body).json()["hits"][0]
    assert (hit["kind"], hit["sheet"], hit["rows"]) == ("table", "faults", [2, 3])
    assert "| K-9002 | belt torn |" in hit["text"]
