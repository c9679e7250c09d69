"""The Qwen3 reranker (``Qwen/Qwen3-Reranker-0.6B``): relevance = P("yes") from its yes/no logits.

Prompt and score follow the model card: the system/user chat template around
``<Instruct>: {instruction}\\n<Query>: {query}\\n<Document>: {doc}``, and
``softmax([logit("no"), logit("yes")])[1]`` at the last position.

Two savings over the card's code, with the same scores:

* only the last position's hidden state goes through the lm_head, and only through its ``yes``
  and ``no`` rows (not the 151k-token vocabulary);
* the tokens every pair shares (system prompt, instruction, query) run once; their KV cache is
  reused by each batch of documents (``share_prefix``).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rag.config import RerankSettings
from rag.errors import ConfigError, ModelUnavailableError

PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and "
    'the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n"
)
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
MIN_SHARED_TOKENS = 8
"""Below this many shared tokens, running the pairs whole is as cheap as reusing a cache."""


def format_pair(instruction: str, query: str, document: str) -> str:
    """The user turn of the model card, between :data:`PREFIX` and :data:`SUFFIX`."""
    return f"<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"


class Qwen3Reranker:
    """Scores documents for a query with a Qwen3 reranker (causal LM) from a local folder.

    The constructor is cheap; the model loads in :meth:`warm_up` or on first use.

    Example::

        reranker = Qwen3Reranker(Path("models/Qwen3-Reranker-0.6B"), RerankSettings())
        reranker.score("capital of France", ["Paris is the capital.", "Bananas are yellow."])
    """

    def __init__(
        self,
        folder: Path,
        settings: RerankSettings,
        device: str = "cpu",
        top_n: int | None = None,
        model_id: str | None = None,
        share_prefix: bool = True,
    ) -> None:
        self.folder = Path(folder)
        self.settings = settings
        self.device = device
        self.share_prefix = share_prefix
        self._top_n = settings.top_n if top_n is None else top_n
        self._model_id = model_id or str(folder)
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, torch.Tensor] | None = None

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def top_n(self) -> int:
        return self._top_n

    def warm_up(self) -> None:
        """Load the tokenizer and model now."""
        self._load()

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        """P("yes") for each (query, document) pair, in the order of ``documents``."""
        if not documents:
            return []
        _, model, yes_no = self._load()
        sequences = self.tokenize(query, documents)
        shared = common_prefix_length(sequences) if self.share_prefix else 0
        with self._lock, torch.inference_mode():
            return score_sequences(model, yes_no, sequences, shared, self.settings.batch_size)

    def tokenize(self, query: str, documents: Sequence[str]) -> list[list[int]]:
        """Token ids of each full prompt, truncated to ``max_length`` as the model card does."""
        tokenizer = self._load()[0]
        prefix = tokenizer.encode(PREFIX, add_special_tokens=False)
        suffix = tokenizer.encode(SUFFIX, add_special_tokens=False)
        room = self.settings.max_length - len(prefix) - len(suffix)
        if room < 1:
            raise ConfigError(
                f"MMRAG_RERANK__MAX_LENGTH={self.settings.max_length} leaves no room for the "
                f"query and document after the {len(prefix) + len(suffix)}-token template"
            )
        pairs = [format_pair(self.settings.instruction, query, doc) for doc in documents]
        bodies = tokenizer(pairs, add_special_tokens=False, truncation=True, max_length=room)
        return [prefix + list(body) + suffix for body in bodies["input_ids"]]

    def _load(self) -> tuple[Any, Any, torch.Tensor]:
        with self._lock:
            if self._loaded is None:
                self._loaded = _load(self.folder, self.device)
            return self._loaded


def score_sequences(
    model: Any, yes_no: torch.Tensor, sequences: list[list[int]], shared: int, batch_size: int
) -> list[float]:
    """P("yes") of each token sequence; the first ``shared`` tokens (common to all) run once.

    ``yes_no`` holds the lm_head rows of "no" and "yes". Sequences run in batches of similar
    length, right-padded, and only their last positions reach the lm_head rows.
    """
    device = yes_no.device
    base = model.model
    use_cache = shared >= MIN_SHARED_TOKENS and len(sequences) > 1
    shared = shared if use_cache else 0
    cache = _prefix_cache(base, sequences[0][:shared], device) if use_cache else None
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    scores = [0.0] * len(sequences)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        last = _last_hidden(base, [sequences[i][shared:] for i in chunk], cache, device)
        for index, value in zip(chunk, _p_yes(last, yes_no), strict=True):
            scores[index] = value
    return scores


def common_prefix_length(sequences: list[list[int]]) -> int:
    """Length of the longest common prefix, leaving every sequence at least one token of its own."""
    if not sequences:
        return 0
    shortest = min(len(seq) for seq in sequences)
    first = sequences[0]
    for position in range(shortest - 1):
        if any(seq[position] != first[position] for seq in sequences):
            return position
    return max(shortest - 1, 0)


def _prefix_cache(
    base: Any, prefix: list[int], device: torch.device
) -> list[tuple[torch.Tensor, ...]]:
    ids = torch.tensor([prefix], device=device)
    out = base(input_ids=ids, use_cache=True)
    cache = out["cache"] if "cache" in out else out["past_key_values"]
    return [(layer.keys, layer.values) for layer in cache.layers]


def _cache_argument(base: Any) -> str:
    """``cache`` (transformers 5.x) or ``past_key_values`` (earlier), as ``forward`` names it."""
    parameters = inspect.signature(base.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _last_hidden(
    base: Any,
    tails: list[list[int]],
    prefix: list[tuple[torch.Tensor, ...]] | None,
    device: torch.device,
) -> torch.Tensor:
    """The final hidden state at each sequence's last token (right padding, causal attention)."""
    from transformers import DynamicCache

    width = max(len(tail) for tail in tails)
    ids = torch.zeros((len(tails), width), dtype=torch.long, device=device)
    mask = torch.zeros((len(tails), width), dtype=torch.long, device=device)
    for row, tail in enumerate(tails):
        ids[row, : len(tail)] = torch.tensor(tail, device=device)
        mask[row, : len(tail)] = 1
    kwargs: dict[str, Any] = {}
    if prefix is not None:
        batch = len(tails)
        layers = [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in prefix]
        kwargs[_cache_argument(base)] = DynamicCache(ddp_cache_data=layers)
        kwargs["use_cache"] = True
        mask = torch.cat([mask.new_ones((batch, prefix[0][0].shape[-2])), mask], dim=1)
    hidden = base(input_ids=ids, attention_mask=mask, **kwargs).last_hidden_state
    lengths = torch.tensor([len(tail) for tail in tails], device=device)
    return hidden[torch.arange(len(tails), device=device), lengths - 1]


