"""A ready LCEL chain: retriever | prompt | chat model, returning the answer with citations.

It speaks mmrag's grounded-prompt format (:mod:`rag.prompting`): the same system rules, the same
numbered, sanitised ``<context n="N">`` blocks within a token budget, and the same citation rules
as ``POST /v1/chat``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, TypedDict

from langchain_core.documents import Document
from langchain_core.messages import SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from rag import payload as keys
from rag.answer import SNIPPET_CHARS
from rag.citations import cited_numbers
from rag.errors import InvalidInputError
from rag.prompting import (
    SYSTEM_PROMPT,
    ContextBlock,
    build_context,
    estimate_tokens,
    neutralize_markup,
    sanitize_user_text,
)
from rag.retrieval.types import Hit, Scores

CONTEXT_TOKENS = 2048
"""Default token budget of the context blocks (``MMRAG_LLM__CONTEXT_TOKENS``'s default)."""

RAG_PROMPT = ChatPromptTemplate.from_messages(
    [
        SystemMessage(content=SYSTEM_PROMPT),
        ("human", "Context:\n{context}\n\nQuestion: {question}"),
    ]
)
"""The default prompt; a custom one receives ``context`` (the blocks) and ``question``."""


class Citation(TypedDict):
    """A context block the answer rests on, shaped like the API's citations: ``[n]`` in the
    answer is block ``n``; ``cited`` is ``False`` for the fallback citation of an answer that
    cited nothing."""

    n: int
    id: str
    source: str
    snippet: str
    scores: dict[str, float | None]
    image_url: str | None
    cited: bool


class RagOutput(TypedDict):
    answer: str
    citations: list[Citation]


def build_rag_chain(
    retriever: Runnable[str, list[Document]],
    chat_model: Runnable[Any, Any],
    prompt: BasePromptTemplate | None = None,
    context_tokens: int = CONTEXT_TOKENS,
) -> Runnable[Any, RagOutput]:
    """``retriever | prompt | chat_model``, answering a question with citations.

    The input is the question (a string, or ``{"question": ...}``); the output is
    ``{"answer": str, "citations": [Citation, ...]}``: the blocks the answer cites as ``[n]``,
    or, when it cites none, the first block flagged ``cited=False``. Any retriever works; with
    :class:`MmragRetriever` / :class:`MmragRemoteRetriever` citations carry scores and image URLs.

    Example::

        chat = ChatOpenAI(base_url="http://localhost:8000/v1", api_key="secret", model="mmrag")
        chain = build_rag_chain(MmragRemoteRetriever(url="http://localhost:8000"), chat)
        out = chain.invoke("What colour is the square?")
        out["answer"], [c["image_url"] for c in out["citations"]]
    """
    if context_tokens < 1:
        raise InvalidInputError(f"context_tokens must be positive, got {context_tokens}")
    answer = (
        RunnableLambda(_prompt_inputs) | (prompt or RAG_PROMPT) | chat_model | StrOutputParser()
    )
    chain = (
        RunnableLambda(_as_question)
        | RunnablePassthrough.assign(documents=RunnableLambda(_question) | retriever)
        | RunnablePassthrough.assign(blocks=RunnableLambda(partial(_blocks, tokens=context_tokens)))
        | RunnablePassthrough.assign(answer=answer)
        | RunnableLambda(_with_citations)
    )
    return chain.with_config(run_name="mmrag_rag_chain")


def document_hit(doc: Document) -> Hit:
    """A ``Document`` seen as an mmrag hit (metadata of :class:`MmragRetriever` documents is
    read fully; other documents keep their text, source and id)."""
    meta = doc.metadata
    scores = meta.get("scores") or {}
    payload = {
        keys.TEXT: doc.page_content,
        keys.SOURCE: meta.get("source") or "",
        keys.HAS_IMAGE: bool(meta.get("image_url")),
        keys.METADATA: meta.get("metadata") or {},
    }
    return Hit(
        id=str(meta.get("id") or doc.id or meta.get("_id") or ""),
        payload=payload,
        scores=Scores(
            image=scores.get("image"),
            text=scores.get("text"),
            fused=float(scores.get("fused") or 0.0),
            rerank=scores.get("rerank"),
        ),
    )


def format_context(documents: Sequence[Document], context_tokens: int = CONTEXT_TOKENS) -> str:
    """The documents as mmrag's numbered context blocks, within ``context_tokens``."""
    blocks = build_context(
        [document_hit(doc) for doc in documents], context_tokens, estimate_tokens
    )
    return _render(blocks)


def cite(
    answer: str, blocks: Sequence[ContextBlock], documents: Sequence[Document]
) -> list[Citation]:
    """Citations of the blocks ``answer`` names; the first block, flagged uncited, if none."""
    numbers = cited_numbers(answer, len(blocks))
    if not numbers:
        return [_citation(blocks[0], documents[0], cited=False)] if blocks else []
    return [_citation(blocks[n - 1], documents[n - 1], cited=True) for n in numbers]


def _citation(block: ContextBlock, doc: Document, cited: bool) -> Citation:
    hit = document_hit(doc)
    return Citation(
        n=block.n,
        id=hit.id,
        source=hit.source,
        snippet=neutralize_markup(hit.text[:SNIPPET_CHARS]),
        scores=hit.scores.as_dict(),
        image_url=doc.metadata.get("image_url"),
        cited=cited,
    )


def _render(blocks: Sequence[ContextBlock]) -> str:
    return "\n\n".join(block.rendered for block in blocks) or "(no context found)"


def _as_question(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"question": value}
    if isinstance(value, Mapping) and isinstance(value.get("question"), str):
        return dict(value)
    raise InvalidInputError(
        f"the chain takes a question string or {{'question': str}}, got {type(value).__name__}"
    )


def _question(inputs: Mapping[str, Any]) -> str:
    return str(inputs["question"])


def _blocks(inputs: Mapping[str, Any], tokens: int) -> list[ContextBlock]:
    hits = [document_hit(doc) for doc in inputs["documents"]]
    return build_context(hits, tokens, estimate_tokens)


def _prompt_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "question": sanitize_user_text(inputs["question"]),
        "context": _render(inputs["blocks"]),
    }


def _with_citations(inputs: Mapping[str, Any]) -> RagOutput:
    answer: str = inputs["answer"]
    return RagOutput(answer=answer, citations=cite(answer, inputs["blocks"], inputs["documents"]))
