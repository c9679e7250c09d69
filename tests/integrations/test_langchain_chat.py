"""Chat against the real API (``ChatOpenAI`` and ``MmragChatOpenAI`` on 127.0.0.1), mmrag's
backends as a LangChain chat model, and the RAG chain end to end (extractive backend)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_openai import ChatOpenAI
from langchain_tests.unit_tests import ChatModelUnitTests

from examples.demo import caption
from rag.errors import InvalidInputError
from rag.integrations.langchain import (
    MmragChatModel,
    MmragChatOpenAI,
    MmragRemoteRetriever,
    MmragRetriever,
    build_rag_chain,
)
from rag.llm import ExtractiveChatModel
from rag.services import Services
from tests.integrations.conftest import API_KEY
from tests.integrations.standard import with_async_tests

BY_TEXT = {"fusion": "weighted", "weights": {"image": 0.0, "text": 1.0}}


def _openai_kwargs(live_url: str) -> dict[str, object]:
    return {"base_url": f"{live_url}/v1", "api_key": API_KEY, "model": "mmrag", "max_retries": 0}


def _red_id(services: Services) -> str:
    docs = MmragRetriever(retriever=services.retriever, k=1, **BY_TEXT).invoke(caption("red"))
    return str(docs[0].id)


def test_chat_openai_answers_from_the_collection(live_url: str) -> None:
    chat = ChatOpenAI(**_openai_kwargs(live_url))
    reply = chat.invoke([SystemMessage("Be brief."), HumanMessage(caption("red"))])
    assert isinstance(reply, AIMessage)
    assert "[1]" in reply.content and "red" in reply.text
    streamed = "".join(chunk.text for chunk in chat.stream(caption("red")))
    assert streamed == reply.text


@pytest.mark.asyncio
async def test_mmrag_chat_openai_keeps_citations(live_url: str, services: Services) -> None:
    chat = MmragChatOpenAI(**_openai_kwargs(live_url), extra_body=BY_TEXT)
    reply = await chat.ainvoke(caption("red"))
    citations = reply.response_metadata["citations"]
    assert citations[0]["id"] == _red_id(services)
    assert citations[0]["image_url"] == f"{live_url}/v1/items/{citations[0]['id']}/image"
    summed = None
    for chunk in chat.stream(caption("red")):
        summed = chunk if summed is None else summed + chunk
    assert summed is not None and summed.text == reply.text
    streamed = summed.response_metadata["citations"]
    assert _without_scores(streamed) == _without_scores(citations)
    for kept, first in zip(streamed, citations, strict=True):
        # the same up to float32 rounding: a search scored by the engine and the next one by
        # the store's vector copy, once that copy is filled, differ in the last bit
        assert kept["scores"].keys() == first["scores"].keys()
        for name, score in first["scores"].items():
            assert kept["scores"][name] == (None if score is None else pytest.approx(score))


def _without_scores(citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.items() if k != "scores"} for c in citations]


def test_chat_openai_errors_surface(live_url: str) -> None:
    import openai

    with pytest.raises(openai.AuthenticationError):
        ChatOpenAI(**{**_openai_kwargs(live_url), "api_key": "wrong"}).invoke("hi")


def test_rag_chain_end_to_end_over_http(live_url: str, services: Services) -> None:
    retriever = MmragRemoteRetriever(url=live_url, api_key=API_KEY, k=3, **BY_TEXT)
    chat = MmragChatModel(chat_model=services.chat_model)
    out = build_rag_chain(retriever, chat).invoke(caption("red"))
    assert out["answer"].startswith('"A red square')
    first = out["citations"][0]
    assert (first["n"], first["cited"], first["id"]) == (1, True, _red_id(services))
    assert first["image_url"] == f"{live_url}/v1/items/{first['id']}/image"
    assert first["snippet"] == caption("red")
    assert first["scores"]["text"] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.asyncio
async def test_rag_chain_in_process_async(services: Services) -> None:
    retriever = MmragRetriever(retriever=services.retriever, k=2, **BY_TEXT)
    chain = build_rag_chain(retriever, MmragChatModel(chat_model=ExtractiveChatModel()))
    out = await chain.ainvoke({"question": caption("blue")})
    assert [c["n"] for c in out["citations"]] == [1, 2]
    assert out["citations"][0]["image_url"] == f"/v1/items/{out['citations'][0]['id']}/image"


def test_mmrag_chat_model_messages_stop_and_stream() -> None:
    context = '<context n="1">\nsource: a\npicture: none\ntext:\nCats purr. Dogs bark.\n</context>'
    prompt = [
        SystemMessage("rules"),
        HumanMessage(f"Context:\n{context}\n\nQuestion: do dogs bark?"),
    ]
    chat = MmragChatModel(chat_model=ExtractiveChatModel())
    assert chat.invoke(prompt).content == '"Dogs bark." [1]'
    assert chat.invoke(prompt, stop=[" ["]).content == '"Dogs bark."'
    assert "".join(c.text for c in chat.stream(prompt)) == '"Dogs bark." [1]'
    with pytest.raises(InvalidInputError, match="not 'tool'"):
        chat.invoke([ToolMessage("x", tool_call_id="1")])


@with_async_tests
class TestMmragChatModelStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[MmragChatModel]:
        return MmragChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"chat_model": ExtractiveChatModel()}
