"""A file carried as printed QR codes (docs/protocol.md §18), drawn and read back by the real
library (zxing-cpp) from PNG files, degraded photo-like copies, JPEGs, composite images and a
Chromium rendering of the printable page; codes drawn by the ``qrcode`` package read too.

The file is random and about the size of a 4 KiB-bucket sealed petition file (8,640 bytes: an
8,548-byte envelope, §7.1, and its framing).
"""

from __future__ import annotations

import html.parser
import io
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import qrcode
import qrcode.constants
import qrcode.util
import zxingcpp
from PIL import Image, ImageChops, ImageFilter
from playwright.sync_api import Browser, sync_playwright
from qrcode.image.pure import PyPNGImage

from client import qr_transport
from client.errors import InvalidInput
from client.qr_transport import (
    MODULE_MM,
    PAGE_TEXT,
    QrCode,
    QrFiles,
    draw,
    page_layout,
    read_qr_images,
    render_codes,
    render_page,
    write_qr_files,
)
from crypto import qr_parts
from crypto.errors import MalformedInput, UnsupportedVersion

PETITION_SIZE = 8_640
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def sealed() -> bytes:
    return random.Random(19).randbytes(PETITION_SIZE)


@pytest.fixture(scope="module")
def files(sealed: bytes, tmp_path_factory: pytest.TempPathFactory) -> QrFiles:
    return write_qr_files(sealed, tmp_path_factory.mktemp("qr"))


def test_a_petition_is_eleven_codes_of_version_23_at_most(files: QrFiles) -> None:
    assert [p.name for p in files.images] == [f"part-{i:02d}-of-11.png" for i in range(1, 12)]
    assert files.page.name == "print.html"
    for path in files.images:
        with Image.open(path) as image:
            side = image.size[0] // qr_transport.PNG_BOX_SIZE
            assert image.size == (side * 8, side * 8)
            assert side - 2 * qr_transport.QUIET_ZONE <= 17 + 4 * 23, path.name
        assert path.stat().st_mode & 0o777 == 0o600


def test_the_default_part_is_version_23_at_level_m(files: QrFiles) -> None:
    """Read back from the symbol by the decoder, not taken from the encoder's word."""
    with Image.open(files.images[0]) as image:
        (barcode,) = zxingcpp.read_barcodes(image)
    extra = barcode.extra
    assert isinstance(extra, dict)
    assert (extra["Version"], extra["ECLevel"]) == ("23", "M")
    # One character more than a version 23-M code holds in alphanumeric mode: version 24.
    assert draw("A" * 1248)[0] == 23
    assert draw("A" * 1249)[0] == 24


@pytest.mark.parametrize("offset", range(4))
def test_long_runs_of_zero_bytes_render(offset: int) -> None:
    """An envelope's bureau id is padded with 56 zero bytes (§7.1); qrcode 8.2 could not draw
    some of those parts (see ``draw``)."""
    data = bytes(offset) + b"SPE\x02national" + bytes(56) + random.Random(offset).randbytes(900)
    codes = render_codes(data)
    texts = [
        text
        for code in codes
        for text in [b.text for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(code.png)))]
    ]
    assert qr_parts.join(texts) == data


def test_codes_drawn_by_another_encoder_read_too(sealed: bytes, tmp_path: Path) -> None:
    """The parts are plain QR alphanumeric text: the ``qrcode`` package's drawing reads too."""
    paths = []
    for i, text in enumerate(qr_parts.split(sealed[:2000]), start=1):
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6)
        code.add_data(qrcode.util.QRData(text, mode=qrcode.util.MODE_ALPHA_NUM))
        code.make(fit=True)
        paths.append(tmp_path / f"{i}.png")
        with paths[-1].open("wb") as handle:
            code.make_image(image_factory=PyPNGImage).save(handle)
    assert read_qr_images(paths) == sealed[:2000]


