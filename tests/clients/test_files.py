"""Saving attachments under names the file system accepts, whatever the petitioner typed."""

from __future__ import annotations

from pathlib import Path

from client.files import safe_file_name, save_attachment
from crypto.document import Attachment


def test_a_long_chinese_name_is_cut_by_bytes_and_keeps_its_extension(tmp_path: Path) -> None:
    name = "文" * 100 + ".pdf"  # 304 bytes of UTF-8: over every file system's 255
    first = save_attachment(tmp_path, Attachment(name, "application/pdf", b"one"))
    second = save_attachment(tmp_path, Attachment(name, "application/pdf", b"two"))
    assert first.name.endswith(".pdf")
    assert second.name.endswith(" (2).pdf")
    assert first.name.startswith("文" * 70)
    assert len(second.name.encode("utf-8")) <= 255
    assert (first.read_bytes(), second.read_bytes()) == (b"one", b"two")


def test_a_cut_never_splits_a_character() -> None:
    for length in range(70, 90):
        shortened = safe_file_name("文" * length + "a" * (length % 3))
        assert len(shortened.encode("utf-8")) <= 240
        shortened.encode("utf-8").decode("utf-8")  # a split character would not decode


def test_a_short_name_is_kept_as_typed() -> None:
    assert safe_file_name("照片 1.jpg") == "照片 1.jpg"
