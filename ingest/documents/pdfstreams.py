"""Bound what a PDF's compressed streams inflate to before PDFium loads them.

PDFium inflates a page's whole content stream (and each form, font or object stream) into
memory before using it, with no cap: a 400 KiB PDF whose content stream inflates to 400 MiB
cost 800 MiB of RSS. :func:`check_pdf_streams` scans the raw file for ``stream`` ...
``endstream`` segments filtered with FlateDecode (or LZWDecode) and inflates each in small
pieces (memory stays at a few MiB, work stops at the cap), counting the bytes. Pictures are
not counted: PDFium decodes them a row at a time within their declared size, and the pixel
budget bounds that; a stream marked as a picture but drawn as a page's ``/Contents`` is
counted.

Not seen by the scan: streams of encrypted PDFs (their bytes are ciphertext) and run-length
compression (at most 128x).
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib

from rag.errors import InvalidInputError

MAX_PDF_STREAM_BYTES = 256 * 1024 * 1024
"""What a PDF's non-picture streams (text and drawing, forms, fonts, object streams) may
inflate to, all together: a 1,000-page book is a few tens of MiB; PDFium holds about twice the
largest page's streams in memory."""

_IN_PIECE = 64 * 1024
_OUT_PIECE = 1024 * 1024
_DICT_WINDOW = 64 * 1024
"""How far before ``stream`` its dictionary is looked for."""
_KEPT_OBJECT_STREAMS = 16 * 1024 * 1024
"""Decoded object streams kept to look for ``/Contents`` in (pages may be stored in them)."""

_STREAM = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
_OBJ = re.compile(rb"(?<!\d)(\d{1,10})\s+\d{1,5}\s+obj\b")
_LENGTH = re.compile(rb"/Length\s+(\d{1,15})(?!\d)(?!\s+\d+\s+R)")
_FILTER = re.compile(rb"/Filter\s*(\[[^\]]{0,1024}\]|/[^\s/\[\]<>()]{1,127})")
_NAME = re.compile(rb"/([^\s/\[\]<>()]+)")
_IMAGE = re.compile(rb"/Subtype\s*/Image\b")
_OBJSTM = re.compile(rb"/Type\s*/ObjStm\b")
_CONTENTS = re.compile(rb"/Contents\s*(\d{1,10}\s+\d{1,5}\s+R|\[[^\]/]*\])")
"""An array of references holds no ``/``: each scan stops at the next name (linear time)."""
_REF = re.compile(rb"(?<!\d)(\d{1,10})\s+\d{1,5}\s+R")
"""Numbers bounded and anchored at a run's start: a long run of digits costs linear time."""

_FLATE = {b"FlateDecode", b"Fl"}
_LZW = {b"LZWDecode", b"LZW"}
_ASCII = {b"ASCIIHexDecode", b"AHx", b"ASCII85Decode", b"A85"}


class _Over(Exception):
    pass


def check_pdf_streams(data: bytes, cap: int | None = None) -> int:
    """The bytes ``data``'s non-picture Flate streams inflate to; raises
    :class:`InvalidInputError` past ``cap`` (default :data:`MAX_PDF_STREAM_BYTES`; work stops
    there)."""
    cap = MAX_PDF_STREAM_BYTES if cap is None else cap
    view = memoryview(data)
    total = 0
    images: list[tuple[int, int, int, list[bytes]]] = []
    kept: list[bytes] = []
    kept_size = 0
    position = 0
    try:
        while (match := _STREAM.search(data, position)) is not None:
            start = match.start()
            head_from = max(position, start - _DICT_WINDOW)
            obj = None
            for obj in _OBJ.finditer(data, head_from, start):  # noqa: B007 (the last one)
                pass
            head = data[obj.end() if obj else head_from : start]
            begin = match.end()
            length = _LENGTH.search(head)
            end = begin + int(length.group(1)) if length else -1
            if end < begin or not data[end : end + 64].lstrip().startswith(b"endstream"):
                # as PDFium does when /Length is indirect or wrong
                end = data.find(b"endstream", begin)
                end = len(data) if end < 0 else end
            position = max(end, begin)
            filters = _filters(head)
            if not filters:
                continue
            number = int(obj.group(1)) if obj else -1
            if _IMAGE.search(head):
                images.append((number, begin, end, filters))
                continue
            sink = kept if _OBJSTM.search(head) and kept_size < _KEPT_OBJECT_STREAMS else None
            total += _inflated(view[begin:end], filters, cap - total, sink)
            kept_size = sum(map(len, kept))
        if images:
            contents = _contents_refs(data) | _contents_refs(b"".join(kept))
        for number, begin, end, filters in images:
            if number in contents:  # a "picture" drawn as a page: PDFium inflates it whole
                total += _inflated(view[begin:end], filters, cap - total, None)
    except _Over:
        raise InvalidInputError(
            f"the PDF's compressed streams (text and drawing, fonts) inflate to over {cap} bytes,"
            " the cap for a PDF: a compression bomb?"
        ) from None
    return total


