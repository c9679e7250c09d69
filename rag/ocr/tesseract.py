"""Tesseract, run as the ``tesseract`` program (Debian ``tesseract-ocr``) in a subprocess that
is killed at the time-out."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

from PIL import Image

from rag.errors import ModelUnavailableError
from rag.ocr.base import OcrError, OcrLine, OcrResult, in_reading_order, normalised


class TesseractEngine:
    """The second engine (``MMRAG_OCR__ENGINE=tesseract``); ``languages`` as Tesseract spells
    them (``eng+deu``)."""

    def __init__(self, languages: str = "eng", timeout_s: float = 60.0) -> None:
        program = shutil.which("tesseract")
        if program is None:
            raise ModelUnavailableError(
                "MMRAG_OCR__ENGINE=tesseract needs the tesseract program (Debian: apt-get install "
                "tesseract-ocr); or set MMRAG_OCR__ENGINE=rapidocr"
            )
        self.program, self.languages, self.timeout_s = program, languages, timeout_s
        self.model_id = f"tesseract-{_version(program)}/{languages}"

    def read(self, image: Image.Image) -> OcrResult:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
        try:
            done = subprocess.run(
                [self.program, "stdin", "stdout", "-l", self.languages, "tsv"],
                input=buffer.getvalue(),
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise OcrError(f"tesseract took longer than {self.timeout_s:g} s") from None
        if done.returncode != 0:
            reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
            raise OcrError(f"tesseract failed: {reason[0][:200]}")
        return OcrResult(_lines(done.stdout.decode("utf-8", "replace"), image.size))


def _lines(tsv: str, size: tuple[int, int]) -> tuple[OcrLine, ...]:
    """Tesseract's words grouped into its lines (block, paragraph, line numbers)."""
    words: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        if row.get("level") == "5" and (row.get("text") or "").strip():
            words.setdefault((row["block_num"], row["par_num"], row["line_num"]), []).append(row)
    lines = []
    for group in words.values():
        x0 = min(int(w["left"]) for w in group)
        y0 = min(int(w["top"]) for w in group)
        x1 = max(int(w["left"]) + int(w["width"]) for w in group)
        y1 = max(int(w["top"]) + int(w["height"]) for w in group)
        confidence = sum(max(0.0, float(w["conf"])) for w in group) / len(group) / 100
        text = " ".join(w["text"].strip() for w in group)
        lines.append(OcrLine(text, round(confidence, 4), normalised((x0, y0, x1, y1), *size)))
    return in_reading_order(lines)


def _version(program: str) -> str:
    try:
        out = subprocess.run([program, "--version"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout or out.stderr).decode("utf-8", "replace").split()
    return text[1] if len(text) > 1 else "unknown"
