"""Long texts: split on word boundaries into chunks that fit the text encoder's context."""

from __future__ import annotations

from collections.abc import Callable, Sequence

CountTokens = Callable[[Sequence[str]], list[int]]
"""Tokens per text, start and end tokens included (``Embedder.count_tokens``)."""

_SPECIAL = 2  # start and end tokens, counted once per text


def chunk_text(text: str, count_tokens: CountTokens, context_length: int) -> list[str]:
    """``[text]`` when it fits, else consecutive word runs that each fit (a single word longer
    than the context becomes its own chunk, which the encoder truncates)."""
    if count_tokens([text])[0] <= context_length:
        return [text]
    words = text.split()
    costs = [count - _SPECIAL for count in count_tokens(words)]
    budget = context_length - _SPECIAL
    chunks: list[list[str]] = [[]]
    used = 0
    for word, cost in zip(words, costs, strict=True):
        if chunks[-1] and used + cost > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(word)
        used += cost
    return [" ".join(chunk) for chunk in chunks]