def _filters(head: bytes) -> list[bytes]:
    """The filter names up to and including the first FlateDecode or LZWDecode, if the ones
    before it can be undone here; empty if the stream is neither."""
    found = _FILTER.match(head, max(head.rfind(b"/Filter"), 0))  # one try: linear time
    if found is None:
        return []
    names = _NAME.findall(found.group(1))
    for index, name in enumerate(names):
        if name in _FLATE or name in _LZW:
            return names[: index + 1]
        if name not in _ASCII:
            return []
    return []


def _contents_refs(text: bytes) -> set[int]:
    return {int(ref) for found in _CONTENTS.finditer(text) for ref in _REF.findall(found[1])}


def _inflated(
    segment: memoryview, filters: list[bytes], room: int, sink: list[bytes] | None
) -> int:
    """The bytes ``segment`` inflates to, read in small pieces; raises :class:`_Over` past
    ``room``. A corrupt stream counts what inflated before the damage."""
    if len(filters) > 1:
        segment = memoryview(_undo_ascii(bytes(segment), filters[:-1]))
    if filters[-1] in _LZW:
        return _lzw_length(segment, room, sink)
    inflater = zlib.decompressobj()
    total = 0
    try:
        for offset in range(0, len(segment), _IN_PIECE):
            piece: bytes | memoryview = segment[offset : offset + _IN_PIECE]
            while piece:
                out = inflater.decompress(piece, _OUT_PIECE)
                total += len(out)
                if total > room:
                    raise _Over
                if sink is not None and len(sink) < _KEPT_OBJECT_STREAMS // _OUT_PIECE:
                    sink.append(out)
                if inflater.eof:
                    return total
                piece = inflater.unconsumed_tail
    except zlib.error:
        pass
    return total


def _lzw_length(segment: memoryview, room: int, sink: list[bytes] | None) -> int:
    """The bytes an LZW stream (PDF's: 9 to 12 bits, early change) decodes to, counted from
    its codes' lengths without decoding it (LZW can expand ~1000x); raises :class:`_Over` past
    ``room``. An object stream in LZW is counted, not kept (``sink`` is not filled)."""
    lengths = [1] * 258 + [0] * (4096 - 258)
    total = previous = buffer = bits = 0
    width, next_code = 9, 258
    for byte in segment:
        buffer, bits = (buffer << 8) | byte, bits + 8
        while bits >= width:
            bits -= width
            code = buffer >> bits
            buffer &= (1 << bits) - 1
            if code == 256:
                width, next_code, previous = 9, 258, 0
                continue
            if code == 257:
                return total
            if code < next_code:
                length = lengths[code]
            elif code == next_code and previous:
                length = previous + 1
            else:
                return total  # corrupt: PDFium stops here too
            if previous and next_code < 4096:
                lengths[next_code] = previous + 1
                next_code += 1
            previous = length
            total += length
            if total > room:
                raise _Over
            width = (
                9 if next_code < 511 else 10 if next_code < 1023 else 11 if next_code < 2047 else 12
            )
    return total


def _undo_ascii(raw: bytes, filters: list[bytes]) -> bytes:
    """ASCIIHex and ASCII85 decoded (each shrinks its input); damaged data gives nothing."""
    try:
        for name in filters:
            if name in (b"ASCIIHexDecode", b"AHx"):
                hexa = re.sub(rb"\s", b"", raw.split(b">", 1)[0])
                raw = binascii.unhexlify(hexa + b"0" * (len(hexa) % 2))
            else:
                raw = base64.a85decode(raw.strip().removeprefix(b"<~").split(b"~>", 1)[0])
    except (ValueError, binascii.Error):
        return b""
    return raw
