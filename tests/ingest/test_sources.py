"""Folders and manifests as items: pairing, captions files, text-only items, what is refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ingest.folder import folder_source
from ingest.items import Ignored, SourceItem
from ingest.manifest import manifest_source
from ingest.report import ItemError
from ingest.sources import open_source
from rag.errors import InvalidInputError
from tests.ingest.draw import save


def _items(found: list) -> dict[str, SourceItem]:
    return {item.source: item for item in found if isinstance(item, SourceItem)}


def test_folder_pairs_images_with_sidecars_and_finds_text_only_items(folder: Path) -> None:
    save(folder / "a.jpg", 1)
    (folder / "a.txt").write_text("caption a")
    save(folder / "sub" / "b.PNG", 2)
    (folder / "sub" / "b.json").write_text('{"text": "caption b"}')
    (folder / "sub" / "b.txt").write_text("the json sidecar wins")
    (folder / "note.txt").write_text("text only")
    save(folder / "c.webp", 3, "WEBP")
    found = list(folder_source(folder).items)
    items = _items(found)
    assert sorted(items) == ["a.jpg", "c.webp", "note.txt", "sub/b.PNG"]
    assert items["a.jpg"].text_file == folder.resolve() / "a.txt"
    assert items["sub/b.PNG"].text_file == folder.resolve() / "sub" / "b.json"
    assert items["note.txt"].image_file is None and items["c.webp"].text_file is None
    assert items["a.jpg"].key_file == folder.resolve() / "a.jpg"


def test_folder_ignores_hidden_files_other_extensions_and_symlinked_folders(
    folder: Path, tmp_path: Path
) -> None:
    save(folder / ".hidden.png", 1)
    (folder / "readme.rst").write_text("x")
    (tmp_path / "elsewhere").mkdir()
    save(tmp_path / "elsewhere" / "x.png", 2)
    os.symlink(tmp_path / "elsewhere", folder / "linked")
    found = list(folder_source(folder).items)
    assert not _items(found)
    assert sorted(i.path for i in found if isinstance(i, Ignored)) == [
        ".hidden.png",
        "linked",
        "readme.rst",
    ]


def test_captions_files_give_text_metadata_and_ids(folder: Path) -> None:
    save(folder / "a.png", 1)
    save(folder / "d" / "b.png", 2)
    save(folder / "c.png", 3)
    (folder / "c.txt").write_text("sidecar beats captions")
    lines = [
        {"image": "a.png", "text": "from jsonl", "metadata": {"k": 1}, "id": "A"},
        {"image": "./c.png", "text": "ignored"},
        {"image": "missing.png", "text": "no such image"},
        {"text": "no image field"},
    ]
    (folder / "captions.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    (folder / "captions.csv").write_text('image,text,metadata\nd/b.png,from csv,"{""k"": 2}"\n')
    found = list(folder_source(folder).items)
    items = _items(found)
    assert (items["a.png"].text, items["a.png"].external_id) == ("from jsonl", "A")
    assert items["a.png"].metadata == {"k": 1}
    assert (items["d/b.png"].text, items["d/b.png"].metadata) == ("from csv", {"k": 2})
    assert items["c.png"].text_file is not None
    errors = sorted(e.reason for e in found if isinstance(e, ItemError))
    assert len(errors) == 3
    assert any("image not found: missing.png" in e for e in errors)
    assert any("not valid JSON" in e for e in errors)
    assert any("needs an 'image'" in e for e in errors)


def test_manifest_jsonl_lines_become_items_bad_lines_errors(tmp_path: Path) -> None:
    save(tmp_path / "imgs" / "a.png", 1)
    lines = [
        json.dumps({"image": "imgs/a.png", "text": "a", "id": 7, "metadata": {"x": 1}}),
        json.dumps({"text": "text only"}),
        "",
        json.dumps({"image": "imgs/a.png", "metadata": [1]}),
        json.dumps({"id": "nothing"}),
        "[1, 2]",
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(("\n".join(lines) + "\n").encode() + b'{"text": "caf\xe9"}\n')
    found = list(manifest_source(manifest).items)
    items = [f for f in found if isinstance(f, SourceItem)]
    assert [(i.source, i.text, i.external_id) for i in items] == [
        ("imgs/a.png", "a", "7"),
        ("m.jsonl:2", "text only", None),
    ]
    assert items[0].image_file == tmp_path.resolve() / "imgs" / "a.png"
    errors = {e.source.rsplit(":", 1)[1]: e.reason for e in found if isinstance(e, ItemError)}
    assert set(errors) == {"4", "5", "6", "7"}
    assert "metadata" in errors["4"] and "not UTF-8" in errors["7"]


def test_manifest_csv(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text('image,text,id,metadata\na.png,hello,x1,"{""k"": 1}"\n,only text,,\n')
    items = [f for f in manifest_source(manifest).items if isinstance(f, SourceItem)]
    assert [(i.source, i.text, i.external_id, i.metadata) for i in items] == [
        ("a.png", "hello", "x1", {"k": 1}),
        ("m.csv:3", "only text", None, {}),
    ]


def test_csv_without_known_columns_is_one_error(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("foo,bar\n1,2\n")
    (error,) = list(manifest_source(manifest).items)
    assert isinstance(error, ItemError) and "header" in error.reason


def test_open_source_refuses_what_is_neither_folder_nor_manifest(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="does not exist"):
        open_source(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="neither a folder nor a manifest"):
        open_source(tmp_path / "x.txt")
