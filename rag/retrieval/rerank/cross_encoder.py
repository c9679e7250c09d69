"""A sentence-transformers CrossEncoder as reranker (``MMRAG_RERANK__MODEL=cross-encoder:NAME``).

Scores are in [0, 1]: the sigmoid of a one-label model's logit, or the softmax probability of the
last label of a model with several.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.config import RerankSettings
from rag.embedding.tqdm_lock import keep_tqdm_lock_in_process
from rag.errors import ModelUnavailableError


class CrossEncoderReranker:
    """Reranks with a sentence-transformers ``CrossEncoder`` loaded from a local folder.

    Example::

        reranker = CrossEncoderReranker(Path("models/ms-marco-MiniLM-L6-v2"), RerankSettings())
        reranker.score("capital of France", ["Paris is the capital.", "Bananas are yellow."])
    """

    def __init__(
        self,
        folder: Path,
        settings: RerankSettings,
        device: str = "cpu",
        top_n: int | None = None,
        model_id: str | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.settings = settings
        self.device = device
        self._top_n = settings.top_n if top_n is None else top_n
        self._model_id = model_id or f"cross-encoder:{folder}"
        self._lock = threading.Lock()
        self._model: Any = None

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def top_n(self) -> int:
        return self._top_n

    @property
    def budget_s(self) -> float | None:
        return self.settings.budget_ms / 1000 if self.settings.budget_ms else None

    def warm_up(self) -> None:
        """Load the model now."""
        self._load()

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        """Relevance in [0, 1] of each document to ``query``, in the order of ``documents``."""
        if not documents:
            return []
        model = self._load()
        pairs = [(query, document) for document in documents]
        with self._lock:
            if model.num_labels == 1:
                values = model.predict(
                    pairs, batch_size=self.settings.batch_size, show_progress_bar=False
                )
                return [float(v) for v in values]
            probs = model.predict(
                pairs,
                batch_size=self.settings.batch_size,
                show_progress_bar=False,
                apply_softmax=True,
            )
            return [float(row[-1]) for row in probs]

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = _load(self.folder, self.settings, self.device)
            return self._model


def _load(folder: Path, settings: RerankSettings, device: str) -> Any:
    import torch
    from sentence_transformers import CrossEncoder

    keep_tqdm_lock_in_process()

    try:
        model = CrossEncoder(str(folder), device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(
            f"cannot load the cross-encoder from {folder} ({exc}): MMRAG_RERANK__MODEL must be "
            "cross-encoder: followed by a sentence-transformers CrossEncoder folder or hub id"
        ) from None
    limit = getattr(model.model.config, "max_position_embeddings", None) or settings.max_length
    length = min(settings.max_length, int(limit))
    if hasattr(type(model), "max_seq_length"):  # sentence-transformers >= 6
        model.max_seq_length = length
    else:
        model.max_length = length
    if model.num_labels == 1:
        model.activation_fn = torch.nn.Sigmoid()
    return model
