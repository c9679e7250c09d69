"""Evaluate retrieval that follows the conversation: follow-up questions with their earlier
turns and the items that answer them, searched with each ``MMRAG_LLM__CONDENSE`` mode.

A conversation set is JSON Lines, one follow-up per line::

    {"history": [{"role": "user", "content": "Which cars are there?"},
                 {"role": "assistant", "content": "A red car [1].", "citations": ["car-red"]}],
     "question": "and the blue one?", "relevant": ["car-blue"]}

``citations`` (an assistant turn's cited items) and ``relevant`` list point ids or external ids.
Each mode searches what :func:`rag.condense.condense` makes of the question (``off``: the
question alone; ``rules``; ``llm``: the chat model's rewrite, the rules when it fails), with the
cited items as candidates where the mode takes them.

Example::

    rows = evaluate_conversations(services.retriever, services.chat_model, load_conversations(p))
    [(row.mode, row.metrics["recall@1"]) for row in rows]  # ("off", 0.2), ("rules", 0.8), ...
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rag import payload as keys
from rag.condense import CondenseMode, condense
from rag.errors import InvalidInputError
from rag.llm.base import ChatMessage, ChatModel
from rag.retrieval.evaluate import EVAL_TOP_K, ranked_keys
from rag.retrieval.metrics import mean_metrics, query_metrics
from rag.retrieval.retriever import Retriever
from rag.retrieval.types import Query, Signal
from rag.store.base import Filter, MatchAny

MODES: tuple[CondenseMode, ...] = ("off", "rules", "llm")
MAX_CONVERSATIONS = 10_000
MAX_TURNS = 100


@dataclass(frozen=True)
class EvalConversation:
    """One follow-up: the earlier turns, the question, and the ids that answer it."""

    history: tuple[ChatMessage, ...]
    question: str
    relevant: frozenset[str]


@dataclass(frozen=True)
class ConversationRow:
    """Mean metrics of every follow-up for one condense mode; ``methods`` counts how the
    searched text was made (``llm`` may fall back to ``rules``)."""

    mode: str
    metrics: dict[str, float]
    latency_ms: float
    methods: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode, "metrics": self.metrics, "latency_ms": self.latency_ms,
            "methods": self.methods,
        }  # fmt: skip


def is_conversation_set(path: Path) -> bool:
    """Whether ``path``'s first line is a follow-up (it has ``history``)."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                try:
                    return "history" in json.loads(line)
                except (json.JSONDecodeError, TypeError):
                    return False
    return False


def load_conversations(path: Path) -> list[EvalConversation]:
    """The follow-ups of a conversation set; a bad line is an ``InvalidInputError`` naming it."""
    out: list[EvalConversation] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if len(out) >= MAX_CONVERSATIONS:
                raise InvalidInputError(f"{path}: more than {MAX_CONVERSATIONS} follow-ups")
            out.append(_parse(line, f"{path}:{number}"))
    if not out:
        raise InvalidInputError(f"{path}: no follow-ups")
    return out


def _parse(line: str, where: str) -> EvalConversation:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where}: not JSON ({exc.msg})") from None
    question, relevant, turns = data.get("question"), data.get("relevant"), data.get("history")
    if not isinstance(question, str) or not question.strip():
        raise InvalidInputError(f'{where}: give "question": the follow-up')
    if not isinstance(relevant, list) or not relevant:
        raise InvalidInputError(f'{where}: give "relevant": a list of point or external ids')
    if not isinstance(turns, list) or not 0 < len(turns) <= MAX_TURNS:
        raise InvalidInputError(f'{where}: give "history": 1 to {MAX_TURNS} earlier turns')
    history = []
    for n, turn in enumerate(turns):
        role, content = turn.get("role"), turn.get("content")
        cited = turn.get("citations", [])
        if role not in ("user", "assistant") or not isinstance(content, str):
            raise InvalidInputError(
                f'{where}: history[{n}] needs "role" (user or assistant) and "content"'
            )
        if not isinstance(cited, list):
            raise InvalidInputError(f"{where}: history[{n}].citations must be a list of ids")
        history.append(ChatMessage(role, content, cited=tuple(str(c) for c in cited)))
    return EvalConversation(tuple(history), question, frozenset(str(r) for r in relevant))


def evaluate_conversations(
    retriever: Retriever,
    model: ChatModel | None,
    conversations: Sequence[EvalConversation],
    modes: Sequence[CondenseMode] = MODES,
    top_k: int = EVAL_TOP_K,
    signals: Sequence[Signal] | None = None,
) -> list[ConversationRow]:
    """Recall@1/5/10, MRR and nDCG@10 of the follow-ups for each condense mode (``signals``:
    those searched, default every one on)."""
    resolved = [_with_point_ids(retriever, c) for c in conversations]
    rows = []
    for mode in modes:
        per_query: list[dict[str, float]] = []
        methods: dict[str, int] = {}
        spent = 0.0
        for conversation in resolved:
            began = time.perf_counter()
            condensed = condense(conversation.question, conversation.history, model, mode)
            query = Query(
                text=condensed.text, top_k=top_k, candidates=condensed.candidates,
                signals=None if signals is None else tuple(signals),
            )  # fmt: skip
            hits = retriever.search(query).hits
            spent += time.perf_counter() - began
            methods[condensed.method] = methods.get(condensed.method, 0) + 1
            per_query.append(
                query_metrics(ranked_keys(hits, conversation.relevant), conversation.relevant)
            )
        mean_ms = 1000 * spent / max(len(resolved), 1)
        rows.append(ConversationRow(mode, mean_metrics(per_query), mean_ms, methods))
    return rows


def _with_point_ids(retriever: Retriever, conversation: EvalConversation) -> EvalConversation:
    """The conversation with its cited external ids turned into point ids (a point id stays as
    it is; an external id the collection lacks is left out)."""
    cited = {c for m in conversation.history for c in m.cited}
    if not cited:
        return conversation
    page, _ = retriever.store.scroll(
        Filter(must=(MatchAny(keys.EXTERNAL_ID, tuple(sorted(cited))),)), limit=len(cited) * 4
    )
    by_external = {str(p.payload.get(keys.EXTERNAL_ID)): p.id for p in page}

    def point_ids(cited: Sequence[str]) -> tuple[str, ...]:
        return tuple(by_external.get(c) or c for c in cited if c in by_external or _is_uuid(c))

    history = tuple(replace(m, cited=point_ids(m.cited)) for m in conversation.history)
    return replace(conversation, history=history)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
