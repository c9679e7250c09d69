"""A page's text as passages that fit the passage model (or CLIP's context), with overlap."""

from __future__ import annotations

from collections.abc import Callable, Sequence

CountTokens = Callable[[Sequence[str]], list[int]]
_SPECIAL = 2  # start and end tokens, counted once per text


def split_passages(
    text: str, count_tokens: CountTokens, max_tokens: int, overlap: int = 0
) -> list[str]:
    """Consecutive word runs of at most ``max_tokens`` tokens (special tokens included), each
    starting up to ``overlap`` tokens before the previous one ended. Empty text: no passage."""
    words = text.split()
    if not words:
        return []
    budget = max(1, max_tokens - _SPECIAL)
    costs = [max(1, count - _SPECIAL) for count in count_tokens(words)]
    passages: list[str] = []
    start = 0
    while start < len(words):
        end, used = start, 0
        while end < len(words) and (end == start or used + costs[end] <= budget):
            used += costs[end]
            end += 1
        passages.append(" ".join(words[start:end]))
        if end >= len(words):
            break
        start = _overlap_start(costs, start, end, overlap)
    return passages


def _overlap_start(costs: list[int], start: int, end: int, overlap: int) -> int:
    back, kept = end, 0
    while back - 1 > start and kept + costs[back - 1] <= overlap:
        back -= 1
        kept += costs[back]
    return back
