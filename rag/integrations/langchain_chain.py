"""A ready LCEL chain: retriever | prompt | chat model, returning the answer with citations."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from rag.errors import InvalidInputError

MAX_CONTEXT_CHARS = 1500
"""Each document's text is cut to this many characters in the prompt."""

RAG_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "Answer the question using only the numbered context items below. Cite the items "
            "you use by their numbers in brackets, like [1] or [2][3]. If the context does not "
            "answer the question, say that you don't know.\n\nContext:\n{context}",
        ),
        ("human", "{question}"),
    ]
)
"""The default prompt; a custom one receives ``context`` (numbered items) and ``question``."""

_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


class Citation(TypedDict):
    """One context item the answer relies on; ``n`` is its number in the prompt."""

    n: int
    id: str | None
    source: str
    image_url: str | None
    text: str
    scores: dict[str, Any]


class RagOutput(TypedDict):
    answer: str
    citations: list[Citation]


def build_rag_chain(
    retriever: Runnable[str, list[Document]],
    chat_model: Runnable[Any, Any],
    prompt: BasePromptTemplate | None = None,
) -> Runnable[Any, RagOutput]:
    """``retriever | prompt | chat_model`` answering a question with citations.

    The input is the question (a string, or ``{"question": ...}``); the output is
    ``{"answer": str, "citations": [Citation, ...]}``. Citations are the context items the answer
    names as ``[n]``; when it names none, every context item is listed (all of them were shown).

    Example::

        chat = ChatOpenAI(base_url="http://localhost:8000/v1", api_key="secret", model="mmrag")
        chain = build_rag_chain(MmragRemoteRetriever(url="http://localhost:8000"), chat)
        out = chain.invoke("What colour is the square?")
        out["answer"], [c["image_url"] for c in out["citations"]]
    """
    answer = (
        RunnableLambda(_prompt_inputs) | (prompt or RAG_PROMPT) | chat_model | StrOutputParser()
    )
    chain = (
        RunnableLambda(_as_question)
        | RunnablePassthrough.assign(documents=RunnableLambda(_question) | retriever)
        | RunnablePassthrough.assign(answer=answer)
        | RunnableLambda(_with_citations)
    )
    return chain.with_config(run_name="mmrag_rag_chain")


def format_context(documents: Sequence[Document]) -> str:
    """Documents as numbered context lines: ``[1] (source) text``."""
    lines = []
    for n, doc in enumerate(documents, start=1):
        source = doc.metadata.get("source") or doc.metadata.get("id") or "unknown"
        text = " ".join(doc.page_content.split())[:MAX_CONTEXT_CHARS] or "(a picture, no text)"
        lines.append(f"[{n}] ({source}) {text}")
    return "\n".join(lines) or "(no context found)"


def cited_numbers(answer: str, count: int) -> list[int]:
    """The item numbers ``[n]`` / ``[n, m]`` in ``answer`` that exist (1..count), in order."""
    found: list[int] = []
    for group in _CITATION.findall(answer):
        for part in group.split(","):
            n = int(part)
            if 1 <= n <= count and n not in found:
                found.append(n)
    return found


def citation(n: int, doc: Document) -> Citation:
    meta = doc.metadata
    return Citation(
        n=n,
        id=meta.get("id") or doc.id,
        source=str(meta.get("source") or ""),
        image_url=meta.get("image_url"),
        text=doc.page_content,
        scores=dict(meta.get("scores") or {}),
    )


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


def _prompt_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {"question": inputs["question"], "context": format_context(inputs["documents"])}


def _with_citations(inputs: Mapping[str, Any]) -> RagOutput:
    documents: list[Document] = inputs["documents"]
    answer: str = inputs["answer"]
    numbers = cited_numbers(answer, len(documents)) or list(range(1, len(documents) + 1))
    return RagOutput(answer=answer, citations=[citation(n, documents[n - 1]) for n in numbers])
