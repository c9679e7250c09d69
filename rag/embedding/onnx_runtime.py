"""The ``onnx`` runtime: both CLIP towers exported once by ``torch.onnx.export``, run by ORT.

Exports are cached under ``<export_dir>/<model>-<key>/`` (``image.onnx``, ``text.onnx`` and
their ``.data`` weight files; ``export_dir`` defaults to ``<cache_dir>/onnx``), keyed by the model
id, a fingerprint of the weights and the torch version, so changed weights never reuse a stale
export. A process exports given weights once: a second cache folder gets a copy. Each export
records its agreement with torch (:data:`AGREEMENT_FILE`, the min cosine on probe inputs), which
the ``auto`` runtime checks. The text tower is exported with a dynamic length when it can run at
real length (see :mod:`rag.embedding.text_length`), otherwise at the full context.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rag.config import ClipSettings
from rag.embedding.loading import LoadedClip
from rag.embedding.onnx_files import open_session, publish, weights_fingerprint
from rag.embedding.text_length import real_length_text_encoder
from rag.embedding.tokens import TokenBatch
from rag.embedding.torch_runtime import TorchBackend, min_cosine, probe_inputs

_FORMAT = "mmrag-onnx-v1"
AGREEMENT_FILE = "agreement.json"
_DONE_FILE = "text.onnx"
"""The file by which a folder is known to hold an export (folders appear whole, by a rename)."""
_log = logging.getLogger(__name__)
_exported: dict[str, Path] = {}
"""Export folder name -> a complete export made by this process (copied into other folders)."""
_export_lock = threading.Lock()


class OnnxBackend:
    """Runs the exported towers with ONNX Runtime sessions (threads from the settings)."""

    def __init__(self, folder: Path, threads: int, device: str = "cpu") -> None:
        self.folder = folder
        self._image = open_session(folder / "image.onnx", device, threads)
        self._text = open_session(folder / "text.onnx", device, threads)
        self._dynamic_length = not isinstance(self._text.get_inputs()[0].shape[1], int)

    @classmethod
    def for_model(cls, clip: LoadedClip, cache_dir: Path, settings: ClipSettings) -> OnnxBackend:
        """Export ``clip``'s towers unless a matching export is cached, then open it."""
        folder = export_folder(clip, settings.export_dir or Path(cache_dir) / "onnx")
        ensure_export(clip, folder)
        return cls(folder, settings.threads, settings.device)

    def agreement(self, clip: LoadedClip) -> float:
        """Min cosine to torch fp32 on probe inputs (measured once per export, then read)."""
        path = self.folder / AGREEMENT_FILE
        try:
            return float(json.loads(path.read_text())["min_cosine"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        pixels, tokens = probe_inputs(clip)
        reference = TorchBackend(clip.model)
        cosine = min(
            min_cosine(self.encode_pixels(pixels), reference.encode_pixels(pixels)),
            min_cosine(self.encode_tokens(tokens), reference.encode_tokens(tokens)),
        )
        _write_atomic(path, json.dumps({"min_cosine": cosine}))
        return cosine

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return self._image.run(None, {"pixels": pixels})[0].astype(np.float32, copy=False)

    def encode_tokens(self, tokens: TokenBatch) -> np.ndarray:
        ids = tokens.ids[:, : tokens.longest] if self._dynamic_length else tokens.ids
        return self._text.run(None, {"ids": ids})[0].astype(np.float32, copy=False)


def export_folder(clip: LoadedClip, export_dir: Path) -> Path:
    """Where the export of ``clip`` (its exact weights) lives under ``export_dir``."""
    key = hashlib.sha256(
        f"{_FORMAT}|{torch.__version__}|{clip.model_id}|{weights_fingerprint(clip.model)}".encode()
    ).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", clip.model_id).strip("_")[:80]
    return Path(export_dir) / f"{slug}-{key}"


def ensure_export(clip: LoadedClip, folder: Path) -> None:
    """Export into ``folder`` unless it holds an export (copy one this process made elsewhere)."""
    with _export_lock:
        if not (folder / _DONE_FILE).is_file():
            done = _exported.get(folder.name)
            if done is not None and (done / _DONE_FILE).is_file():
                publish(
                    folder,
                    lambda staging: shutil.copytree(done, staging, dirs_exist_ok=True),
                    _DONE_FILE,
                )
            else:
                export_towers(clip, folder)
        _exported.setdefault(folder.name, folder)


def export_towers(clip: LoadedClip, folder: Path) -> None:
    """Export the image and text towers into ``folder`` (atomically: other processes may race)."""
    _log.info("exporting %s to ONNX in %s (once per model)", clip.model_id, folder)

    def write(staging: Path) -> None:
        _export_image(clip, staging / "image.onnx")
        _export_text(clip, staging / "text.onnx")

    publish(folder, write, _DONE_FILE)


class _ImageTower(torch.nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)


class _TextTower(torch.nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.encode = real_length_text_encoder(model) or model.encode_text

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.encode(ids)


def _export_image(clip: LoadedClip, path: Path) -> None:
    pixels = torch.zeros(2, 3, clip.image_size, clip.image_size)
    batch = torch.export.Dim("batch")
    _export(_ImageTower(clip.model), pixels, "pixels", {0: batch}, path)


def _export_text(clip: LoadedClip, path: Path) -> None:
    context = clip.tokenizer.context_length
    dynamic_length = real_length_text_encoder(clip.model) is not None
    ids = torch.from_numpy(clip.tokenizer.tokenize(["a photo", "a dog"]).ids)
    axes: dict[int, Any] = {0: torch.export.Dim("batch")}
    if dynamic_length:
        ids = ids[:, :8]
        axes[1] = torch.export.Dim("length", min=2, max=context)
    _export(_TextTower(clip.model), ids, "ids", axes, path)


def _export(
    module: torch.nn.Module, example: torch.Tensor, name: str, axes: dict, path: Path
) -> None:
    with torch.no_grad():
        torch.onnx.export(
            module.eval(),
            (example,),
            str(path),
            input_names=[name],
            output_names=["features"],
            dynamic_shapes=(axes,),
            dynamo=True,
            external_data=True,
            verbose=False,
        )


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        partial.write_text(text)
        os.replace(partial, path)
    except OSError:  # a read-only cache still works; the check then runs again next time
        partial.unlink(missing_ok=True)
