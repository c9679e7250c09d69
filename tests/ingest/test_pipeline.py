"""The ingest loop end to end on the tiny CLIP and real embedded Qdrant."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ingest.runner import ingest_paths
from rag import payload as keys
from rag.config import StoreSettings
from rag.identity import point_id
from tests.ingest.checks import all_points, check_invariants
from tests.ingest.conftest import ServicesFactory
from tests.ingest.draw import captioned_folder, image_bytes, save


def _payloads(services) -> dict[str, dict]:
    points = all_points(services.store, with_vectors=False)
    return {p.id: {k: v for k, v in p.payload.items() if k != keys.INGESTED_AT} for p in points}


@pytest.mark.parametrize("policy", ["skip", "overwrite"])
def test_ingesting_three_times_gives_the_same_points(
    make_services: ServicesFactory, store_settings: StoreSettings, folder: Path, policy: str
) -> None:
    captioned_folder(folder, 6)
    save(folder / "no_caption.jpg", 99, "JPEG")
    (folder / "just_text.txt").write_text("words without a picture")
    save(folder / "meta.webp", 98, "WEBP")
    metadata = {"n": 1, "f": 0.5, "b": True, "l": [1, "a"], "d": {"x": None}, "s": "é"}
    (folder / "meta.json").write_text(json.dumps({"text": "with metadata", "metadata": metadata}))
    services = make_services(store_settings, policy=policy, batch_size=3)
    reports, payloads = [], []
    for _ in range(3):
        reports.append(ingest_paths(services, [folder]))
        payloads.append(_payloads(services))
        check_invariants(services.store, 9)
    assert payloads[0] == payloads[1] == payloads[2]
    assert (reports[0].seen, reports[0].written, reports[0].failed) == (9, 9, 0)
    again = (9, 0) if policy == "overwrite" else (0, 9)
    assert (reports[2].written, reports[2].unchanged) == again
    by_source = {p[keys.SOURCE]: p for p in payloads[0].values()}
    assert by_source["no_caption.jpg"][keys.HAS_TEXT] is False
    assert by_source["just_text.txt"][keys.HAS_IMAGE] is False
    assert by_source["img000.png"][keys.IMAGE_PATH] == str((folder / "img000.png").resolve())
    assert by_source["img000.png"][keys.WIDTH] == 48
    assert by_source["meta.webp"][keys.METADATA] == metadata
    assert by_source["meta.webp"][keys.MIME] == "image/webp"


def test_a_changed_caption_updates_its_point(services, folder: Path) -> None:
    captioned_folder(folder, 4)
    ingest_paths(services, [folder])
    before = _payloads(services)
    (folder / "img002.txt").write_text("a new caption")
    report = ingest_paths(services, [folder])
    after = _payloads(services)
    assert (report.written, report.unchanged) == (1, 3)
    assert before.keys() == after.keys()
    changed = [pid for pid in after if after[pid] != before[pid]]
    assert len(changed) == 1 and after[changed[0]][keys.TEXT] == "a new caption"


def test_prune_removes_points_whose_source_left(services, folder: Path, tmp_path: Path) -> None:
    captioned_folder(folder, 5)
    other = captioned_folder(tmp_path / "other", 2, start=50)
    ingest_paths(services, [folder, other])
    (folder / "img001.png").unlink()
    (folder / "img001.txt").unlink()
    (folder / "img003.png").write_bytes(b"")  # broken now: keeps its old point
    report = ingest_paths(services, [folder], prune=True)
    assert (report.pruned, report.failed) == (1, 1)
    sources = sorted(p[keys.SOURCE] for p in _payloads(services).values())
    kept = ["img000.png", "img002.png", "img003.png", "img004.png"]
    assert sources == [*kept, "img050.png", "img051.png"]


def test_bad_input_is_rejected_with_reasons_and_the_rest_is_ingested(
    make_services: ServicesFactory, folder: Path, tmp_path: Path
) -> None:
    captioned_folder(folder, 3)
    save(folder / "png_named.jpg", 10, "PNG")
    frames = image_bytes(11, "GIF")
    (folder / "animated.gif").write_bytes(frames)
    bad = {
        "empty.jpg": b"",
        "truncated.png": image_bytes(12, "PNG", size=(200, 150))[:300],
        "text.jpg": b"I am not a picture",
        "huge.bmp": image_bytes(13, "BMP", size=(200, 150)),  # over max_file_bytes
        "bomb.png": image_bytes(14, "PNG", size=(400, 400)),  # over max_image_pixels
    }
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    save(folder / "latin1.png", 15)
    (folder / "latin1.txt").write_bytes("café".encode("latin-1"))
    save(folder / "badjson.png", 16)
    (folder / "badjson.json").write_text("{nope")
    save(tmp_path / "outside.png", 17)
    os.symlink(tmp_path / "outside.png", folder / "escape.png")
    os.symlink(folder / "img000.png", folder / "inside_link.png")  # no symlink is followed
    os.mkfifo(folder / "fifo.png")
    services = make_services(max_file_bytes=60_000, max_image_pixels=100_000)
    report = ingest_paths(services, [folder])
    reasons = {Path(f.source).name: f.reason for f in report.failures}
    refused = ["latin1.png", "badjson.png", "escape.png", "inside_link.png", "fifo.png"]
    assert sorted(reasons) == sorted([*bad, *refused])
    assert "empty file" in reasons["empty.jpg"]
    assert "corrupt or truncated" in reasons["truncated.png"]
    assert "not a supported image" in reasons["text.jpg"]
    assert "MMRAG_INGEST__MAX_FILE_BYTES" in reasons["huge.bmp"]
    assert "MMRAG_INGEST__MAX_IMAGE_PIXELS" in reasons["bomb.png"]
    assert "not UTF-8" in reasons["latin1.png"]
    assert "not valid JSON" in reasons["badjson.png"]
    assert "symlink" in reasons["escape.png"] and "symlink" in reasons["inside_link.png"]
    assert "not a regular file" in reasons["fifo.png"]
    assert (report.seen, report.written) == (len(reasons) + 5, 5)
    check_invariants(services.store, 5)


def test_manifest_ingest_refuses_paths_leaving_its_folder(services, tmp_path: Path) -> None:
    save(tmp_path / "set" / "a.png", 1)
    save(tmp_path / "secret.png", 2)
    lines = [
        {"image": "a.png", "text": "inside", "id": "a"},
        {"image": "../secret.png", "text": "outside"},
        {"image": str(tmp_path / "secret.png"), "text": "absolute"},
        {"text": "text only"},
    ]
    manifest = tmp_path / "set" / "items.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines))
    report = ingest_paths(services, [manifest])
    assert (report.written, report.failed) == (2, 2)
    assert all("leaves" in f.reason for f in report.failures)
    (point,) = services.store.get([point_id(services.store.collection, "id:a")])
    assert point.payload[keys.EXTERNAL_ID] == "a"


def test_manifest_line_without_id_is_identified_by_content(services, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"text": "first version"}\n{"text": "stays"}\n')
    ingest_paths(services, [manifest])
    manifest.write_text('{"text": "second version"}\n{"text": "stays"}\n')
    report = ingest_paths(services, [manifest], prune=True)
    assert (report.written, report.unchanged, report.pruned) == (1, 1, 1)
    texts = sorted(p[keys.TEXT] for p in _payloads(services).values())
    assert texts == ["second version", "stays"]


def test_duplicate_keys_in_one_run_are_reported(services, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"text": "one", "id": "x"}\n{"text": "two", "id": "x"}\n')
    report = ingest_paths(services, [manifest])
    assert report.written == 1 and "duplicate" in report.failures[0].reason


def _long_text(words: int) -> str:
    return " ".join(f"word{i}" for i in range(words))


def test_long_text_is_truncated_for_the_vector_and_kept_whole(services, folder: Path) -> None:
    save(folder / "a.png", 1)
    (folder / "a.txt").write_text(_long_text(200))
    report = ingest_paths(services, [folder])
    (payload,) = _payloads(services).values()
    assert report.truncated == 1 and payload[keys.TEXT] == _long_text(200)


def test_chunk_mode_writes_stable_chunk_points_and_drops_stale_ones(
    make_services: ServicesFactory, folder: Path
) -> None:
    services = make_services(long_text="chunk")
    save(folder / "a.png", 1)
    (folder / "a.txt").write_text(_long_text(200))
    ingest_paths(services, [folder])
    points = check_invariants(services.store, services.store.count())
    count = points[0].payload[keys.CHUNK_COUNT]
    assert count > 2 and len(points) == count
    assert {p.payload[keys.CHUNK_INDEX] for p in points} == set(range(count))
    assert all(p.payload[keys.TEXT] == _long_text(200) for p in points)
    assert all("image" in p.vectors for p in points)
    assert ingest_paths(services, [folder]).unchanged == 1
    (folder / "a.txt").write_text(_long_text(60))
    ingest_paths(services, [folder])
    assert 1 < services.store.count() < count
