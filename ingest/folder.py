"""A folder tree as items: images with sidecar or captions-file text, and text-only files."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ingest.documents.reader import DOCUMENT_SUFFIXES
from ingest.images import IMAGE_SUFFIXES
from ingest.items import Ignored, Source, SourceItem, Unreadable
from ingest.records import Record, iter_records
from ingest.report import ItemError
from rag.errors import InvalidInputError
from rag.safe_open import MissingFileError, open_beneath

CAPTION_FILES = ("captions.jsonl", "captions.csv")
TEXT_SUFFIXES = (".json", ".txt")
"""Sidecar kinds, in order of preference when an image has both."""

Found = SourceItem | ItemError | Ignored | Unreadable
_ITEM_SUFFIXES = frozenset(TEXT_SUFFIXES) | DOCUMENT_SUFFIXES
_SUBFOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Captions:
    """Entries of the root's captions files by image path (with the line they came from)."""

    records: dict[str, tuple[str, Record]] = field(default_factory=dict)
    errors: list[ItemError] = field(default_factory=list)


def folder_source(path: Path, anchor: Path | None = None) -> Source:
    """Every item under ``path``, streamed one folder at a time (names sorted).

    ``anchor``: the trusted folder above ``path`` (a configured ingest root) from which every
    folder and file is opened without following a symlink; ``None``: ``path`` resolved is its
    own anchor (a local user's folder). Only the root's captions files and one folder's names
    are held in memory.
    """
    root = path.resolve() if anchor is None else Path(os.path.normpath(path))
    return Source(root=str(root), items=_folder_items(root, anchor or root, path))


def _folder_items(root: Path, anchor: Path, shown: Path) -> Iterator[Found]:
    captions = _load_captions(root, anchor, shown)
    yield from captions.errors
    used: set[str] = set()
    walk_errors: list[OSError] = []
    for here, dirnames, filenames, links in _walk(root, anchor, walk_errors):
        yield from _unreadable(root, shown, walk_errors)
        yield from _prune_dirs(root, here, dirnames, links)
        for entry in _dir_items(root, anchor, shown, here, sorted(filenames), captions):
            if isinstance(entry, SourceItem):
                used.add(entry.source)
            yield entry
    yield from _unreadable(root, shown, walk_errors)
    for name, (line, record) in captions.records.items():
        if name not in used:
            yield ItemError(line, f"captions entry's image not found: {record.image}")


Listing = tuple[Path, list[str], list[str], set[str]]
"""A folder, its subfolders' names (pruned in place), its files' names, its symlinks' names."""


def _walk(root: Path, anchor: Path, errors: list[OSError]) -> Iterator[Listing]:
    """``os.walk``'s shape (top-down), each folder opened from its parent's descriptor without
    following a symlink, so a folder swapped for a symlink is never listed."""
    try:
        fd = open_beneath(anchor, root, "dir")
    except InvalidInputError as exc:
        errors.append(OSError(errno.EACCES, str(exc), str(root)))
        return
    yield from _walk_fd(fd, root, errors)


def _walk_fd(fd: int, here: Path, errors: list[OSError]) -> Iterator[Listing]:
    try:
        try:
            with os.scandir(fd) as listing:
                entries = list(listing)
        except OSError as exc:
            errors.append(OSError(exc.errno, exc.strerror, str(here)))
            return
        links = {e.name for e in entries if e.is_symlink()}
        dirnames = [e.name for e in entries if _is_dir(e)]
        filenames = [e.name for e in entries if not _is_dir(e)]
        yield here, dirnames, filenames, links
        for name in dirnames:
            try:
                child = os.open(name, _SUBFOLDER, dir_fd=fd)
            except OSError as exc:  # gone, or swapped for a symlink since it was listed
                errors.append(OSError(exc.errno, exc.strerror, str(here / name)))
                continue
            yield from _walk_fd(child, here / name, errors)
    finally:
        os.close(fd)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _unreadable(root: Path, shown: Path, errors: list[OSError]) -> Iterator[Unreadable]:
    """Folders the walk could not list: reported, and kept out of ``--prune``."""
    while errors:
        error = errors.pop(0)
        folder = Path(error.filename or root)
        rel = folder.relative_to(root).as_posix() if folder != root else ""
        reason = f"folder not readable ({error.strerror}); its items were not ingested or pruned"
        yield Unreadable(rel, ItemError(str(shown / rel) if rel else str(shown), reason))


