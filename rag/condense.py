"""Retrieval that follows the conversation: a follow-up question ("and the blue one?") made
standalone before it is searched.

Two ways (``MMRAG_LLM__CONDENSE``):

- ``llm``: the chat model rewrites the question with a short prompt, bounded in tokens
  (:data:`MAX_REWRITE_TOKENS`) and time (:data:`REWRITE_S`); its output is checked (one line,
  not empty, not too long, no markup, at least half of the question's own words kept) and the
  rules are used when it fails the check;
- ``rules``: no model: the question, then the content words of the previous user turns with a
  decaying weight (the last turn up to :data:`TURN_WORDS` words, the one before half that, and
  so on; a word already in the query is not repeated);
- ``auto``: ``llm`` when the backend is a real model, ``rules`` for the extractive one;
- ``off``: the question as it is.

With ``rules`` and ``llm`` the items the previous answer cited (:attr:`ChatMessage.cited` of the
last assistant turn, at most :data:`MAX_CITED`) become candidates of the search
(:attr:`rag.retrieval.types.Query.candidates`): ranked with what it finds even when its lists
would not reach them.

Example::

    condensed = condense("and the blue one?", history, chat_model, "auto")
    condensed.text    # 'and the blue one? red sports car'
    condensed.method  # 'rules'
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rag.llm.base import ChatMessage, ChatModel, GenerationOptions

CondenseMode = Literal["auto", "llm", "rules", "off"]

MAX_REWRITE_TOKENS = 48
REWRITE_S = 10.0
"""The rewrite's stream is left after this many seconds (the rules take over)."""
MAX_REWRITE_CHARS = 400
TURN_WORDS = 12
"""Words the last user turn adds to the query; each earlier turn adds half as many."""
MAX_CITED = 32
"""Items of the previous answer taken as candidates, at most."""
HISTORY_CHARS = 2000
"""The rewrite prompt shows at most this much of the conversation (the latest part)."""

REWRITE_PROMPT = """\
Rewrite the user's last question so that it can be understood without the conversation: \
replace words like "it", "that" or "the blue one" by what they refer to. Reply with the \
rewritten question only, on one line."""

_WORD = re.compile(r"\w+")
_MARKUP = re.compile(r"[<>‹›\[\]]|^\s*(?:question|rewritten|answer)\s*:", re.I)
_STOPWORDS_TEXT = (
    "a an and are as at be but by can could did do does for from had has have how i in is it "
    "its me my of on or please show tell that the their them then there these they this "
    "those to was what when where which who why will with would you your about one ones"
)
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@dataclass(frozen=True)
class Condensed:
    """The text that was searched and how it was made: ``question`` (no earlier turn),
    ``off``, ``rules``, ``llm``, or ``rules`` after a rewrite that failed its check
    (``fallback`` says why)."""

    text: str | None
    method: str
    fallback: str = ""
    candidates: tuple[str, ...] = ()
    """The items the previous answer cited, searched as candidates."""

    def as_dict(self) -> dict[str, object]:
        return {
            "query": self.text, "method": self.method, "fallback": self.fallback or None,
            "candidates": list(self.candidates),
        }  # fmt: skip


def condense(
    question: str | None,
    history: Sequence[ChatMessage],
    model: ChatModel | None,
    mode: CondenseMode,
    *,
    rewrite_s: float = REWRITE_S,
) -> Condensed:
    """The standalone form of ``question`` given the earlier turns ``history``."""
    earlier = [m.content for m in history if m.role == "user" and m.content.strip()]
    if question is None or not earlier:
        return Condensed(question, "question")
    if mode == "off":
        return Condensed(question, "off")
    real_model = model is not None and model.backend != "extractive"
    cited = previously_cited(history)
    if model is not None and (mode == "llm" or (mode == "auto" and real_model)):
        rewritten, why = rewrite(question, history, model, rewrite_s)
        if rewritten is not None:
            return Condensed(rewritten, "llm", candidates=cited)
        return Condensed(by_rules(question, earlier), "rules", why, cited)
    return Condensed(by_rules(question, earlier), "rules", candidates=cited)


def previously_cited(history: Sequence[ChatMessage]) -> tuple[str, ...]:
    """The items the last assistant turn of ``history`` cited (no repeats, at most
    :data:`MAX_CITED`); none when it cited none."""
    for message in reversed(history):
        if message.role == "assistant":
            return tuple(dict.fromkeys(message.cited))[:MAX_CITED]
    return ()


def by_rules(question: str, earlier_user_turns: Sequence[str]) -> str:
    """The question, then the content words of the earlier user turns, latest first, each
    turn half as many as the next (a decaying weight)."""
    seen = {w.lower() for w in _WORD.findall(question)}
    parts = [question]
    budget = TURN_WORDS
    for turn in reversed(earlier_user_turns):
        if budget < 1:
            break
        words = []
        for word in _WORD.findall(turn):
            low = word.lower()
            if low in seen or low in _STOPWORDS or len(low) < 2:
                continue
            seen.add(low)
            words.append(word)
            if len(words) >= budget:
                break
        if words:
            parts.append(" ".join(words))
        budget //= 2
    return " ".join(parts)


def rewrite(
    question: str, history: Sequence[ChatMessage], model: ChatModel, rewrite_s: float
) -> tuple[str | None, str]:
    """The model's standalone question, or ``None`` and why it was not used."""
    lines = [f"{m.role}: {' '.join(m.content.split())}" for m in history if m.role != "system"]
    conversation = "\n".join(lines)[-HISTORY_CHARS:]
    messages = [
        ChatMessage("system", REWRITE_PROMPT),
        ChatMessage("user", f"Conversation:\n{conversation}\n\nLast question: {question}"),
    ]
    options = GenerationOptions(max_tokens=MAX_REWRITE_TOKENS, temperature=0.0, stop=("\n\n",))
    pieces: list[str] = []
    started = time.monotonic()
    stream = model.stream(messages, options)
    try:
        for piece in stream:
            pieces.append(piece)
            if time.monotonic() - started > rewrite_s:
                return None, f"the rewrite took longer than {rewrite_s:g} s"
    except Exception as exc:  # any failure of the rewrite falls back to the rules
        return None, f"the rewrite failed ({type(exc).__name__})"
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return checked("".join(pieces), question)


def checked(text: str, question: str = "") -> tuple[str | None, str]:
    """The rewrite when it is one usable line that keeps at least half of the question's own
    words (a small model may answer, or drop "page 2"), else ``None`` and why."""
    line = text.strip().strip('"').strip()
    if not line:
        return None, "the rewrite was empty"
    if "\n" in line:
        return None, "the rewrite was more than one line"
    if len(line) > MAX_REWRITE_CHARS:
        return None, "the rewrite was too long"
    if _MARKUP.search(line):
        return None, "the rewrite held markup"
    if not _WORD.search(line):
        return None, "the rewrite had no words"
    own = {w.lower() for w in _WORD.findall(question)} - _STOPWORDS
    kept = own & {w.lower() for w in _WORD.findall(line)}
    if own and 2 * len(kept) < len(own):
        return None, "the rewrite dropped the question's own words"
    return line, ""
