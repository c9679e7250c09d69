"""The Qwen3 reranker (``Qwen/Qwen3-Reranker-0.6B``): relevance = P("yes") from its yes/no logits.

Prompt and score follow the model card: the system/user chat template around
``<Instruct>: {instruction}\\n<Query>: {query}\\n<Document>: {doc}``, and
``softmax([logit("no"), logit("yes")])[1]`` at the last position.

Two savings over the card's code, with the same scores:

* only the last position's hidden state goes through the lm_head, and only through its ``yes``
  and ``no`` rows (not the 151k-token vocabulary);
* the tokens every pair shares (system prompt, instruction, query) run once; their KV cache is
  reused by each batch of documents (``share_prefix``), and by the next call for the same query
  (a search under a time budget scores its candidates a few at a time).

On CPU the model runs in reduced precision (``quantize``): ``bf16`` where the CPU multiplies bf16
matrices natively (AMX), else ``int8`` where it multiplies int8 natively (AVX512-VNNI;
:class:`Int8Linear` in the decoder layers: weights per output channel, activations per token,
each in two int8 passes, the second for what the first rounds away; embeddings, norms and the
yes/no rows stay float), else fp32.
At load, P("yes") of a few probe pairs is compared before and after: beyond
:data:`MAX_DRIFT` the model stays fp32 (with a warning), so the faster path never silently
changes the ranking much. On a GPU the model loads in bf16 as before.
"""

from __future__ import annotations

import inspect
import logging
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
PrefixCache = list[tuple[torch.Tensor, ...]]
MAX_DRIFT = 0.01
"""The largest |P(yes) reduced - P(yes) fp32| on the probe pairs that keeps the reduced model."""
PROBES = [
    ("what does the pump need", "The pump needs 230 V and a 16 A fuse."),
    ("what does the pump need", "Bananas are yellow and grow in bunches."),
    ("a red square on a table", "a photo of a red square on a white table"),
    ("a red square on a table", "dog"),
    ("capital of France", "Paris is the capital and largest city of France."),
    ("capital of France", "The Eiffel tower was built in 1889."),
]
log = logging.getLogger(__name__)


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
        self._last_prefix: tuple[tuple[int, ...], PrefixCache] | None = None
        self._precision: str | None = None

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def top_n(self) -> int:
        return self._top_n

    @property
    def budget_s(self) -> float | None:
        return self.settings.budget_ms / 1000 if self.settings.budget_ms else None

    @property
    def precision(self) -> str:
        """``fp32``, ``bf16`` or ``int8`` on CPU (before loading: what it will try); ``bf16`` on
        a GPU."""
        if self._precision is not None:
            return self._precision
        reduced = reduced_precision(self.settings, self.device)
        return reduced or ("fp32" if self.device.split(":")[0] == "cpu" else "bf16")

    @property
    def quantized(self) -> bool:
        """Whether the model runs (or will try) int8 or bf16 on CPU."""
        return self.precision in REDUCED

    def warm_up(self) -> None:
        """Load the tokenizer and model now."""
        self._load()

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        """P("yes") for each (query, document) pair, in the order of ``documents``."""
        if not documents:
            return []
        _, model, yes_no = self._load()
        sequences = self.tokenize(query, documents)
        shared = 0
        if self.share_prefix:  # the query's own part: the same for every call with this query
            shared = common_prefix_length([*sequences, *self.tokenize(query, [""])])
        with self._lock, torch.inference_mode():
            cache = self._prefix_cache(model, sequences[0][:shared], yes_no.device)
            return score_sequences(
                model, yes_no, sequences, shared, self.settings.batch_size, prefix=cache
            )

    def _prefix_cache(self, model: Any, prefix: list[int], device: torch.device) -> Any:
        """The KV cache of ``prefix``, kept for the next call (caller holds the lock)."""
        if len(prefix) < MIN_SHARED_TOKENS:
            return None
        key = tuple(prefix)
        if self._last_prefix is None or self._last_prefix[0] != key:
            self._last_prefix = (key, _prefix_cache(model.model, prefix, device))
        return self._last_prefix[1]

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
                loaded = _load(self.folder, self.device)
                reduced = reduced_precision(self.settings, self.device)
                if reduced is not None:
                    loaded = self._reduce(loaded, reduced)
                self._loaded = loaded
                self._precision = self.precision
            return self._loaded

    def _reduce(self, loaded: tuple[Any, Any, torch.Tensor], precision: str) -> Any:
        """The model in ``precision`` when the probes' P(yes) moves by <= MAX_DRIFT, else fp32."""
        tokenizer, model, yes_no = loaded
        probes = _probe_sequences(tokenizer, self.settings)
        with torch.inference_mode():
            before = score_sequences(model, yes_no, probes, 0, len(probes))
            swaps = quantize_int8(model) if precision == "int8" else model.to(torch.bfloat16)
            after = score_sequences(model, yes_no, probes, 0, len(probes))
        drift = max(abs(a - b) for a, b in zip(before, after, strict=True))
        if drift <= MAX_DRIFT:
            self._precision = precision
            return loaded
        log.warning(
            "reranker %s stays fp32: %s moved P(yes) of the probe pairs by %.4f (> %s)",
            self._model_id,
            precision,
            drift,
            MAX_DRIFT,
        )
        self._precision = "fp32"
        if precision == "int8":
            _restore(swaps)
            return loaded
        return _load(self.folder, self.device)  # bf16 weights cannot go back to fp32 exactly