def _p_yes(last: torch.Tensor, yes_no: torch.Tensor) -> list[float]:
    logits = last.to(yes_no.dtype) @ yes_no.T  # columns: "no", "yes"
    return torch.softmax(logits.float(), dim=-1)[:, 1].tolist()


def _load(folder: Path, device: str) -> tuple[Any, Any, torch.Tensor]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.float32 if device.split(":")[0] == "cpu" else torch.bfloat16
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
        model = model.to(device).eval()
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(
            f"cannot load the Qwen3 reranker from {folder} ({exc}): MMRAG_RERANK__MODEL must be a "
            "Qwen3 reranker folder (config.json, tokenizer files, model.safetensors) or hub id"
        ) from None
    return tokenizer, model, _yes_no_rows(tokenizer, model)


def _yes_no_rows(tokenizer: Any, model: Any) -> torch.Tensor:
    """The lm_head rows of the tokens "no" and "yes" (in that order)."""
    ids = [tokenizer.convert_tokens_to_ids(token) for token in ("no", "yes")]
    if any(i is None or i == tokenizer.unk_token_id for i in ids):
        raise ConfigError(
            "the reranker's tokenizer has no 'yes'/'no' tokens: MMRAG_RERANK__MODEL must name a "
            "Qwen3 reranker, or use cross-encoder:NAME for a cross-encoder"
        )
    return model.lm_head.weight[ids].detach()
