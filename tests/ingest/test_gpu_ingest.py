"""Ingest's GPU path run on CPU: JPEG bytes go to the embedder, decoded in batches on its device.

``MMRAG_CLIP__DECODE=device`` forces on CPU what ``auto`` does on CUDA; the same folder ingested
with the default (PIL in the pool) must give the same points and, image by image, the same
vectors.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ingest.runner import device_batch, ingest_paths, make_ingestor
from rag import payload as keys
from rag.config import ClipSettings, IngestSettings, Settings
from rag.embedding import ClipEmbedder
from rag.services import Services
from tests.ingest.checks import all_points, check_invariants
from tests.ingest.draw import image_bytes, picture, save

MIN_COSINE = 0.999


def _folder(root: Path) -> Path:
    root.mkdir()
    save(root / "small.jpg", 1, "JPEG")  # 48x36
    save(root / "wide.jpg", 2, "JPEG", size=(200, 120))
    save(root / "tall.jpeg", 3, "JPEG", size=(90, 160))
    (root / "wide.txt").write_text("a wide picture with a caption")
    picture(4, (64, 64)).convert("L").save(root / "grey.jpg", "JPEG")
    picture(5, (64, 48)).convert("CMYK").save(root / "cmyk.jpg", "JPEG")  # PIL on both paths
    save(root / "flat.png", 6, "PNG")
    save(root / "photo_really_png.jpg", 7, "PNG")  # the content decides, not the name
    whole = image_bytes(8, "JPEG", size=(320, 240))
    (root / "truncated.jpg").write_bytes(whole[: len(whole) // 2])  # header fine, data cut
    (root / "headless.jpg").write_bytes(whole[:120])  # cut inside the header
    (root / "scrambled.jpg").write_bytes(_scrambled(whole))  # whole, junk in its data
    (root / "caption_only.txt").write_text("words without a picture")
    return root


def _scrambled(jpeg: bytes) -> bytes:
    """400 random bytes inside the entropy-coded data: the header and end marker stay."""
    rng = random.Random(0)
    start = jpeg.index(b"\xff\xda") + 20
    return jpeg[:start] + bytes(rng.randrange(256) for _ in range(400)) + jpeg[start + 400 :]


def _ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: Path, decode: str):
    monkeypatch.setenv("MMRAG_CLIP__DECODE", decode)
    monkeypatch.setenv("MMRAG_DATA_DIR", str(tmp_path / f"data-{decode}"))
    services = Services(Settings())
    try:
        assert make_ingestor(services, services.store).jpegs_on_device is (decode == "device")
        report = ingest_paths(services, [folder])
        points = check_invariants(services.store, 8)
        return report, {p.payload[keys.SOURCE]: p for p in points}
    finally:
        services.close()


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_device_decode_ingests_like_the_pil_path(
    tiny_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMRAG_CLIP__RUNTIME", "torch")  # auto is torch on CUDA
    monkeypatch.setenv("MMRAG_PASSAGE__MODEL", "none")
    folder = _folder(tmp_path / "photos")
    calls: list[int] = []
    embed_jpegs = ClipEmbedder.embed_jpegs

    def counted(self: ClipEmbedder, datas: Sequence[bytes]) -> np.ndarray:
        calls.append(len(datas))
        return embed_jpegs(self, datas)

    monkeypatch.setattr(ClipEmbedder, "embed_jpegs", counted)
    pil_report, pil = _ingest(tmp_path, monkeypatch, folder, "pil")
    assert calls == []
    device_report, device = _ingest(tmp_path, monkeypatch, folder, "device")
    assert calls == [5, 4]  # 4 good JPEGs + scrambled.jpg, then without it; the rest: PIL

    for report in (pil_report, device_report):
        assert (report.seen, report.written, report.failed) == (11, 8, 3)
    failures = {Path(f.source).name: f.reason for f in device_report.failures}
    assert failures == {Path(f.source).name: f.reason for f in pil_report.failures}
    assert failures.keys() == {"truncated.jpg", "headless.jpg", "scrambled.jpg"}
    assert all(why.startswith("corrupt or truncated image: ") for why in failures.values())

    assert pil.keys() == device.keys()
    ignored = {keys.INGESTED_AT}
    for source, point in device.items():
        assert {k: v for k, v in point.payload.items() if k not in ignored} == {
            k: v for k, v in pil[source].payload.items() if k not in ignored
        }, source
        assert point.vectors.keys() == pil[source].vectors.keys(), source
    assert device["wide.jpg"].payload[keys.WIDTH] == 200
    assert device["grey.jpg"].payload[keys.MIME] == "image/jpeg"
    cosines = {
        source: _cosine(point.vectors["image"], pil[source].vectors["image"])
        for source, point in device.items()
        if "image" in point.vectors
    }
    assert len(cosines) == 7
    assert min(cosines.values()) >= MIN_COSINE, cosines
    text = _cosine(device["wide.jpg"].vectors["text"], pil["wide.jpg"].vectors["text"])
    assert text == pytest.approx(1.0, abs=1e-6)


def test_the_cpu_default_keeps_pil_decoding(
    tiny_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = Services(Settings())
    try:
        assert services.settings.clip.decode == "auto"
        assert make_ingestor(services, services.store).jpegs_on_device is False
    finally:
        services.close()


def test_a_jpeg_the_device_rejects_but_pil_reads_is_embedded_from_pil_pixels(
    tiny_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoders differ (nvJPEG lacks some JPEG features): PIL gets a second try, per item."""
    from rag.embedding import clip as clip_module
    from rag.errors import UndecodableImagesError

    monkeypatch.setenv("MMRAG_CLIP__RUNTIME", "torch")
    monkeypatch.setenv("MMRAG_PASSAGE__MODEL", "none")
    folder = tmp_path / "photos"
    for i in range(3):
        save(folder / f"p{i}.jpg", 10 + i, "JPEG", size=(80, 60))
    odd = (folder / "p1.jpg").read_bytes()
    decode = clip_module.decode_jpeg_batch

    def picky(datas, device):
        bad = {i: "unsupported here" for i, data in enumerate(datas) if data == odd}
        if bad:
            raise UndecodableImagesError(bad)
        return decode(datas, device)

    monkeypatch.setattr(clip_module, "decode_jpeg_batch", picky)
    monkeypatch.setenv("MMRAG_CLIP__DECODE", "device")
    services = Services(Settings())
    try:
        report = ingest_paths(services, [folder])
        points = all_points(services.store)
        assert (report.written, report.failed) == (3, 0)
        by_source = {p.payload[keys.SOURCE]: p.vectors["image"] for p in points}
        pil = services.embedder.embed_images([Image.open(folder / "p1.jpg")])[0]
        assert _cosine(by_source["p1.jpg"], pil) == pytest.approx(1.0, abs=1e-5)
    finally:
        services.close()


def test_the_gpu_path_grows_a_default_ingest_batch_to_the_device_batch() -> None:
    cuda, cpu = ClipSettings(device="cuda"), ClipSettings()
    assert device_batch(IngestSettings(), cuda).batch_size == 256  # gpu_batch_size
    assert device_batch(IngestSettings(batch_size=16), cuda).batch_size == 16  # chosen: kept
    assert device_batch(IngestSettings(), cpu).batch_size == 32