def test_shuffled_repeated_pngs_give_the_file_back(files: QrFiles, sealed: bytes) -> None:
    paths = [*files.images, files.images[3], files.images[0]]
    random.Random(1).shuffle(paths)
    assert read_qr_images(paths) == sealed


def test_a_missing_part_is_named(files: QrFiles, sealed: bytes) -> None:
    paths = [p for p in files.images if "-07-" not in p.name]
    with pytest.raises(MalformedInput) as caught:
        read_qr_images(paths)
    file_id = qr_parts.file_id(qr_parts.file_digest(sealed))
    assert caught.value.message == f"part 7 of 11 of file {file_id} is missing"


def test_a_part_of_another_file_is_refused(files: QrFiles, tmp_path: Path) -> None:
    other = write_qr_files(b"another sealed file", tmp_path / "other")
    with pytest.raises(MalformedInput, match="come from 2 different files"):
        read_qr_images([*files.images, *other.images])


def test_writing_never_overwrites(files: QrFiles, sealed: bytes) -> None:
    before = files.page.read_bytes()
    with pytest.raises(InvalidInput, match=re.escape("already holds part-01-of-11.png")):
        write_qr_files(sealed, files.page.parent)
    assert files.page.read_bytes() == before


def photo_like(png: Path, seed: int, scale: float = 2.0, angle: float = 3.0) -> Image.Image:
    """Scaled down (8 -> 4 pixels a module), slightly turned and blurred, grey paper and ink
    (contrast 0.75), and noise uniform in ±25 grey levels."""
    with Image.open(png) as original:
        image = original.convert("L")
    image = image.resize(
        (int(image.size[0] / scale), int(image.size[1] / scale)), Image.Resampling.BILINEAR
    )
    image = image.filter(ImageFilter.GaussianBlur(0.8))
    image = image.rotate(angle, expand=True, fillcolor=255, resample=Image.Resampling.BILINEAR)
    image = image.point(lambda v: int(v * 0.75 + 30))
    noise = Image.frombytes(
        "L", image.size, random.Random(seed).randbytes(image.size[0] * image.size[1])
    )
    noise = noise.point(lambda v: 103 + v * 50 // 255)  # 103 ... 153: 128 ± 25
    return ImageChops.add(image, noise, scale=1.0, offset=-128)


def test_photo_like_images_still_decode(files: QrFiles, sealed: bytes, tmp_path: Path) -> None:
    paths = []
    for i, png in enumerate(files.images):
        target = tmp_path / f"photo-{i}.png"
        photo_like(png, seed=i, angle=(-3.0, 3.0)[i % 2]).save(target)
        paths.append(target)
    assert read_qr_images(paths) == sealed


def test_jpeg_and_several_codes_in_one_image(files: QrFiles, sealed: bytes, tmp_path: Path) -> None:
    """Two JPEG "photos" of five and six codes, with an unrelated QR code in one of them."""
    images = [photo_like(p, seed=i, angle=0) for i, p in enumerate(files.images)]
    side = max(image.size[0] for image in images)
    receipt = qrcode.make("1ABCD-EFGH-JKMN", image_factory=PyPNGImage, box_size=4)
    buffer = io.BytesIO()
    receipt.save(buffer)
    buffer.seek(0)
    paths = []
    for n, group in enumerate([images[:5], images[5:]]):
        sheet = Image.new("L", (side * 3, side * 2), 255)
        for k, image in enumerate(group):
            sheet.paste(image, ((k % 3) * side, (k // 3) * side))
        if n == 0:
            sheet.paste(Image.open(buffer).convert("L"), (2 * side, side))
        target = tmp_path / f"sheet-{n}.jpg"
        sheet.save(target, quality=70)
        paths.append(target)
    assert read_qr_images(paths) == sealed


def test_images_without_parts_are_refused_with_their_name(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(blank)
    with pytest.raises(InvalidInput, match=r"blank\.png: no QR code could be read"):
        read_qr_images([blank])

    receipt = tmp_path / "receipt.png"
    with receipt.open("wb") as handle:
        qrcode.make("1ABCD-EFGH-JKMN", image_factory=PyPNGImage).save(handle)
    with pytest.raises(InvalidInput, match=r"receipt\.png: its QR codes are not parts"):
        read_qr_images([receipt])

    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(InvalidInput, match=r"notes\.png is not a PNG or JPEG image"):
        read_qr_images([text])

    with pytest.raises(InvalidInput, match="cannot read"):
        read_qr_images([tmp_path / "absent.png"])

    future = tmp_path / "future.png"
    future.write_bytes(draw("SPQ2:" + qr_parts.split(b"x")[0][5:])[1])
    with pytest.raises(UnsupportedVersion, match=r"future\.png: QR part version 2"):
        read_qr_images([future])


class _PageParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_page_is_self_contained_and_chinese_first(files: QrFiles) -> None:
    page = files.page.read_text(encoding="utf-8")
    parser = _PageParser()
    parser.feed(page)
    assert "script" not in parser.tags
    assert not re.search(r"\b(?:src|href)=\"(?!data:image/png;base64,)", page)
    assert len(parser.images) == 11
    assert parser.tags.count("section") == 1
    text = "".join(parser.text)
    zh, en = PAGE_TEXT["instructions"]
    assert zh.format(total=11) in text
    assert en.format(total=11) in text
    assert text.index(zh.format(total=11)) < text.index(en.format(total=11))
    for index in (1, 11):
        assert f"第 {index}/11 部分 · part {index} of 11" in text
    assert '<html lang="zh-CN">' in page


def test_the_layout_holds_twelve_default_codes_per_a4_page() -> None:
    assert page_layout(117 * MODULE_MM) == qr_transport.PageLayout(columns=3, rows=4)
    assert page_layout(185 * MODULE_MM) == qr_transport.PageLayout(columns=2, rows=2)


def test_a_larger_petition_takes_more_pages(files: QrFiles, sealed: bytes) -> None:
    """A 16 KiB-bucket petition (20,836 bytes: 27 parts) on three sheets; one image stands in
    for all 27, as only the layout is under test."""
    png, digest = files.images[0].read_bytes(), qr_parts.file_digest(sealed)
    many = [QrCode(i, 27, digest, "", 23, png) for i in range(1, 28)]
    page = render_page(many)
    assert page.count('<section class="sheet">') == 3
    assert "第 3/3 页" in page


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


def test_chromium_prints_one_a4_page_whose_scan_decodes(
    files: QrFiles, sealed: bytes, tmp_path: Path, chromium: Browser
) -> None:
    """The printed page: one A4 sheet, no clipped text, and a ~190 dpi image of the whole
    sheet (3.8 pixels a module) gives the file back."""
    # 2 device pixels per CSS pixel: 192 dpi.
    page = chromium.new_page(device_scale_factor=2, viewport={"width": 794, "height": 1123})
    try:
        page.goto(files.page.as_uri())
        pdf = page.pdf(format="A4", prefer_css_page_size=True)
        assert len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf)) == 1
        page.emulate_media(media="print")
        clipped = page.evaluate(
            "Array.from(document.querySelectorAll('header, .sheet'))"
            ".filter(e => e.scrollHeight > e.clientHeight + 1).length"
        )
        assert clipped == 0
        width_mm = page.evaluate(
            "document.querySelector('img').getBoundingClientRect().width * 25.4 / 96"
        )
        assert width_mm == pytest.approx(117 * MODULE_MM, abs=0.1)
        scan = tmp_path / "scan.png"
        page.screenshot(path=str(scan), full_page=True)
    finally:
        page.close()
    assert read_qr_images([scan]) == sealed


def test_an_empty_file_is_one_small_code(tmp_path: Path) -> None:
    written = write_qr_files(b"", tmp_path)
    assert len(written.images) == 1
    assert read_qr_images(written.images) == b""
    assert render_codes(b"")[0].version <= 5
