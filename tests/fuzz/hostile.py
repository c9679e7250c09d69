"""Builders of small hostile files: each takes a few numbers and returns bytes whose declared or
unpacked size, nesting or part count is far beyond what the file's own size suggests."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from functools import cache

# --- pictures -------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _zeros_deflated(total: int, piece: bytes = b"") -> bytes:
    """``total`` bytes (zeros, or ``piece`` repeated) deflated without holding them all."""
    block = (piece or b"\0") * max(1, (1 << 20) // max(1, len(piece or b"\0")))
    packer, out, left = zlib.compressobj(9), [], total
    while left > 0:
        out.append(packer.compress(block[: min(left, len(block))]))
        left -= len(block)
    out.append(packer.flush())
    return b"".join(out)


def png(width: int, height: int, rows: int | None = None, ztxt_mib: int = 0) -> bytes:
    """An RGB PNG declaring ``width`` x ``height``; ``rows`` of zero pixels actually encoded
    (default: all, a decompression bomb when large; fewer: a truncated image);
    ``ztxt_mib``: a compressed text chunk inflating to that many MiB."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    encoded = height if rows is None else min(rows, height)
    data = _zeros_deflated(encoded * (width * 3 + 1))
    text = b"Comment\0\0" + _zeros_deflated(ztxt_mib << 20, b"a") if ztxt_mib else b""
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"zTXt", text) if text else b"",
            _chunk(b"IDAT", data),
            _chunk(b"IEND", b""),
        ]
    )


@cache
def big_png(side: int) -> bytes:
    """A valid all-black PNG of ``side`` x ``side`` (a few KiB per million pixels)."""
    return png(side, side)


def gif(width: int, height: int) -> bytes:
    """A GIF whose screen and one frame declare ``width`` x ``height`` (one pixel of data)."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return b"GIF89a" + screen + frame + b"\x02\x02\x44\x01\x00\x3b"


def jpeg(width: int, height: int) -> bytes:
    """An 8x8 JPEG whose frame header declares ``width`` x ``height`` (at most 65535 each)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    frame = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, frame + 5, height, width)
    return bytes(data)


def bmp(width: int, height: int) -> bytes:
    """An 8-bit RLE BMP of ``width`` x ``height`` whose pixel data is one end-of-bitmap code."""
    palette = b"\0\0\0\0" * 256
    pixels = b"\x00\x01"
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 0, 0, 256, 0)
    head = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return head + info + palette + pixels


# --- PDF ------------------------------------------------------------------------------------


class Pdf:
    """Objects numbered from 1 (the catalog is object 1), written with a correct xref table."""

    def __init__(self) -> None:
        self.objects: list[bytes] = []

    def add(self, body: bytes) -> int:
        self.objects.append(body)
        return len(self.objects)

    def set(self, number: int, body: bytes) -> None:
        self.objects[number - 1] = body

    def stream(self, data: bytes, entries: bytes = b"", flate: bool = False) -> int:
        if flate:
            data, entries = zlib.compress(data, 9), entries + b" /Filter /FlateDecode"
        return self.add(b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(data), entries, data))

    def bytes(self) -> bytes:
        out = io.BytesIO()
        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self.objects, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objects) + 1))
        for offset in offsets:
            out.write(b"%010d 00000 n \n" % offset)
        out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(self.objects) + 1))
        out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
        return out.getvalue()


def _pdf_pages(pdf: Pdf, kids: list[int], tree_depth: int = 0) -> int:
    """The page tree over ``kids`` (page objects, parents set), nested ``tree_depth`` deep."""
    pages = pdf.add(b"")
    top = pages
    for _ in range(tree_depth):
        inner = pdf.add(b"")
        pdf.set(top, b"<< /Type /Pages /Kids [%d 0 R] /Count %d >>" % (inner, len(kids)))
        top = inner
    refs = b" ".join(b"%d 0 R" % kid for kid in kids)
    pdf.set(top, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids)))
    for kid in kids:
        pdf.set(kid, pdf.objects[kid - 1].replace(b"/Parent 0 0 R", b"/Parent %d 0 R" % top))
    return pages


