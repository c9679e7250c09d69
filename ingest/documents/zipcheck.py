"""DOCX and PPTX are zip files: check sizes and compression before a library unpacks them."""

from __future__ import annotations

import io
import re
import zipfile
import zlib

from ingest.documents.model import ReadLimits
from rag.errors import InvalidInputError

MAX_ENTRIES = 10_000
_RATIO_FLOOR = 1024 * 1024
"""Parts under 1 MiB unpacked may compress as well as they like (XML often does 20-50x); the
whole archive, over 1 MiB unpacked, may not (a thousand such parts are a bomb too)."""
MAX_XML_BYTES = 64 * 1024 * 1024
"""What a file's XML parts may unpack to, all together. XML compresses only about 10x, within
the ratio cap, and a parsed tree takes about 8x its text in memory; a 1,000-page DOCX or
PPTX holds a few tens of MiB of XML at most."""
_CONTENT_TYPES = "[Content_Types].xml"
_CONTENT_TYPES_READ = 4 * 1024 * 1024
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_XML_TYPE = re.compile(r"[/+]xml\b")
_OVERRIDE = re.compile(r"<(?:\w+:)?Override\b[^>]*>")
_DEFAULT = re.compile(r"<(?:\w+:)?Default\b[^>]*>")
_ATTRIBUTE = r'\b{}\s*=\s*["\']([^"\']*)["\']'


def check_zip(data: bytes, kind: str, limits: ReadLimits) -> None:
    """Raise :class:`InvalidInputError` for a corrupt zip or a zip bomb (caps on part size,
    total size, compression ratio and XML size), before anything is unpacked (but the first
    4 MiB of ``[Content_Types].xml``)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            xml_parts = _xml_parts(archive, infos) if len(infos) <= MAX_ENTRIES else []
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidInputError(f"corrupt or truncated {kind} (not a valid zip): {exc}") from None
    if len(infos) > MAX_ENTRIES:
        raise InvalidInputError(f"{kind} has {len(infos)} parts, over the cap of {MAX_ENTRIES}")
    total = packed = 0
    for info in infos:
        _check_entry(info, kind, limits)
        total += info.file_size
        packed += info.compress_size
    if total > limits.max_zip_total_bytes:
        raise InvalidInputError(
            f"{kind} unpacks to {total} bytes, over the cap of {limits.max_zip_total_bytes} "
            "(MMRAG_INGEST__MAX_ZIP_TOTAL_BYTES)"
        )
    ratio = total / max(packed, 1)
    if total > _RATIO_FLOOR and ratio > limits.max_zip_ratio:  # many parts, each under the floor
        raise InvalidInputError(
            f"{kind} is compressed {ratio:.0f}x overall, over the cap of {limits.max_zip_ratio}x:"
            " a zip bomb? (MMRAG_INGEST__MAX_ZIP_RATIO)"
        )
    xml = sum(info.file_size for info in xml_parts)
    if xml > MAX_XML_BYTES:
        raise InvalidInputError(
            f"{kind}'s XML parts unpack to {xml} bytes, over the cap of {MAX_XML_BYTES} "
            "(parsing them would take about 8x that in memory)"
        )


def _xml_parts(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    """The parts a reader may parse as XML: by name, or by a type ``[Content_Types].xml``
    gives them (of which at most the first 4 MiB are read)."""
    overrides: set[str] = set()
    extensions: set[str] = set()
    if any(info.filename == _CONTENT_TYPES for info in infos):
        try:
            with archive.open(_CONTENT_TYPES) as part:
                text = part.read(_CONTENT_TYPES_READ).decode("utf-8", "replace")
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, RuntimeError):
            text = ""
        overrides = {name.lstrip("/").lower() for name in _typed(text, _OVERRIDE, "PartName")}
        extensions = {ext.lower() for ext in _typed(text, _DEFAULT, "Extension")}
    return [
        info
        for info in infos
        if info.filename.lower().endswith(_XML_SUFFIXES)
        or info.filename.lower() in overrides
        or info.filename.rpartition(".")[2].lower() in extensions
    ]


def _typed(text: str, element: re.Pattern[str], key: str) -> list[str]:
    """The ``key`` attribute of each ``element`` whose ContentType is XML."""
    found = []
    for tag in element.findall(text):
        content_type = re.search(_ATTRIBUTE.format("ContentType"), tag)
        value = re.search(_ATTRIBUTE.format(key), tag)
        if content_type and value and _XML_TYPE.search(content_type[1]):
            found.append(value[1])
    return found


def _check_entry(info: zipfile.ZipInfo, kind: str, limits: ReadLimits) -> None:
    if info.file_size > limits.max_zip_entry_bytes:
        raise InvalidInputError(
            f"{kind} part {info.filename} unpacks to {info.file_size} bytes, over the cap of "
            f"{limits.max_zip_entry_bytes} (MMRAG_INGEST__MAX_ZIP_ENTRY_BYTES)"
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _RATIO_FLOOR and ratio > limits.max_zip_ratio:
        raise InvalidInputError(
            f"{kind} part {info.filename} is compressed {ratio:.0f}x, over the cap of "
            f"{limits.max_zip_ratio}x: a zip bomb? (MMRAG_INGEST__MAX_ZIP_RATIO)"
        )