REDUCED = ("bf16", "int8")


def reduced_precision(settings: RerankSettings, device: str) -> str | None:
    """What a CPU model tries instead of fp32 (``None``: nothing; the GPU path is bf16 anyway).

    ``auto``: ``bf16`` where the CPU has native bf16 matrix units (AMX); else ``int8`` where it
    has AVX512-VNNI (two int8 passes a side are 1.05-1.1x fp32 there, measured with oneDNN held
    to that instruction set); else nothing (without VNNI int8 multiplies barely beat fp32, and
    three of them per product cost more).
    """
    if device.split(":")[0] != "cpu" or settings.quantize == "none":
        return None
    if settings.quantize != "auto":
        return settings.quantize
    if native_bf16():
        return "bf16"
    return "int8" if native_int8() else None


def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX tiles)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private torch API; may go
    return bool(probe and probe())


def native_int8() -> bool:
    """Whether this CPU multiplies int8 in hardware (AVX512-VNNI; AMX CPUs have it too)."""
    probe = getattr(torch.cpu, "_is_vnni_supported", None)  # private torch API; may go
    return bool(probe and probe())


RESIDUAL_STEPS = 254
"""The second int8 pass quantizes what the first rounds away (at most half a step) in steps this
many times finer: 127 levels over half a step."""