def pdf_document(
    pages: int = 1,
    tree_depth: int = 0,
    size: tuple[float, float] = (612, 792),
    user_unit: float = 1.0,
    content: bytes = b"BT /F1 12 Tf 72 720 Td (Hello) Tj ET",
    content_flate: bool = False,
    image: tuple[int, int] | None = None,
    placements: int = 0,
    form_depth: int = 0,
    form_cycle: bool = False,
    array_depth: int = 0,
) -> bytes:
    """A PDF of ``pages`` pages sharing one content stream.

    ``size`` and ``user_unit``: the declared page size; ``image``: an image XObject declaring
    that width x height (a few bytes of data), drawn ``placements`` times; ``form_depth``:
    a chain of form XObjects each drawing the next (``form_cycle``: the last draws the first);
    ``array_depth``: arrays nested that deep in the page dictionary and the content stream."""
    pdf = Pdf()
    pdf.add(b"")  # the catalog, set below
    font = pdf.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    xobjects = b""
    draw = b""
    if image is not None:
        data = _zeros_deflated(min(image[0] * 3 * 4, 1 << 16))
        im = pdf.add(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
            b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream"
            % (image[0], image[1], len(data), data)
        )
        xobjects += b"/Im0 %d 0 R " % im
        step = max(1, placements)
        draw += b"".join(
            b"q %d 0 0 %d %d %d cm /Im0 Do Q\n" % (200 + i % 7, 150 + i % 5, i % 400, i % 600)
            for i in range(step if placements else 0)
        )
    if form_depth:
        first = len(pdf.objects) + 1
        for level in range(form_depth):
            is_last = level == form_depth - 1
            target = first if is_last and form_cycle else first + level + 1
            body = b"q /Fx Do Q" if not is_last or form_cycle else b"0 0 10 10 re f"
            resources = b"/Resources << /XObject << /Fx %d 0 R >> >>" % target
            pdf.stream(
                body,
                b" /Type /XObject /Subtype /Form /BBox [0 0 100 100] "
                + (resources if not is_last or form_cycle else b""),
            )
        xobjects += b"/Fx %d 0 R " % first
        draw += b"q /Fx Do Q\n"
    nested = b"[" * array_depth + b"1" + b"]" * array_depth
    if array_depth:
        draw += nested + b" pop\n"
    stream = pdf.stream(content + b"\n" + draw, flate=content_flate)
    kids = []
    for _ in range(pages):
        kids.append(
            pdf.add(
                b"<< /Type /Page /Parent 0 0 R /MediaBox [0 0 %g %g] /UserUnit %g /Contents %d 0 R"
                b" /Resources << /Font << /F1 %d 0 R >> /XObject << %s>> >> /Deep %s >>"
                % (size[0], size[1], user_unit, stream, font, xobjects, nested)
            )
        )
    root = _pdf_pages(pdf, kids, tree_depth)
    pdf.set(1, b"<< /Type /Catalog /Pages %d 0 R >>" % root)
    return pdf.bytes()


def pdf_bomb_stream(mib: int) -> bytes:
    """A one-page PDF whose content stream inflates to ``mib`` MiB of spaces."""
    pdf = Pdf()
    pdf.add(b"")
    data = _zeros_deflated(mib << 20, b" ")
    stream = pdf.add(
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(data), data)
    )
    page = pdf.add(b"<< /Type /Page /Parent 0 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>"
                   % stream)  # fmt: skip
    root = _pdf_pages(pdf, [page])
    pdf.set(1, b"<< /Type /Catalog /Pages %d 0 R >>" % root)
    return pdf.bytes()


# --- Office (zip) ---------------------------------------------------------------------------

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
PIC = "http://schemas.openxmlformats.org/drawingml/2006/picture"
WP = "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"
IMAGE_REL = R + "/image"
HEADER_REL = R + "/header"
HEADER_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml"


@cache
def _docx_base() -> bytes:
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    return buffer.getvalue()


@cache
def _pptx_base() -> bytes:
    from pptx import Presentation

    buffer = io.BytesIO()
    Presentation().save(buffer)
    return buffer.getvalue()


def _paragraph(text: str = "", inner: str = "") -> str:
    run = f"<w:r><w:t>{text}</w:t></w:r>" if text else ""
    return f"<w:p>{run}{inner}</w:p>"


def _picture(rid: str) -> str:
    return (
        "<w:r><w:drawing><wp:inline><a:graphic><a:graphicData><pic:pic><pic:blipFill>"
        f'<a:blip r:embed="{rid}"/></pic:blipFill></pic:pic></a:graphicData></a:graphic>'
        "</wp:inline></w:drawing></w:r>"
    )


