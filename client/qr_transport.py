"""A sealed petition file as printed QR codes, and back (docs/protocol.md §18).

:mod:`crypto.qr_parts` cuts the file into numbered, checksummed text parts; this module draws
each part as a QR code (PNG), lays them out on printable A4 pages (one HTML file, images
inline, no script), and reads photographs or scans of them back, drawing and reading both with
zxing-cpp (the maintained C++ port of ZXing), before :func:`crypto.qr_parts.join_parts`
reassembles the file. Nothing here keeps a copy: the renderers return bytes and text, and only
:func:`write_qr_files` writes, where it is told to.

Sizes (measured, see §18): at the default part size every code is version 23 or smaller at
error-correction level M, printed at 0.5 mm per module (58.5 mm with its quiet zone); a page
holds 3 × 4 codes, so a 4 KiB-bucket petition (about 8.6 KiB, 11 parts) fits one A4 sheet.
"""

from __future__ import annotations

import base64
import html
import io
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import zxingcpp
from PIL import Image, UnidentifiedImageError

from client.errors import InvalidInput
from crypto import qr_parts
from crypto.errors import MalformedInput

MODULE_MM: Final = 0.5
"""Printed size of one QR module: 5.9 pixels in a 300 dpi scan, about 6 in a phone photo of the
whole page, and 12 dots on a 600 dpi printer."""

QUIET_ZONE: Final = 4
"""White modules around each code, the minimum ISO/IEC 18004 requires."""

PNG_BOX_SIZE: Final = 8
"""Pixels per module in the PNG files and the page's images (the page scales them to mm)."""

ERROR_CORRECTION: Final = "M"
"""Level M: about 15 % of a code may be lost (a fold, a stain) and it still reads."""

PAGE_WIDTH_MM: Final = 210.0
PAGE_HEIGHT_MM: Final = 297.0
PAGE_MARGIN_MM: Final = 10.0
HEADER_MM: Final = 23.0
CAPTION_MM: Final = 4.5

MAX_IMAGE_BYTES: Final = 64 * 1024 * 1024
IMAGE_FORMATS: Final = ("PNG", "JPEG")
_QR_ONLY: Final = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)

# Every word a person reads on the printed page, Chinese first, in one place so that issue 20's
# translation work finds them. Placeholders are filled with str.format.
PAGE_TEXT: Final[dict[str, tuple[str, str]]] = {
    "title": ("密封请愿书 · 二维码", "Sealed petition · QR codes"),
    "instructions": (
        "这些二维码合起来是一份加密的请愿书，只有收件机构能打开。"
        "请把全部 {total} 个部分交给能上网的人，用 petition deliver --scan 扫描递交；"
        "顺序不限，缺一不可。不要在这张纸上写回执码。",
        "Together these codes are one encrypted petition that only the receiving bureau can "
        "open. Give all {total} parts to someone who can go online: they scan them with "
        "petition deliver --scan, in any order, none missing. Never write your receipt code "
        "on this sheet.",
    ),
    "file": ("文件 {file_id} · 第 {page}/{pages} 页", "file {file_id} · page {page} of {pages}"),
    "part": ("第 {index}/{total} 部分", "part {index} of {total}"),
}


def _bilingual(key: str, separator: str = " · ", **values: object) -> str:
    chinese, english = PAGE_TEXT[key]
    return chinese.format(**values) + separator + english.format(**values)


@dataclass(frozen=True)
class QrCode:
    """One part drawn as a QR code."""

    index: int
    total: int
    digest: bytes
    text: str
    version: int
    png: bytes

    @property
    def modules(self) -> int:
        """Width in modules, quiet zone included."""
        return 17 + 4 * self.version + 2 * QUIET_ZONE

    @property
    def size_mm(self) -> float:
        return self.modules * MODULE_MM


