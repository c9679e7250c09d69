"""Vision answers: a model that reads pictures gets the top context blocks' pictures, downscaled
and stamped with their block numbers; one that does not gets none."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from rag.answer import Answerer
from rag.config import LLMSettings
from rag.context_pictures import context_pictures
from rag.errors import LLMUnavailableError
from rag.llm import ChatMessage, GenerationOptions
from rag.llm.base import ChatImage, GenerationReport
from rag.llm.ollama import OllamaChatModel
from rag.llm.openai import OpenAIChatModel, _message
from rag.prompting import build_context, build_messages
from rag.retrieval.types import Hit, Query, Scores, SearchResult
from rag.testing.llama_cpp_server import LlamaCppServer
from tests.fakes.ollama_server import FakeOllama, chat_requests

SETTINGS = LLMSettings(backend="ollama", vision_images=2, vision_max_side=64)


class FixedRetriever:
    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits

    def search(self, query: Query) -> SearchResult:
        return SearchResult(list(self.hits), {}, reranked=False)


def picture_hit(n: int, folder: Path, color: str | None) -> Hit:
    payload: dict[str, object] = {
        "text": "",
        "source": f"photo{n}.png",
        "source_root": str(folder),  # ingested from this folder: its pictures may be read
        "has_image": False,
    }
    if color is not None:
        path = folder / f"{n}.png"
        Image.new("RGB", (640, 320), color).save(path)
        payload.update(has_image=True, image_path=str(path), width=640, height=320)
    return Hit(f"id-{n}", payload, Scores(0.9, None, 1.0 / n))


@pytest.fixture
def hits(tmp_path: Path) -> list[Hit]:
    colors = ["red", None, "green", "blue"]  # block 2 is text-only; block 4 is past the cap
    return [picture_hit(n, tmp_path, color) for n, color in enumerate(colors, start=1)]


@pytest.fixture
def vision_ollama() -> Iterator[FakeOllama]:
    with FakeOllama(capabilities=["completion", "vision"], reply="A red square [1].") as server:
        yield server


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_pictures_are_downscaled_and_stamped_with_their_block(hits: list[Hit]) -> None:
    blocks = build_context(hits, 2048)
    images = context_pictures(hits, blocks, max_count=2, max_side=64)
    assert [image.n for image in images] == [1, 3]
    first = decoded(images[0].data)
    assert first.size == (64, 32)
    assert first.getpixel((1, 1)) == (0, 0, 0)  # the label's box in the corner
    assert first.getpixel((60, 28))[0] > 200  # the picture itself (red)


def test_unreadable_picture_is_left_out(hits: list[Hit], tmp_path: Path) -> None:
    (tmp_path / "1.png").write_bytes(b"not a png")
    blocks = build_context(hits, 2048)
    assert [image.n for image in context_pictures(hits, blocks, 3, 64)] == [3, 4]


def test_ollama_vision_model_receives_the_pictures_in_messages_images(
    hits: list[Hit], vision_ollama: FakeOllama
) -> None:
    model = OllamaChatModel(vision_ollama.url, "llama3.2")
    answer = Answerer(FixedRetriever(hits), model, SETTINGS).answer(
        Query(text="What colour is it?")
    )
    assert answer.images == 2 and answer.backend == "ollama"
    (request,) = list(chat_requests(vision_ollama))
    user = request["messages"][-1]
    pictures = [decoded(base64.b64decode(image)) for image in user["images"]]
    assert [p.size for p in pictures] == [(64, 32), (64, 32)]
    assert "blocks [1], [3], in that order" in user["content"]
    assert all("images" not in m for m in request["messages"][:-1])


def test_text_only_ollama_model_gets_no_pictures(hits: list[Hit]) -> None:
    with FakeOllama(reply="Red [1].") as server:  # capabilities without "vision"
        model = OllamaChatModel(server.url, "llama3.2")
        answer = Answerer(FixedRetriever(hits), model, SETTINGS).answer(
            Query(text="What colour is it?")
        )
        (request,) = list(chat_requests(server))
    assert answer.images == 0 and not model.accepts_images()
    assert "images" not in request["messages"][-1]
    assert "Pictures:" not in request["messages"][-1]["content"]


def test_vision_setting_overrides_the_server(hits: list[Hit], vision_ollama: FakeOllama) -> None:
    off = OllamaChatModel(vision_ollama.url, "llama3.2", vision="off")
    assert not off.accepts_images()
    Answerer(FixedRetriever(hits), off, SETTINGS).answer(Query(text="What colour is it?"))
    assert "images" not in next(iter(chat_requests(vision_ollama)))["messages"][-1]


def openai_request(model: OpenAIChatModel, messages: list[ChatMessage]) -> dict[str, object]:
    return model._request(
        messages, GenerationOptions(max_tokens=8), GenerationReport(), stream=True
    )


@pytest.mark.llm
def test_llama_cpp_server_accepts_the_image_url_parts(
    hits: list[Hit], llama_server: LlamaCppServer
) -> None:
    from llama_cpp.server.types import CreateChatCompletionRequest

    blocks = build_context(hits, 2048)
    images = context_pictures(hits, blocks, 2, 64)
    messages = build_messages("What colour is it?", blocks, images=images)
    model = OpenAIChatModel(llama_server.url, llama_server.model, vision="on")
    body = openai_request(model, messages)
    parsed = CreateChatCompletionRequest.model_validate(body)  # the server's own request schema
    parts = parsed.model_dump()["messages"][-1]["content"]
    assert [part["type"] for part in parts] == ["text", "text", "image_url", "text", "image_url"]
    assert parts[1]["text"] == "Picture of block [1]:"
    assert parts[2]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    # Over HTTP the server validates the request (a malformed one is a 422); SmolLM2's
    # text-only chat template then cannot render the picture parts (a 500), which the backend
    # reports as the LLM failing, not as a bad request.
    with pytest.raises(LLMUnavailableError, match="HTTP 500"):
        model.generate(messages, GenerationOptions(max_tokens=8))
    assert '"POST /v1/chat/completions HTTP/1.1" 500' in llama_server.log()


def test_openai_vision_auto_asks_llama_server_props(llama_server: LlamaCppServer) -> None:
    model = OpenAIChatModel(llama_server.url, llama_server.model)
    assert model.accepts_images() is False  # llama_cpp.server has no /props: not a vision model
    image = ChatImage(b"\xff\xd8", n=2)
    assert _message(ChatMessage("user", "hi", (image,)), vision=False) == {
        "role": "user",
        "content": "hi",
    }


def _one_picture_hit(folder: Path, image_path: Path) -> list[Hit]:
    hit = picture_hit(1, folder, "red")
    hit.payload["image_path"] = str(image_path)
    return [hit]


def test_a_picture_symlinked_outside_its_roots_is_left_out(tmp_path: Path) -> None:
    folder, outside = tmp_path / "set", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    Image.new("RGB", (64, 64), "white").save(outside / "secret.png")
    (folder / "link.png").symlink_to(outside / "secret.png")
    hits = _one_picture_hit(folder, folder / "link.png")
    assert context_pictures(hits, build_context(hits, 2048), 3, 64) == []


def test_a_picture_in_a_symlinked_folder_is_left_out(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "real").mkdir()
    Image.new("RGB", (64, 64), "white").save(folder / "real" / "a.png")
    (folder / "alias").symlink_to(folder / "real", target_is_directory=True)
    hits = _one_picture_hit(folder, folder / "alias" / "a.png")
    assert context_pictures(hits, build_context(hits, 2048), 3, 64) == []


def test_a_picture_outside_its_roots_is_left_out(tmp_path: Path) -> None:
    folder, elsewhere = tmp_path / "set", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    Image.new("RGB", (64, 64), "white").save(elsewhere / "a.png")
    hits = _one_picture_hit(folder, elsewhere / "a.png")
    assert context_pictures(hits, build_context(hits, 2048), 3, 64) == []
    allowed = context_pictures(hits, build_context(hits, 2048), 3, 64, roots=[elsewhere])
    assert [image.n for image in allowed] == [1]  # the data and files folders are roots too


def test_a_picture_in_a_format_ingest_refuses_is_left_out(tmp_path: Path) -> None:
    Image.new("RGB", (64, 64), "white").save(tmp_path / "a.ppm")  # Pillow reads PPM; ingest not
    hits = _one_picture_hit(tmp_path, tmp_path / "a.ppm")
    assert context_pictures(hits, build_context(hits, 2048), 3, 64) == []


def test_the_answerer_reads_pictures_from_its_picture_roots(
    tmp_path: Path, vision_ollama: FakeOllama
) -> None:
    hit = picture_hit(1, tmp_path, "red")
    del hit.payload["source_root"]
    model = OllamaChatModel(vision_ollama.url, "llama3.2")
    question = Query(text="What colour is it?")
    assert Answerer(FixedRetriever([hit]), model, SETTINGS).answer(question).images == 0
    answerer = Answerer(FixedRetriever([hit]), model, SETTINGS, picture_roots=[tmp_path])
    assert answerer.answer(question).images == 1
