"""Where a CLIP model's architecture and weights come from, resolved from :class:`ClipSettings`.

``pretrained`` (or ``model``) may be:

* empty: random weights seeded with ``settings.seed`` (tests, benchmarks);
* an open_clip pretrained tag for ``model`` (``ViT-B-32`` + ``openai``), downloaded from the
  Hugging Face hub into the cache folder;
* ``hf-hub:org/name``: a hub repo in open_clip's layout (``open_clip_config.json`` plus
  ``open_clip_model.safetensors`` or ``open_clip_pytorch_model.bin``);
* a local checkpoint file (``.safetensors``, ``.bin``, ``.pt``, ``.pth``) for the ``model``
  architecture;
* a local folder in open_clip's hub layout (``open_clip_config.json`` holding ``model_cfg`` and
  optionally ``preprocess_cfg``, next to one weights file; ``open_clip_model.safetensors`` is
  preferred, then ``open_clip_pytorch_model.bin``), or a folder holding a single checkpoint file
  for the ``model`` architecture.

Nothing here retries: an unreachable hub is detected in seconds and reported as one
:class:`~rag.errors.ModelUnavailableError` that says how to provide the weights.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import open_clip

from rag.config import ClipSettings
from rag.errors import ConfigError, ModelUnavailableError

CONFIG_NAME = "open_clip_config.json"
WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
HUB_PREFIX = "hf-hub:"
_PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")
_HUB_CONNECT_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ModelSource:
    """What to build (an open_clip name or ``local-dir:``), which checkpoint to load into it."""

    name: str
    checkpoint: Path | None
    model_id: str
    quick_gelu: bool = False
    preprocess: dict[str, Any] = field(default_factory=dict)
    """Image preprocessing of a pretrained tag: mean, std, interpolation, resize_mode."""


def describe(settings: ClipSettings) -> str:
    """The model id of ``settings`` without downloading anything."""
    hub = _hub_repo(settings)
    if hub:
        return HUB_PREFIX + hub
    if not settings.pretrained:
        return f"{settings.model}/random-seed{settings.seed}"
    path = Path(settings.pretrained).expanduser()
    if path.exists():
        return _local_model_id(settings.model, path)
    return f"{settings.model}/{settings.pretrained}"


def resolve(settings: ClipSettings, cache_dir: Path) -> ModelSource:
    """Find (download if needed) the weights named by ``settings``."""
    hub = _hub_repo(settings)
    if hub:
        return _from_hub_repo(settings, hub, cache_dir)
    if not settings.pretrained:
        return ModelSource(settings.model, None, describe(settings))
    path = Path(settings.pretrained).expanduser()
    tag_cfg = {} if path.exists() else _tag_config(settings)
    if tag_cfg:
        return _from_tag(settings, tag_cfg, cache_dir)
    return _from_local(settings, path)


def _hub_repo(settings: ClipSettings) -> str:
    for value in (settings.model, settings.pretrained):
        if value.startswith(HUB_PREFIX):
            return value[len(HUB_PREFIX) :].strip("/")
    return ""


def _tag_config(settings: ClipSettings) -> dict[str, Any]:
    if open_clip.get_model_config(settings.model) is None:
        raise ConfigError(
            f"unknown CLIP architecture {settings.model!r} (MMRAG_CLIP__MODEL); "
            f"use one of open_clip.list_models(), e.g. ViT-B-32, or hf-hub:org/name"
        )
    return dict(open_clip.get_pretrained_cfg(settings.model, settings.pretrained) or {})


def _from_tag(settings: ClipSettings, tag_cfg: dict[str, Any], cache_dir: Path) -> ModelSource:
    hub = tag_cfg.get("hf_hub", "")
    if hub:  # "org/name/" (default file name) or "org/name/file.pt"
        repo, filename = os.path.split(hub)
        names = _with_safe_alternatives(filename or "open_clip_pytorch_model.bin")
        checkpoint = fetch_from_hub(repo, names, cache_dir, settings)
    else:
        checkpoint = _fetch_url(tag_cfg["url"], cache_dir, settings)
    return ModelSource(
        name=settings.model,
        checkpoint=checkpoint,
        model_id=describe(settings),
        quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
        preprocess={k: v for k, v in tag_cfg.items() if k in _PREPROCESS_KEYS},
    )


def _with_safe_alternatives(name: str) -> tuple[str, ...]:
    if name == "open_clip_pytorch_model.bin":
        return ("open_clip_model.safetensors", name)
    if name.endswith((".bin", ".pth")):
        return (name[:-4] + ".safetensors", name)
    return (name,)


def _from_hub_repo(settings: ClipSettings, repo: str, cache_dir: Path) -> ModelSource:
    config = fetch_from_hub(repo, (CONFIG_NAME,), cache_dir, settings)
    weights = fetch_from_hub(repo, WEIGHT_NAMES, cache_dir, settings)
    return ModelSource(f"local-dir:{config.parent}", weights, HUB_PREFIX + repo)


def _from_local(settings: ClipSettings, path: Path) -> ModelSource:
    if not path.exists():
        tags = open_clip.list_pretrained_tags_by_model(settings.model)
        raise ModelUnavailableError(
            f"MMRAG_CLIP__PRETRAINED={settings.pretrained!r} is neither a pretrained tag of "
            f"{settings.model} ({', '.join(tags) or 'none known'}) nor an existing checkpoint file "
            "or folder; give a tag, hf-hub:org/name, or the path of your weights"
        )
    model_id = _local_model_id(settings.model, path)
    if path.is_dir() and (path / CONFIG_NAME).is_file():
        return ModelSource(f"local-dir:{path.resolve()}", _checkpoint_in(path), model_id)
    checkpoint = _checkpoint_in(path) if path.is_dir() else path
    return ModelSource(settings.model, checkpoint, model_id)


def _checkpoint_in(folder: Path) -> Path:
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and p.is_file())
    if len(found) != 1:
        what = "no checkpoint" if not found else f"{len(found)} checkpoints"
        raise ModelUnavailableError(
            f"{folder} holds {what}; put exactly one of {', '.join(WEIGHT_NAMES)} (or one "
            f"{'/'.join(CHECKPOINT_SUFFIXES)} file) next to {CONFIG_NAME}"
        )
    return found[0]


def _local_model_id(model: str, path: Path) -> str:
    checkpoint = _checkpoint_in(path) if path.is_dir() else path
    if path.is_dir() and (path / CONFIG_NAME).is_file():
        model = "local-dir"
    return f"{model}/{path.name}@{file_fingerprint(checkpoint)[:12]}"


def file_fingerprint(path: Path, sample: int = 1 << 20) -> str:
    """A cheap content fingerprint: size plus the first and last MiB of the file."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(sample))
        handle.seek(max(0, size - sample))
        digest.update(handle.read(sample))
    return digest.hexdigest()


