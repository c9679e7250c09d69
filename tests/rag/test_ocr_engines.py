"""One contract for both OCR engines (RapidOCR always; Tesseract where it is installed, as
``.ci/run`` installs it), and the time-out guard in front of them."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator

import pytest
from PIL import Image

from rag.config import OcrSettings
from rag.errors import ModelUnavailableError
from rag.ocr import OcrEngine, OcrError, OcrReader, OcrResult, load_ocr_engine
from tests.ocr_draw import text_picture

ENGINES = [
    "rapidocr",
    pytest.param(
        "tesseract",
        marks=pytest.mark.skipif(shutil.which("tesseract") is None, reason="no tesseract"),
    ),
]


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> OcrEngine:
    built = load_ocr_engine(OcrSettings(engine=request.param))
    assert built is not None
    return built


@pytest.fixture(scope="module")
def two_lines(engine: OcrEngine) -> tuple[Image.Image, OcrResult]:
    image = text_picture(["Invoice number 48213", "Total due: 975 euros"])
    return image, engine.read(image)


def test_reads_each_line_of_rendered_text(two_lines: tuple[Image.Image, OcrResult]) -> None:
    _, result = two_lines
    assert len(result.lines) == 2
    assert "48213" in result.lines[0].text and "975" in result.lines[1].text
    assert result.text.splitlines() == [line.text for line in result.lines]


def test_confidences_are_fractions(two_lines: tuple[Image.Image, OcrResult]) -> None:
    _, result = two_lines
    assert all(0.5 < line.confidence <= 1.0 for line in result.lines)
    assert result.confidence is not None and 0.5 < result.confidence <= 1.0


def test_line_boxes_are_normalised_and_in_reading_order(
    two_lines: tuple[Image.Image, OcrResult],
) -> None:
    _, result = two_lines
    first, second = (line.box for line in result.lines)
    for x0, y0, x1, y1 in (first, second):
        assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
    assert first[3] <= second[1] + 0.05  # the first line sits above the second
    assert first[1] < 0.5 < second[3]  # lines drawn at y=15..45 and 75..105 of 150 pixels
    assert result.boxes() == [list(first), list(second)]


def test_a_picture_without_text_gives_no_lines(engine: OcrEngine) -> None:
    result = engine.read(Image.new("RGB", (320, 200), (40, 120, 200)))
    assert result.lines == () and result.text == "" and result.confidence is None


def test_the_engine_names_itself(engine: OcrEngine) -> None:
    assert isinstance(engine, OcrEngine) and engine.model_id


def test_off_and_none_build_no_engine() -> None:
    assert load_ocr_engine(OcrSettings(engine="none")) is None
    assert load_ocr_engine(OcrSettings(mode="off")) is None


def test_tesseract_missing_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(ModelUnavailableError, match="apt-get install tesseract-ocr"):
        load_ocr_engine(OcrSettings(engine="tesseract"))


class _Hanging:
    """An engine that never answers until released."""

    model_id = "hanging"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def read(self, image: Image.Image) -> OcrResult:
        self.calls += 1
        self.release.wait(30)
        return OcrResult()


class _Broken:
    model_id = "broken"

    def read(self, image: Image.Image) -> OcrResult:
        raise RuntimeError("onnx session died")


@pytest.fixture
def hanging() -> Iterator[_Hanging]:
    engine = _Hanging()
    yield engine
    engine.release.set()


def test_a_hanging_engine_is_abandoned_at_the_time_out(hanging: _Hanging) -> None:
    reader = OcrReader(hanging, timeout_s=0.2)
    with pytest.raises(OcrError, match=r"longer than 0\.2 s \(MMRAG_OCR__TIMEOUT_S\)"):
        reader.read(Image.new("RGB", (8, 8)))


def test_a_stuck_engine_is_not_called_again_past_four_abandoned_reads(hanging: _Hanging) -> None:
    reader = OcrReader(hanging, timeout_s=0.05)
    for _ in range(4):
        with pytest.raises(OcrError, match="longer than"):
            reader.read(Image.new("RGB", (8, 8)))
    with pytest.raises(OcrError, match="engine is stuck"):
        reader.read(Image.new("RGB", (8, 8)))
    assert hanging.calls == 4


def test_an_engine_error_becomes_an_ocr_error() -> None:
    with pytest.raises(OcrError, match="RuntimeError: onnx session died"):
        OcrReader(_Broken(), timeout_s=5).read(Image.new("RGB", (8, 8)))
