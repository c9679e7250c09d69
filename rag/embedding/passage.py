"""The passage model: a sentence-transformers model behind :class:`PassageEncoder` (or an
embedding server's: :mod:`rag.embedding.passage_server`).

Example::

    encoder = load_passage_encoder(PassageSettings(), Path("data/models"))  # None when "none"
    encoder.encode_documents(["The pump needs 230 V."])  # (1, encoder.dim) float32 unit vectors
    encoder.encode_queries(["what voltage does the pump need"])
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import PassageSettings
from rag.embedding.base import PassageEncoder
from rag.embedding.passage_onnx import OnnxPassageRunner
from rag.embedding.passage_source import PassageSource, resolve_passage
from rag.embedding.tqdm_lock import keep_tqdm_lock_in_process
from rag.errors import ModelUnavailableError

AUTO_RUNTIME = "torch"
"""What ``runtime=auto`` runs (see ``python -m bench.passage`` for the measurement)."""
_encoders: dict[tuple[str, str], SentencePassageEncoder] = {}
_encoders_lock = threading.Lock()


def load_passage_encoder(settings: PassageSettings, cache_dir: Path) -> PassageEncoder | None:
    """The process-wide passage encoder for these settings (``None`` when the model is ``none``).

    Resolves the weights now, so missing ones fail here; the model itself loads on first use.
    With ``backend`` ``ollama`` or ``openai``, an encoder that asks that server (nothing is sent
    until used).
    """
    if settings.model.strip().lower() == "none":
        return None
    if settings.backend != "local":
        from rag.embedding.passage_server import ServerPassageEncoder

        return ServerPassageEncoder(settings)
    source = resolve_passage(settings, Path(cache_dir))
    key = (settings.model_dump_json(), str(source.path))  # one model for all cache folders
    with _encoders_lock:
        encoder = _encoders.get(key)
        if encoder is None:
            encoder = _encoders[key] = SentencePassageEncoder(source, settings, Path(cache_dir))
        return encoder


class SentencePassageEncoder:
    """Encodes queries and passages with one SentenceTransformer, each with its prompt.

    Texts longer than :attr:`max_tokens` are cut there (sentence-transformers truncates);
    :meth:`count_tokens` tells which were.
    """

    def __init__(
        self, source: PassageSource, settings: PassageSettings, cache_dir: Path | None = None
    ) -> None:
        self.source = source
        self.settings = settings
        self.cache_dir = cache_dir
        self._model: Any = None
        self._onnx: OnnxPassageRunner | None = None
        self._lock = threading.Lock()

    @property
    def runtime(self) -> str:
        """The runtime that encodes: ``torch`` or ``onnx`` (``auto`` resolved for the device)."""
        runtime = self.settings.runtime
        return AUTO_RUNTIME if runtime == "auto" else runtime

    @property
    def model_id(self) -> str:
        return self.source.model_id

    @property
    def dim(self) -> int:
        return int(self._loaded().get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        return int(self._loaded().max_seq_length)

    def warm_up(self) -> None:
        self._loaded()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text as a passage (document prompt and special tokens included)."""
        prompt = self._prompts()[1]
        encoded = self._loaded().tokenizer([prompt + t for t in texts], add_special_tokens=True)
        return [len(ids) for ids in encoded["input_ids"]]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._prompts()[0])

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._prompts()[1])

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        model = self._loaded()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._onnx is not None:
            return self._encode_onnx([prompt + t for t in texts])
        vectors = model.encode(
            list(texts),
            prompt=prompt or None,
            batch_size=self.settings.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_onnx(self, texts: list[str]) -> np.ndarray:
        """Like ``SentenceTransformer.encode``: longest texts first, batched, then normalised."""
        assert self._onnx is not None
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        size = self.settings.batch_size
        for start in range(0, len(texts), size):
            rows = order[start : start + size]
            features = self._model.preprocess([texts[i] for i in rows])
            out[rows] = self._onnx.embed(features)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def _prompts(self) -> tuple[str, str]:
        model, source = self._loaded(), self.source
        query = source.query_prompt
        document = source.document_prompt
        if query is None:
            query = model.prompts.get("query", "")
        if document is None:
            document = model.prompts.get("document", model.prompts.get("passage", ""))
        return query, document

    def _loaded(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    model = _load(self.source, self.settings)
                    if self.runtime == "onnx":
                        cache = self.cache_dir or Path(tempfile.gettempdir())
                        self._onnx = OnnxPassageRunner.for_model(
                            model, self.model_id, cache, self.settings.device
                        )
                    self._model = model
        return self._model


def _load(source: PassageSource, settings: PassageSettings) -> Any:
    from sentence_transformers import SentenceTransformer

    keep_tqdm_lock_in_process()

    try:
        model = SentenceTransformer(str(source.path), device=settings.device, local_files_only=True)
    except Exception as exc:
        raise ModelUnavailableError(
            f"cannot load the passage model {source.model_id} from {source.path}: "
            f"{type(exc).__name__}: {exc}. Set MMRAG_PASSAGE__MODEL to a sentence-transformers "
            "folder or hub id, or none to turn the passage signal off"
        ) from None
    if settings.max_tokens:
        model.max_seq_length = min(settings.max_tokens, model.max_seq_length or settings.max_tokens)
    model.eval()
    return model