def fetch_from_hub(
    repo: str, names: tuple[str, ...], cache_dir: Path, settings: ClipSettings
) -> Path:
    """The first of ``names`` found in the hub repo (the cached copy when offline)."""
    from huggingface_hub import hf_hub_download

    offline = hub_offline()
    problems: list[str] = []
    for name in names:
        try:
            path = hf_hub_download(repo, name, cache_dir=str(cache_dir), local_files_only=offline)
            return Path(path)
        except Exception as exc:  # every hub failure becomes one clear error below
            problems.append(f"{name}: {type(exc).__name__}")
    raise _unavailable(settings, cache_dir, offline, f"hf-hub:{repo} ({'; '.join(problems)})")


def _fetch_url(url: str, cache_dir: Path, settings: ClipSettings) -> Path:
    target = cache_dir / os.path.basename(urlparse(url).path)
    if target.is_file():
        return target
    offline = hub_offline(url)
    try:
        if not offline:
            return Path(open_clip.download_pretrained_from_url(url, cache_dir=str(cache_dir)))
    except Exception as exc:
        raise _unavailable(settings, cache_dir, offline, f"{url} ({exc})") from None
    raise _unavailable(settings, cache_dir, offline, url)


def hub_offline(url: str = "") -> bool:
    """True when HF_HUB_OFFLINE is set or the hub (or proxy) refuses a connection within 3 s."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true"):
        return True
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    parsed = urlparse(proxy or url or constants.ENDPOINT)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), _HUB_CONNECT_TIMEOUT_S):
            return False
    except OSError:
        return True


def _unavailable(
    settings: ClipSettings, cache_dir: Path, offline: bool, source: str
) -> ModelUnavailableError:
    why = (
        "the hub is unreachable (HF_HUB_OFFLINE is set or there is no network)"
        if offline
        else "the download failed"
    )
    return ModelUnavailableError(
        f"CLIP weights for model {settings.model!r} (pretrained {settings.pretrained!r}) are not "
        f"in the cache folder {cache_dir} and {why}: {source}. Provide them by setting "
        "MMRAG_CLIP__PRETRAINED=/path/to/checkpoint-file-or-folder, or by filling the cache "
        f"folder {cache_dir} on a machine with network access (then copy it here), or unset "
        "HF_HUB_OFFLINE once the hub is reachable"
    )