def draw(text: str) -> tuple[int, bytes]:
    """The smallest level-M QR code holding ``text``: its version, and a 1-bit PNG of it.

    zxing-cpp's encoder chooses alphanumeric mode for base45 text by itself. It draws, rather
    than the ``qrcode`` package the receipt codes use, because qrcode 8.2 fails (``glog(0)``,
    its issue 330, fixed after that release) whenever one Reed–Solomon block of data is all
    zeros, as a run of about 45 zero bytes can make: the NUL padding of the bureau id in an
    envelope header (§7.1). In a sealed petition file (§17) that happens for bureau ids of one
    or two characters, and for about one placement in three of an envelope in other framing.
    """
    barcode = zxingcpp.create_barcode(
        text, zxingcpp.BarcodeFormat.QRCode, ec_level=ERROR_CORRECTION
    )
    side = int(barcode.to_image(scale=1, add_quiet_zones=False).shape[0])
    image = Image.fromarray(barcode.to_image(scale=PNG_BOX_SIZE, add_quiet_zones=True))
    if image.size != ((side + 2 * QUIET_ZONE) * PNG_BOX_SIZE,) * 2:
        raise MalformedInput(f"the QR encoder drew {image.size} pixels for {side} modules")
    buffer = io.BytesIO()
    image.convert("1").save(buffer, format="PNG", optimize=True)
    return (side - 17) // 4, buffer.getvalue()


def render_codes(data: bytes, part_size: int = qr_parts.DEFAULT_PART_SIZE) -> list[QrCode]:
    """Every part of ``data`` as a QR code, part 1 first."""
    texts = qr_parts.split(data, part_size)
    digest = qr_parts.file_digest(data)
    codes = []
    for index, text in enumerate(texts, start=1):
        version, png = draw(text)
        codes.append(QrCode(index, len(texts), digest, text, version, png))
    return codes


@dataclass(frozen=True)
class PageLayout:
    """How many codes of one size a printed A4 page holds."""

    columns: int
    rows: int

    @property
    def per_page(self) -> int:
        return self.columns * self.rows


