"""Chat models for LangChain: mmrag's own LLM backends (:class:`MmragChatModel`), and mmrag's
OpenAI-compatible endpoint with its citations kept (:class:`MmragChatOpenAI`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI
from pydantic import Field

from rag.errors import InvalidInputError
from rag.llm.base import ChatMessage, ChatModel, GenerationOptions, Role
from rag.llm.context import parse_grounding

_ROLES: dict[str, Role] = {"system": "system", "human": "user", "ai": "assistant"}


class MmragChatModel(BaseChatModel):
    """One of mmrag's chat backends (embedded llama.cpp, Ollama, extractive) as a LangChain chat
    model, for chains that run offline in-process. It wraps the backend it is given.

    Example::

        chat = MmragChatModel(chat_model=Services(load_settings()).chat_model)
        chain = build_rag_chain(MmragRetriever(retriever=services.retriever), chat)
    """

    chat_model: ChatModel
    """The backend, e.g. ``Services(settings).chat_model`` or ``ExtractiveChatModel()``."""
    max_tokens: int = Field(default=512, ge=1)
    temperature: float = Field(default=0.2, ge=0, le=2)

    @property
    def _llm_type(self) -> str:
        return "mmrag"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.chat_model.model_name, "max_tokens": self.max_tokens}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "mmrag"
        params["ls_model_name"] = kwargs.get("model", self.chat_model.model_name)
        params["ls_temperature"] = kwargs.get("temperature", self.temperature)
        params["ls_max_tokens"] = kwargs.get("max_tokens", self.max_tokens)
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self.chat_model.generate(_messages(messages), self._options(kwargs))
        message = AIMessage(
            content=_cut_at_stop(text, stop),
            response_metadata={"model_name": self.chat_model.model_name},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in self.chat_model.stream(_messages(messages), self._options(kwargs)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    def _options(self, overrides: dict[str, Any]) -> GenerationOptions:
        return GenerationOptions(
            max_tokens=int(overrides.get("max_tokens", self.max_tokens)),
            temperature=float(overrides.get("temperature", self.temperature)),
        )


def _messages(messages: list[BaseMessage]) -> list[ChatMessage]:
    converted = []
    for message in messages:
        role = _ROLES.get(message.type)
        if role is None:
            raise InvalidInputError(
                f"mmrag's chat backends take system, human and ai messages, not {message.type!r}"
            )
        text = _text(message.content)
        grounding = parse_grounding(text) if role == "user" else None
        converted.append(ChatMessage(role, text, grounding=grounding))
    return converted


def _text(content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    parts = [p if isinstance(p, str) else p.get("text", "") for p in content if _is_text(p)]
    return "".join(parts)


def _is_text(part: Any) -> bool:
    return isinstance(part, str) or (isinstance(part, dict) and part.get("type") == "text")


def _cut_at_stop(text: str, stop: list[str] | None) -> str:
    for word in stop or ():
        index = text.find(word)
        if index >= 0:
            text = text[:index]
    return text


class MmragChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` for mmrag's ``/v1/chat/completions`` that keeps mmrag's citations.

    mmrag's endpoint retrieves and answers in one call (the last user message is the question);
    plain ``ChatOpenAI`` works as well but drops the extra ``citations`` field. Here they are in
    ``message.response_metadata["citations"]`` (for streams: on the last chunk, so also on the
    summed message), their relative image URLs made absolute against ``base_url``.

    Example::

        chat = MmragChatOpenAI(base_url="http://localhost:8000/v1", api_key="secret", model="mmrag")
        reply = chat.invoke("What colour is the square?")
        reply.content, reply.response_metadata["citations"][0]["image_url"]
    """

    def _create_chat_result(
        self, response: Any, generation_info: dict[str, Any] | None = None
    ) -> ChatResult:
        result = super()._create_chat_result(response, generation_info)
        data = response if isinstance(response, dict) else response.model_dump()
        if data.get("citations") is not None:
            for generation in result.generations:
                generation.message.response_metadata["citations"] = self._citations(data)
        return result

    def _convert_chunk_to_generation_chunk(
        self, chunk: dict, default_chunk_class: type, base_generation_info: dict | None
    ) -> ChatGenerationChunk | None:
        converted = super()._convert_chunk_to_generation_chunk(
            chunk, default_chunk_class, base_generation_info
        )
        if converted is not None and chunk.get("citations") is not None:
            converted.message.response_metadata["citations"] = self._citations(chunk)
        return converted

    def _citations(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        root = (self.openai_api_base or "").rstrip("/").removesuffix("/v1")
        citations = [dict(c) for c in data["citations"]]
        for c in citations:
            if isinstance(c.get("image_url"), str) and c["image_url"].startswith("/"):
                c["image_url"] = root + c["image_url"]
        return citations