def _int8_rows(
    rows: torch.Tensor, unsigned: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``rows ~= scale * (first + second / RESIDUAL_STEPS)``, both int8 with one scale per row:
    two passes keep about 15 bits where one keeps 8. ``unsigned``: uint8, offset by 128."""
    scale = rows.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12).div_(127)
    first = torch.div(rows, scale).round_()
    left = torch.addcmul(rows, first, scale, value=-1)  # |left| <= scale / 2: no clamp needed
    second = left.mul_(RESIDUAL_STEPS / scale).round_()
    first, second = first.to(torch.int8), second.to(torch.int8)
    if unsigned:  # v + 128 is v with its sign bit flipped, on one byte
        first = first.view(torch.uint8).bitwise_xor_(ZERO_POINT)
        second = second.view(torch.uint8).bitwise_xor_(ZERO_POINT)
    return first, second, scale


ZERO_POINT = 128
"""oneDNN's int8 activations are unsigned with this zero point: VNNI multiplies uint8 by int8
natively (signed activations take a slow path there: seconds per product)."""
NO_POST_OP: tuple[str, list[float], str] = ("none", [], "")


def _onednn_int8() -> bool:
    """Whether torch has oneDNN's int8 linear with prepacked weights (x86 builds)."""
    onednn = getattr(torch.ops, "onednn", None)
    return bool(torch.backends.mkldnn.is_available() and hasattr(onednn, "qlinear_pointwise"))


class Int8Linear(torch.nn.Module):
    """``nn.Linear`` in int8, two passes each side: weights per output channel ``W ~= t (W1 +
    W2/254)``, activations per token (dynamic) ``x ~= s (x1 + x2/254)``, all four int8. The
    product keeps the terms down to 1/254: ``s t (x1 W1 + (x2 W1 + x1 W2) / 254)``, 3x the int8
    multiply-adds of one pass for ~100x less error (one pass drifts P("yes") of the 0.6B
    architecture by ~0.02, this one by ~0.0001). The products run in oneDNN with the weights
    packed once (AMX / VNNI int8 where the CPU has them), else by ``torch._int_mm``."""

    def __init__(self, linear: torch.nn.Linear, onednn: bool = True) -> None:
        super().__init__()
        w1, w2, scale = _int8_rows(linear.weight.detach().float())  # (out, in)
        self.weight_scale = scale.reshape(-1).contiguous()
        self.residual_scale = self.weight_scale / RESIDUAL_STEPS
        self.zero_points = torch.zeros_like(self.weight_scale, dtype=torch.long)
        self.bias = linear.bias
        pair = torch.cat([w1, w2], dim=1)  # meets [x2 | x1]: x2 W1 + x1 W2
        self.packed: tuple[torch.Tensor, torch.Tensor] | None = None
        self.weights: tuple[torch.Tensor, torch.Tensor] | None = None
        if onednn and _onednn_int8():
            try:
                prepack = torch.ops.onednn.qlinear_prepack
                self.packed = (prepack(w1, None), prepack(pair, None))
            except RuntimeError:  # a CPU oneDNN cannot serve: the portable path below
                self.packed = None
        if self.packed is None:
            self.weights = (w1.t(), pair.t())  # (in, out) views, for _int_mm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1]).float()
        first, second, scale = _int8_rows(rows, unsigned=self.packed is not None)
        pair = torch.cat([second, first], dim=1)
        if self.packed is not None:
            out = self._onednn(self.packed, first, pair)
        else:
            out = self._int_mm(first, pair)
        out.mul_(scale)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], -1).to(x.dtype)

    def _onednn(
        self, packed: tuple[torch.Tensor, torch.Tensor], first: torch.Tensor, pair: torch.Tensor
    ) -> torch.Tensor:
        (w1, w_pair), qlinear = packed, torch.ops.onednn.qlinear_pointwise
        scale, zero, f32, none = self.weight_scale, self.zero_points, torch.float32, NO_POST_OP
        x_zero, residual = ZERO_POINT, self.residual_scale
        out = qlinear(first, 1.0, x_zero, w1, scale, zero, None, 1.0, 0, f32, *none)
        return qlinear.binary(  # + out, summed inside oneDNN
            pair, 1.0, x_zero, w_pair, residual, zero, out, None, 1.0, 0, f32, 1.0, 0, "sum", 1.0,
            *none,
        )  # fmt: skip

    def _int_mm(self, first: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
        assert self.weights is not None  # set when there is no oneDNN packing
        count = first.shape[0]
        if count <= 16:  # _int_mm wants more than 16 rows on some builds: pad
            first = torch.nn.functional.pad(first, (0, 0, 0, 17 - count))
            pair = torch.nn.functional.pad(pair, (0, 0, 0, 17 - count))
        w1, w_pair = self.weights
        out = torch._int_mm(first, w1).float()
        out.add_(torch._int_mm(pair, w_pair), alpha=1 / RESIDUAL_STEPS)
        return out[:count].mul_(self.weight_scale)


Swap = tuple[torch.nn.Module, str, torch.nn.Linear]


def quantize_int8(model: Any) -> list[Swap]:
    """Replace the decoder layers' ``nn.Linear`` by :class:`Int8Linear`, in place; embeddings,
    norms and the lm_head stay float. Returns what was replaced (for :func:`_restore`)."""
    swaps: list[Swap] = []
    for parent in list(model.model.layers.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(parent, name, Int8Linear(child))
                swaps.append((parent, name, child))
    return swaps


def _restore(swaps: list[Swap]) -> None:
    for parent, name, linear in swaps:
        setattr(parent, name, linear)


def _probe_sequences(tokenizer: Any, settings: RerankSettings) -> list[list[int]]:
    prefix = tokenizer.encode(PREFIX, add_special_tokens=False)
    suffix = tokenizer.encode(SUFFIX, add_special_tokens=False)
    pairs = [format_pair(settings.instruction, query, doc) for query, doc in PROBES]
    bodies = tokenizer(pairs, add_special_tokens=False)["input_ids"]
    return [prefix + list(body) + suffix for body in bodies]


def score_sequences(
    model: Any,
    yes_no: torch.Tensor,
    sequences: list[list[int]],
    shared: int,
    batch_size: int,
    prefix: PrefixCache | None = None,
) -> list[float]:
    """P("yes") of each token sequence; the first ``shared`` tokens (common to all) run once.

    ``yes_no`` holds the lm_head rows of "no" and "yes". Sequences run in batches of similar
    length, right-padded, and only their last positions reach the lm_head rows. ``prefix``: the
    KV cache of the first ``shared`` tokens when the caller has it already.
    """
    device = yes_no.device
    base = model.model
    use_cache = shared >= MIN_SHARED_TOKENS and (len(sequences) > 1 or prefix is not None)
    shared = shared if use_cache else 0
    cache = None
    if use_cache:
        cache = prefix if prefix is not None else _prefix_cache(base, sequences[0][:shared], device)
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


def _prefix_cache(base: Any, prefix: list[int], device: torch.device) -> PrefixCache:
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
    prefix: PrefixCache | None,
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