def docx_body(
    paragraphs: int = 1,
    page_breaks: bool = False,
    table_depth: int = 0,
    pictures: int = 0,
    media: int = 1,
    xml_depth: int = 0,
) -> str:
    """The ``<w:body>`` content: ``paragraphs`` paragraphs (each ending a page when
    ``page_breaks``), tables nested ``table_depth`` deep, ``pictures`` references spread over
    ``media`` picture parts, a run wrapped in ``xml_depth`` levels of content controls."""
    parts = []
    brk = '<w:r><w:br w:type="page"/></w:r>' if page_breaks else ""
    for index in range(paragraphs):
        parts.append(_paragraph(f"paragraph {index}", brk))
    cell = _paragraph("deepest cell")
    for level in range(table_depth):
        cell = f"<w:tbl><w:tr><w:tc>{cell}</w:tc></w:tr></w:tbl>" + _paragraph(f"level {level}")
    parts.append(cell)
    parts += [_paragraph("", _picture(f"rIdPic{i % max(media, 1)}")) for i in range(pictures)]
    if xml_depth:
        parts.append("<w:sdt><w:sdtContent>" * xml_depth + _paragraph("deep") +
                     "</w:sdtContent></w:sdt>" * xml_depth)  # fmt: skip
    return "".join(parts)


