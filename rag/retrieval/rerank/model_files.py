"""Find a reranker's files: a local folder, or a hub repo (cached copy first, one download try).

Nothing retries: offline (``HF_HUB_OFFLINE``) or an unreachable hub is reported at once as one
:class:`~rag.errors.ModelUnavailableError` that says how to provide the weights.
"""

from __future__ import annotations

from pathlib import Path

from rag.errors import ModelUnavailableError

_IGNORED = ["onnx/*", "openvino/*", "*.onnx", "*.msgpack", "*.h5", "*.ot", "*.gguf", "*.tflite"]


def resolve_model_folder(name: str, cache_dir: Path) -> Path:
    """The folder holding ``name``'s ``config.json``, tokenizer and weights."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise _unavailable(name, cache_dir, f"{path} has no config.json")
        return path
    if not name or name.startswith(("/", ".", "~")) or name.count("/") > 1:
        raise _unavailable(name, cache_dir, f"{name!r} is neither a folder nor a hub id org/name")
    return _from_hub(name, Path(cache_dir))


def _from_hub(repo: str, cache_dir: Path) -> Path:
    from huggingface_hub import snapshot_download

    from rag.embedding.resolve import hub_offline

    try:
        return Path(snapshot_download(repo, cache_dir=str(cache_dir), local_files_only=True))
    except Exception:  # not cached: try the hub once below
        pass
    if hub_offline():
        raise _unavailable(repo, cache_dir, "the hub is unreachable (offline or no network)")
    try:
        folder = snapshot_download(repo, cache_dir=str(cache_dir), ignore_patterns=_IGNORED)
    except Exception as exc:  # every hub failure becomes one clear error
        raise _unavailable(repo, cache_dir, f"the download failed ({type(exc).__name__})") from None
    return Path(folder)


def _unavailable(name: str, cache_dir: Path, why: str) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"reranker weights for MMRAG_RERANK__MODEL={name!r} are not available: {why}. "
        "Set MMRAG_RERANK__MODEL to a local folder holding config.json, the tokenizer files and "
        f"the weights (e.g. `hf download {name} --local-dir DIR` on a machine with network), "
        f"fill the cache folder {cache_dir} on such a machine and copy it here, or set "
        "MMRAG_RERANK__MODEL=none to search without reranking"
    )