def page_layout(size_mm: float) -> PageLayout:
    """Columns and rows of codes ``size_mm`` wide (quiet zone included) on one A4 page."""
    width = PAGE_WIDTH_MM - 2 * PAGE_MARGIN_MM
    height = PAGE_HEIGHT_MM - 2 * PAGE_MARGIN_MM - HEADER_MM
    columns = int(width // size_mm)
    rows = int(height // (size_mm + CAPTION_MM))
    if columns < 1 or rows < 1:
        raise MalformedInput(f"a QR code {size_mm} mm wide does not fit an A4 page")
    return PageLayout(columns, rows)


_STYLE = """
@page { size: A4; margin: %(margin)smm; }
html, body { margin: 0; padding: 0; background: #fff; color: #000; }
body { font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", sans-serif;
       font-size: 8.5pt; line-height: 1.3; }
.sheet { width: %(width)smm; height: %(height)smm; overflow: hidden; break-after: page; }
.sheet:last-child { break-after: auto; }
header { height: %(header)smm; overflow: hidden; }
h1 { font-size: 11pt; margin: 0 0 1mm 0; }
p { margin: 0 0 0.8mm 0; }
.grid { display: grid; grid-template-columns: repeat(%(columns)s, %(cell)smm);
        justify-content: space-between; }
figure { margin: 0; width: %(cell)smm; }
img { display: block; margin: 0 auto; image-rendering: pixelated; }
figcaption { height: %(caption)smm; line-height: %(caption)smm; text-align: center;
             font-size: 8pt; font-weight: bold; }
"""


def render_page(codes: Sequence[QrCode]) -> str:
    """One HTML document of A4 sheets with every code, its number and a short instruction.

    The images are inline ``data:`` URIs and there is no script, so the file prints the same
    from any browser, offline, and asks nothing of the network.
    """
    if not codes:
        raise MalformedInput("no QR codes to lay out")
    cell = max(code.size_mm for code in codes)
    layout = page_layout(cell)
    total = codes[0].total
    pages = -(-len(codes) // layout.per_page)
    style = _STYLE % {
        "margin": _mm(PAGE_MARGIN_MM),
        "width": _mm(PAGE_WIDTH_MM - 2 * PAGE_MARGIN_MM),
        # A hair under the printable height, so rounding never spills onto a blank page.
        "height": _mm(PAGE_HEIGHT_MM - 2 * PAGE_MARGIN_MM - 1),
        "header": _mm(HEADER_MM),
        "columns": layout.columns,
        "cell": _mm(cell),
        "caption": _mm(CAPTION_MM),
    }
    sheets = []
    for page in range(pages):
        figures = "".join(
            _figure(code) for code in codes[page * layout.per_page : (page + 1) * layout.per_page]
        )
        heading = _bilingual(
            "file", file_id=qr_parts.file_id(codes[0].digest), page=page + 1, pages=pages
        )
        sheets.append(
            '<section class="sheet"><header>'
            f"<h1>{html.escape(_bilingual('title'))} · {html.escape(heading)}</h1>"
            + "".join(
                f"<p>{html.escape(text.format(total=total))}</p>"
                for text in PAGE_TEXT["instructions"]
            )
            + f'</header><div class="grid">{figures}</div></section>'
        )
    title = html.escape(_bilingual("title"))
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{style}</style></head>"
        f"<body>{''.join(sheets)}</body></html>\n"
    )


def _mm(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _figure(code: QrCode) -> str:
    source = "data:image/png;base64," + base64.b64encode(code.png).decode("ascii")
    caption = html.escape(_bilingual("part", index=code.index, total=code.total))
    size = _mm(code.size_mm)
    return (
        f'<figure><img src="{source}" alt="{caption}" '
        f'style="width:{size}mm;height:{size}mm"><figcaption>{caption}</figcaption></figure>'
    )


@dataclass(frozen=True)
class QrFiles:
    """What :func:`write_qr_files` wrote."""

    images: list[Path]
    page: Path


PAGE_FILE_NAME: Final = "print.html"


def image_file_name(index: int, total: int) -> str:
    width = len(str(total))
    return f"part-{index:0{width}d}-of-{total}.png"


def write_qr_files(
    data: bytes, folder: Path, part_size: int = qr_parts.DEFAULT_PART_SIZE
) -> QrFiles:
    """Write one PNG per part and the printable page into ``folder``; never overwrite."""
    codes = render_codes(data, part_size)
    page = render_page(codes).encode("utf-8")
    contents = {image_file_name(c.index, c.total): c.png for c in codes}
    contents[PAGE_FILE_NAME] = page
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {folder}: {exc.strerror}") from exc
    taken = [name for name in contents if (folder / name).exists()]
    if taken:
        raise InvalidInput(f"{folder} already holds {taken[0]}; choose an empty folder")
    written = []
    for name, content in contents.items():
        target = folder / name
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
        except OSError as exc:
            raise InvalidInput(f"cannot write {target}: {exc.strerror}") from exc
        written.append(target)
    return QrFiles(images=written[:-1], page=written[-1])


def scan_image(source: Path | bytes) -> list[str]:
    """The text of every QR code zxing-cpp finds in one PNG or JPEG image (none is an error).

    ``source`` is a file's path (``petition deliver --scan``) or an upload held in memory (the
    web UI's setup page reads the poster's QR without writing it to disk): the same limits and
    the same reader for both. Pillow's decompression-bomb warning is a refusal, not a warning.
    """
    name = str(source) if isinstance(source, Path) else "the picture"
    try:
        size = source.stat().st_size if isinstance(source, Path) else len(source)
        if size > MAX_IMAGE_BYTES:
            raise InvalidInput(f"{name} is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB")
        with warnings.catch_warnings():
            # Pillow warns (rather than refuses) between 89 and 179 megapixels.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = source if isinstance(source, Path) else io.BytesIO(source)
            with Image.open(opened, formats=IMAGE_FORMATS) as image:
                gray = image.convert("L")
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise InvalidInput(f"{name} has too many pixels to be a photo of a page") from exc
    except UnidentifiedImageError as exc:
        raise InvalidInput(f"{name} is not a PNG or JPEG image") from exc
    except OSError as exc:
        raise InvalidInput(f"cannot read {name}: {exc.strerror or exc}") from exc
    found = zxingcpp.read_barcodes(gray, formats=_QR_ONLY)
    if not found:
        raise InvalidInput(
            f"{name}: no QR code could be read; take the photo or scan again, sharp, straight "
            "and with the whole code in it"
        )
    return [barcode.text for barcode in found]


def read_parts(paths: Iterable[Path]) -> list[qr_parts.Part]:
    """Every sealed-petition part in the images; other QR codes are passed over."""
    parts = []
    for path in paths:
        texts = [text for text in scan_image(path) if text.startswith(qr_parts.FAMILY)]
        if not texts:
            raise InvalidInput(f"{path}: its QR codes are not parts of a sealed petition file")
        for text in texts:
            try:
                parts.append(qr_parts.parse_part(text))
            except MalformedInput as exc:
                raise type(exc)(f"{path}: {exc.message}") from None
    return parts


def read_qr_images(paths: Iterable[Path]) -> bytes:
    """The file whose parts the images show, in any order, each image holding one code or
    several (a scan of a whole page); repeats are fine, a missing or foreign part is not."""
    return qr_parts.join_parts(read_parts(paths))
