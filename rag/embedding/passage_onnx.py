"""The passage model's ``onnx`` runtime: the sentence-transformers modules (transformer, pooling)
exported once by ``torch.onnx.export`` with dynamic batch and length, run by ONNX Runtime.

sentence-transformers' own ONNX backend needs ``optimum``, whose releases pin ``transformers``
below the version mmrag uses, so mmrag exports the same modules itself. Exports are cached under
``<cache_dir>/onnx/passage-<model>-<key>/``, keyed by the model id, a fingerprint of every weight
tensor, the token limit and the torch version: changed weights never reuse a stale export.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rag.embedding.onnx_files import open_session, publish, weights_fingerprint

_FORMAT = "mmrag-passage-onnx-v1"
_FILE = "passage.onnx"
_log = logging.getLogger(__name__)


class OnnxPassageRunner:
    """Runs an exported sentence model on tokenized batches; returns unnormalised embeddings."""

    def __init__(self, path: Path, inputs: list[str], device: str = "cpu") -> None:
        self._session = open_session(path, device, torch.get_num_threads())
        self._inputs = inputs

    @classmethod
    def for_model(
        cls, model: Any, model_id: str, cache_dir: Path, device: str
    ) -> OnnxPassageRunner:
        """Export ``model`` (a SentenceTransformer) unless a matching export is cached."""
        inputs = _input_names(model)
        folder = export_folder(model, model_id, cache_dir)
        if not (folder / _FILE).is_file():
            _export_atomically(model, inputs, folder)
        return cls(folder / _FILE, inputs, device)

    def embed(self, features: dict[str, torch.Tensor]) -> np.ndarray:
        feeds = {name: features[name].numpy() for name in self._inputs}
        return self._session.run(None, feeds)[0].astype(np.float32, copy=False)


def export_folder(model: Any, model_id: str, cache_dir: Path) -> Path:
    """Where the export of ``model`` (its exact weights and token limit) lives."""
    parts = [_FORMAT, torch.__version__, model_id, str(model.max_seq_length)]
    parts.append(weights_fingerprint(model))
    key = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_id).strip("_")[:80]
    return Path(cache_dir) / "onnx" / f"passage-{slug}-{key}"


def _input_names(model: Any) -> list[str]:
    features = model.preprocess(["a b"])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    return [name for name in names if name in features]


class _Sentence(torch.nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        features = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            features["token_type_ids"] = token_type_ids
        return self.model(features)["sentence_embedding"]


def _export_atomically(model: Any, inputs: list[str], folder: Path) -> None:
    _log.info("exporting the passage model to ONNX in %s (once per model)", folder)
    publish(folder, lambda staging: _export(model, inputs, staging / _FILE), _FILE)


def _export(model: Any, inputs: list[str], path: Path) -> None:
    features = model.preprocess(["a photo of a dog", "hello there"])
    batch = torch.export.Dim("batch")
    length = torch.export.Dim("length", min=2, max=max(3, int(model.max_seq_length)))
    with torch.no_grad():
        torch.onnx.export(
            _Sentence(model).eval(),
            tuple(features[name] for name in inputs),
            str(path),
            input_names=inputs,
            output_names=["mmrag_passage_vector"],
            dynamic_shapes=tuple({0: batch, 1: length} for _ in inputs),
            dynamo=True,
            external_data=True,
            verbose=False,
        )