def _prune_dirs(root: Path, here: Path, dirnames: list[str], links: set[str]) -> Iterator[Ignored]:
    """Drop hidden and symlinked folders from the walk (they are reported as ignored)."""
    keep = []
    for name in sorted(dirnames):
        if name.startswith(".") or name in links:
            yield Ignored((here / name).relative_to(root).as_posix())
        else:
            keep.append(name)
    dirnames[:] = keep


def _dir_items(
    root: Path, anchor: Path, shown: Path, here: Path, names: list[str], captions: Captions
) -> Iterator[SourceItem | Ignored]:
    visible = [name for name in names if not name.startswith(".")]
    image_stems = {_stem(n) for n in visible if _suffix(n) in IMAGE_SUFFIXES}
    sidecars = _sidecars(visible)
    for name in names:
        rel = (here / name).relative_to(root).as_posix()
        kind = _suffix(name)
        if here == root and name in CAPTION_FILES:
            continue
        if name.startswith(".") or kind not in IMAGE_SUFFIXES | _ITEM_SUFFIXES:
            yield Ignored(rel)
        elif kind in DOCUMENT_SUFFIXES:
            yield _item(root, anchor, shown, rel, image=False, document_file=here / name)
        elif kind in IMAGE_SUFFIXES:
            sidecar = sidecars.get(_stem(name))
            yield _image_item(
                root, anchor, shown, rel, here / sidecar if sidecar else None, captions
            )
        elif _stem(name) not in image_stems:
            yield _item(root, anchor, shown, rel, image=False, text_file=here / name)


def _sidecars(names: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for suffix in reversed(TEXT_SUFFIXES):
        found.update({_stem(n): n for n in names if _suffix(n) == suffix})
    return found


def _image_item(
    root: Path, anchor: Path, shown: Path, rel: str, sidecar: Path | None, captions: Captions
) -> SourceItem:
    entry = captions.records.get(rel)
    if sidecar is not None or entry is None:
        return _item(root, anchor, shown, rel, image=True, text_file=sidecar)
    record = entry[1]
    return _item(
        root,
        anchor,
        shown,
        rel,
        image=True,
        text=record.text,
        external_id=record.external_id,
        metadata=record.metadata,
    )


def _item(
    root: Path, anchor: Path, shown: Path, rel: str, image: bool, **fields: object
) -> SourceItem:
    path = root / rel
    return SourceItem(
        source=rel,
        display=str(shown / rel),
        image_file=path if image else None,
        root=root,
        anchor=anchor,
        key_file=path,
        **fields,  # type: ignore[arg-type]
    )


def _load_captions(root: Path, anchor: Path, shown: Path) -> Captions:
    captions = Captions()
    for name in CAPTION_FILES:
        try:
            _read_captions(root / name, root, anchor, shown / name, captions)
        except MissingFileError:
            continue
        except InvalidInputError as exc:
            captions.errors.append(ItemError(str(shown / name), f"not read: {exc}"))
        except OSError as exc:
            captions.errors.append(ItemError(str(shown / name), f"not read: {exc.strerror}"))
    return captions


def _read_captions(path: Path, root: Path, anchor: Path, shown: Path, captions: Captions) -> None:
    for number, record in iter_records(path, root, anchor):
        line = f"{shown}:{number}"
        if not isinstance(record, Record):
            captions.errors.append(ItemError(line, str(record)))
        elif not record.image:
            captions.errors.append(ItemError(line, "captions entry needs an 'image' path"))
        else:
            key = PurePosixPath(record.image).as_posix().removeprefix("./")
            captions.records[key] = (line, record)


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def _suffix(name: str) -> str:
    return "." + name.rsplit(".", 1)[1].lower() if "." in name else ""
