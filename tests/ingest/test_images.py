"""Decoding untrusted bytes: every bad file is rejected with a reason, good ones decode."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ingest.images import decode_image, probe_image
from rag.errors import InvalidInputError
from tests.ingest.draw import image_bytes, picture

CAP = 10_000_000


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_allowed_formats_decode_to_rgb(fmt: str) -> None:
    decoded = decode_image(image_bytes(1, fmt), CAP)
    assert decoded.image.mode == "RGB"
    assert (decoded.width, decoded.height) == (48, 36)
    assert decoded.mime == Image.MIME[fmt]


def test_animated_gif_gives_its_first_frame() -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    frames = [Image.new("RGB", (16, 16), colour) for colour in colours]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50)
    decoded = decode_image(buffer.getvalue(), CAP)
    assert decoded.image.getpixel((8, 8)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (_half(image_bytes(2, "PNG", size=(200, 150))), "corrupt or truncated"),
        (_half(image_bytes(2, "JPEG", size=(200, 150))), "corrupt or truncated"),
        (b"GIF89a" + b"\x00" * 40, "corrupt or truncated|not a supported image"),
        (b"just some text pretending to be a jpg", "not a supported image"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3", "not a supported image"),
    ],
    ids=["empty", "truncated-png", "truncated-jpeg", "corrupt-gif", "text", "pdf"],
)
def test_bad_bytes_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        decode_image(data, CAP)


def test_formats_outside_the_allow_list_are_rejected() -> None:
    buffer = io.BytesIO()
    picture(3).save(buffer, "PPM")
    with pytest.raises(InvalidInputError, match="not a supported image"):
        decode_image(buffer.getvalue(), CAP)


def test_images_over_the_pixel_cap_are_rejected_before_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("1", (4000, 4000)).save(buffer, "PNG")  # a few KB on disk, 16 MP decoded
    with pytest.raises(InvalidInputError, match="over the cap of 1000000"):
        decode_image(buffer.getvalue(), 1_000_000)


def test_pillow_decompression_bomb_warning_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(InvalidInputError, match="decompression bomb"):
        decode_image(image_bytes(4, "PNG"), CAP)  # 1728 pixels: warns, not yet an error


def test_wrong_extension_does_not_matter_the_content_does() -> None:
    decoded = decode_image(image_bytes(5, "PNG"), CAP)  # e.g. saved as photo.jpg
    assert decoded.mime == "image/png" and decoded.extension == "png"


def test_jpeg_draft_decodes_smaller_but_reports_the_full_size() -> None:
    decoded = decode_image(image_bytes(6, "JPEG", size=(640, 480)), CAP, draft_side=224)
    assert (decoded.width, decoded.height) == (640, 480)
    assert decoded.image.size == (320, 240)
    assert decode_image(image_bytes(6, "PNG", size=(640, 480)), CAP, 224).image.size == (640, 480)


def test_probe_reads_the_header_with_the_same_checks_as_decoding() -> None:
    header = probe_image(image_bytes(6, "JPEG", size=(320, 240)), CAP)
    assert (header.format, header.mode, header.mime) == ("JPEG", "RGB", "image/jpeg")
    assert (header.width, header.height) == (320, 240)
    with pytest.raises(InvalidInputError, match="over the cap of 1000"):
        probe_image(image_bytes(6, "JPEG", size=(320, 240)), 1000)
    with pytest.raises(InvalidInputError, match="not a supported image"):
        probe_image(b"\xff\xd8\xff" + b"x" * 50, CAP)
    with pytest.raises(InvalidInputError, match="empty file"):
        probe_image(b"", CAP)


def test_probe_leaves_the_pixels_encoded() -> None:
    data = image_bytes(7, "JPEG", size=(320, 240))
    assert probe_image(data[: len(data) // 2], CAP).width == 320  # decoding would fail
