"""The query and document prompts that instruction-tuned embedding models expect, by model name.

A model card says what to put before a query and before a passage (e5: ``query: `` and
``passage: ``; Qwen3-Embedding: an instruction before queries, nothing before passages). Without
them such a model still answers, with worse vectors. The table matches the model's name however
it is spelled (a hub id, an Ollama tag, a local folder): ``intfloat/multilingual-e5-small``,
``jeffh/intfloat-multilingual-e5-large:f16``, ``qwen3-embedding:0.6b``,
``Qwen/Qwen3-Embedding-0.6B``.

Example::

    known_prompts("qwen3-embedding:0.6b")  # ("Instruct: Given a web search query, ...", "")
"""

from __future__ import annotations

import re

WEB_SEARCH_TASK = "Given a web search query, retrieve relevant passages that answer the query"
INSTRUCT_QUERY = f"Instruct: {WEB_SEARCH_TASK}\nQuery:"
"""Qwen3-Embedding's query prompt as its card writes it (``Instruct: {task}\\nQuery:{query}``)."""

KNOWN_PROMPTS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"qwen3-embedding", re.IGNORECASE), INSTRUCT_QUERY, ""),
    (re.compile(r"e5-mistral", re.IGNORECASE), INSTRUCT_QUERY.replace("Query:", "Query: "), ""),
    (re.compile(r"(^|[/_:-])e5-", re.IGNORECASE), "query: ", "passage: "),
    (re.compile(r"nomic-embed-text", re.IGNORECASE), "search_query: ", "search_document: "),
    (
        re.compile(r"mxbai-embed-large", re.IGNORECASE),
        "Represent this sentence for searching relevant passages: ",
        "",
    ),
)
"""(name pattern, query prompt, document prompt); the first pattern found in the name wins."""


def known_prompts(model: str) -> tuple[str, str] | None:
    """The (query, document) prompts of the first :data:`KNOWN_PROMPTS` pattern found in
    ``model``; ``None`` for a model the table does not know."""
    for pattern, query, document in KNOWN_PROMPTS:
        if pattern.search(model):
            return query, document
    return None
