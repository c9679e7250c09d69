"""End to end with the real SmolLM2 GGUF (llama.cpp): ingest through the API, ask, get an answer
that cites the right item."""

from __future__ import annotations

import base64
import io
import json

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.main import create_app
from rag.llm.llamacpp import default_model_path, load_llama
from rag.services import Services
from tests.api.conftest import add_item
from tests.api.test_ingest import wait_for

pytestmark = pytest.mark.llm

ITEMS = [
    ("The zorblax festival fills Quentin harbour with violet lanterns every March.", "violet"),
    ("Bananas ripen faster next to apples because apples release ethylene gas.", "yellow"),
    ("The old mill grinds rye flour on Tuesdays.", "brown"),
]
TEXT_ONLY = {"fusion": "weighted", "weights": {"text": 1.0}, "top_k": 2}


def _png(color: str) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_smollm_answer_cites_the_ingested_item(make_settings, tmp_path) -> None:
    llm = {"backend": "llamacpp", "max_tokens": 32, "temperature": 0.0}
    settings = make_settings(tmp_path / "data", llm={**llm, "context_tokens": 768, "n_ctx": 2048})
    items = [{"image": _png(c), "text": t, "id": f"item-{n}"} for n, (t, c) in enumerate(ITEMS)]
    with TestClient(create_app(settings)) as client:
        detail = client.get("/ready").json()["components"]["llm"]["detail"]
        assert detail.startswith("llamacpp: SmolLM2")
        job = wait_for(client, client.post("/v1/ingest", json={"items": items}).json()["job_id"])
        assert job["report"]["written"] == 3
        answer = client.post("/v1/chat", json={"question": ITEMS[0][0], **TEXT_ONLY}).json()
        assert answer["model"].startswith("SmolLM2")
        generation = answer["generation"]
        assert generation["backend"] == "llamacpp" and not generation["fallback"]
        assert generation["prompt_tokens"] > 100 and 0 < generation["completion_tokens"] <= 32
        assert answer["answer"].strip()
        first = client.get(f"/v1/items/{answer['citations'][0]['id']}").json()
        assert first["external_id"] == "item-0"
        assert answer["citations"][0]["image_url"] == first["image_url"]
        body = {"messages": [{"role": "user", "content": ITEMS[2][0]}], "stream": True, **TEXT_ONLY}
        chunks = client.post("/v1/chat/completions", json=body).text.strip().split("\n\n")
        assert chunks[-1] == "data: [DONE]"
        final = json.loads(chunks[-2].removeprefix("data: "))
        cited = client.get(f"/v1/items/{final['citations'][0]['id']}").json()
        assert cited["external_id"] == "item-2"


def test_a_busy_embedded_model_is_a_503_with_retry_after(make_settings, tmp_path) -> None:
    llm = {"backend": "llamacpp", "max_tokens": 8, "n_ctx": 2048, "context_tokens": 768}
    services = Services(make_settings(tmp_path / "data", llm={**llm, "wait_s": 0.2}))
    try:
        with TestClient(create_app(services=services)) as client:
            add_item(services, tmp_path, ITEMS[0][0])
            question = {"question": ITEMS[0][0], **TEXT_ONLY}
            cache_mb = services.settings.llm.prompt_cache_mb  # the app's model: the same key
            with load_llama(default_model_path(), 2048, prompt_cache_mb=cache_mb).lock:  # busy
                busy = client.post("/v1/chat", json=question)
                streamed = client.post("/v1/chat", json={**question, "stream": True})
            assert busy.status_code == 503, busy.text
            assert busy.headers["retry-after"] == "1"
            assert busy.json()["error"] == "llm_busy"
            assert "MMRAG_LLM__WAIT_S" in busy.json()["message"]
            assert streamed.status_code == 503 and streamed.headers["retry-after"] == "1"
            assert client.post("/v1/chat", json=question).status_code == 200
    finally:
        services.close()