def docx_file(
    body: str,
    media: dict[str, bytes] | None = None,
    headers: int = 0,
    header_kib: int = 0,
    entity_levels: int = 0,
    bomb_mib: int = 0,
    bomb_declared: int | None = None,
) -> bytes:
    """A DOCX (python-docx's own template) with ``body``; ``media``: picture parts by name,
    related as ``rIdPic0``...; ``headers`` header parts of ``header_kib`` KiB of empty
    paragraphs each; ``entity_levels``: a billion-laughs DOCTYPE used in the body;
    ``bomb_mib``: a related part inflating to that many MiB (declaring ``bomb_declared``
    bytes in the zip directory when given)."""
    media = media or {}
    doctype = entity = ""
    if entity_levels:
        lines = ['<!ENTITY e0 "lollollollollollollollollollol">'] + [
            f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, entity_levels)
        ]
        doctype = f"<!DOCTYPE w:document [{''.join(lines)}]>"
        entity = _paragraph(f"&e{entity_levels - 1};")
    document = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{doctype}'
        f'<w:document xmlns:w="{W}" xmlns:r="{R}" xmlns:a="{A}" xmlns:pic="{PIC}" '
        f'xmlns:wp="{WP}"><w:body>{body}{entity}</w:body></w:document>'
    )
    rels, types, members = [], [], []
    for index, (name, data) in enumerate(media.items()):
        rels.append((f"rIdPic{index}", IMAGE_REL, f"media/{name}"))
        members.append((f"word/media/{name}", data))
    if headers:
        paragraph = f'<w:p xmlns:w="{W}"/>'
        xml = (f'<w:hdr xmlns:w="{W}">' + paragraph * (header_kib * 1024 // len(paragraph))
               + "</w:hdr>").encode()  # fmt: skip
        for index in range(headers):
            rels.append((f"rIdHdr{index}", HEADER_REL, f"header{index}.xml"))
            types.append((f"/word/header{index}.xml", HEADER_TYPE))
            members.append((f"word/header{index}.xml", xml))
    if bomb_mib:
        rels.append(("rIdBomb", IMAGE_REL, "media/bomb.png"))
        members.append(("word/media/bomb.png", bytes(bomb_mib << 20)))
    return _rezip(
        _docx_base(),
        {"word/document.xml": document.encode()},
        "word/_rels/document.xml.rels",
        rels,
        types,
        members,
        {"word/media/bomb.png": bomb_declared} if bomb_declared is not None else {},
    )


def _rezip(
    base: bytes,
    replace: dict[str, bytes],
    rels_name: str,
    rels: list[tuple[str, str, str]],
    overrides: list[tuple[str, str]],
    members: list[tuple[str, bytes]],
    lie: dict[str, int],
) -> bytes:
    """``base`` with members replaced, relationships, content types and members added;
    ``lie``: members whose uncompressed size the directory misstates."""
    with zipfile.ZipFile(io.BytesIO(base)) as source:
        contents = {info.filename: source.read(info) for info in source.infolist()}
    contents.update(replace)
    extra = "".join(f'<Relationship Id="{i}" Type="{t}" Target="{x}"/>' for i, t, x in rels)
    contents[rels_name] = contents[rels_name].replace(b"</Relationships>", extra.encode() +
                                                      b"</Relationships>")  # fmt: skip
    kinds = "".join(f'<Override PartName="{p}" ContentType="{c}"/>' for p, c in overrides)
    if b'Extension="png"' not in contents["[Content_Types].xml"]:
        kinds += '<Default Extension="png" ContentType="image/png"/>'
    contents["[Content_Types].xml"] = contents["[Content_Types].xml"].replace(
        b"</Types>", kinds.encode() + b"</Types>"
    )
    contents.update(dict(members))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    data = buffer.getvalue()
    for name, declared in lie.items():
        data = _misstate_size(data, name, declared)
    return data


def _misstate_size(data: bytes, name: str, declared: int) -> bytes:
    """Rewrite the uncompressed size of member ``name`` in its local and central headers."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    out = bytearray(data)
    struct.pack_into("<I", out, info.header_offset + 22, declared)
    central = data.find(b"PK\x01\x02" + data[info.header_offset + 4 : info.header_offset + 6])
    while central != -1:
        length = struct.unpack_from("<H", out, central + 28)[0]
        if bytes(out[central + 46 : central + 46 + length]) == name.encode():
            struct.pack_into("<I", out, central + 24, declared)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    return bytes(out)


def pptx_file(
    slides: int = 1,
    group_depth: int = 0,
    pictures: int = 0,
    picture: bytes | None = None,
    bomb_mib: int = 0,
) -> bytes:
    """A PPTX made with python-pptx: ``slides`` slides with a title, groups nested
    ``group_depth`` deep on the first, ``pictures`` copies of ``picture`` on the first;
    ``bomb_mib``: an extra related part inflating to that many MiB."""
    from pptx import Presentation
    from pptx.util import Emu

    deck = Presentation(io.BytesIO(_pptx_base()))
    layout = deck.slide_layouts[5]
    for index in range(slides):
        slide = deck.slides.add_slide(layout)
        if slide.shapes.title is not None:
            slide.shapes.title.text = f"slide {index}"
    first = deck.slides[0]
    shapes = first.shapes
    for _ in range(group_depth):
        shapes = shapes.add_group_shape().shapes
    if group_depth:
        shapes.add_textbox(Emu(0), Emu(0), Emu(100000), Emu(100000)).text_frame.text = "deep"
    for _ in range(pictures):
        first.shapes.add_picture(io.BytesIO(picture or png(8, 8)), Emu(0), Emu(0))
    buffer = io.BytesIO()
    deck.save(buffer)
    if not bomb_mib:
        return buffer.getvalue()
    slide_rels = "ppt/slides/_rels/slide1.xml.rels"
    return _rezip(
        buffer.getvalue(),
        {},
        slide_rels,
        [("rIdBomb", IMAGE_REL, "../media/bomb.png")],
        [],
        [("ppt/media/bomb.png", bytes(bomb_mib << 20))],
        {},
    )


# --- text formats ---------------------------------------------------------------------------

HTML_CONSTRUCTS: dict[str, tuple[str, str, str]] = {
    # name: (prefix, repeated unit, suffix)
    "nested-divs": ("<html><body>", "<div>x", "</body></html>"),
    "nested-paragraph-blocks": ("<html><body>", "<li>word ", ""),
    "unclosed-comment": ("<p>a</p>", "<!--", ""),
    "end-tag-openers": ("<p>a</p>", "</", ""),
    "cdata-openers": ("<p>a</p>", "<![", ""),
    "declaration-openers": ("<p>a</p>", "<!", ""),
    "attribute-run": ("<p><a ", "b=c ", ">x</a></p>"),
    "charrefs": ("<p>", "&#x41;&amp", "</p>"),
    "unclosed-tags": ("<p>", "<a", ""),
}

MARKDOWN_CONSTRUCTS: dict[str, tuple[str, str, str]] = {
    "emphasis-run": ("", "*a ", ""),
    "underscore-run": ("", "_a", ""),
    "open-brackets": ("", "[", "]"),
    "link-brackets": ("", "[a](", ""),
    "blockquote-nesting": ("", ">", "text"),
    "list-nesting": ("", "- ", "item"),
    "backticks": ("", "`a", ""),
    "angle-links": ("", "<a", ""),
    "reference-links": ("", "[r]: /u\n[r]\n", ""),
    "html-blocks": ("", "<div>\n", ""),
    "raw-html-comment": ("", "<!--", ""),
}


def repeated(construct: tuple[str, str, str], count: int) -> bytes:
    prefix, unit, suffix = construct
    return (prefix + unit * count + suffix).encode()


def html_with_pictures(pictures: int, picture: bytes) -> bytes:
    import base64

    uri = "data:image/png;base64," + base64.b64encode(picture).decode()
    return ("<html><body>" + f'<p><img src="{uri}" alt="a"></p>' * pictures
            + "</body></html>").encode()  # fmt: skip
