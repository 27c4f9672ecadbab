"""Gutenberg source: licence header/footer stripping on the real PG samples (modern and
pre-2000 etext formats), ids, listing, and broken variants derived in tmp_path."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.gutenberg import GutenbergSource, ebook_key, strip_headers
from pile.stage import Dropped

SAMPLES = "samples/gutenberg"


def source(tmp_path: Path, **options) -> GutenbergSource:
    return make_source(SourceConfig(name="gutenberg", kind="gutenberg", options=options), tmp_path)


def only_doc(items: list) -> Document:
    assert len(items) == 1 and isinstance(items[0], Document), items
    return items[0]


def test_modern_format_sample(shared_data: Path, tmp_path: Path) -> None:
    doc = only_doc(list(source(tmp_path).read(shared_data / SAMPLES / "3261.txt")))
    assert doc.id == "gutenberg/3261"
    assert doc.meta["pile_set_name"] == "Gutenberg (PG-19)"
    assert doc.meta["ebook"] == 3261 and doc.meta["title"] == "News from Nowhere"
    assert doc.meta["header_format"] == "modern"
    assert doc.text.startswith("NEWS FROM NOWHERE\nOR\nAN EPOCH OF REST")
    assert "Cirencester and Burford he must have meant." in doc.text
    for marker in ("START OF THE PROJECT GUTENBERG", "END OF THE PROJECT GUTENBERG",
                   "Project Gutenberg License", "Transcribed from the 1908", "\r"):
        assert marker not in doc.text


def test_pre_2000_etext_format_sample(shared_data: Path, tmp_path: Path) -> None:
    doc = only_doc(list(source(tmp_path).read(shared_data / SAMPLES / "nwsnw10.txt")))
    assert doc.id == "gutenberg/nwsnw10"  # another edition of #3261: its own id
    assert doc.meta["ebook"] == 3261 and doc.meta["header_format"] == "etext"
    assert doc.text.startswith("NEWS FROM NOWHERE")
    assert "CHAPTER I:  DISCUSSION AND BED" in doc.text
    for marker in ("SMALL PRINT", "End of Project Gutenberg Etext", "Michael Hart",
                   "This etext was produced", "*START*"):
        assert marker not in doc.text


def test_both_editions_hold_the_same_book(shared_data: Path, tmp_path: Path) -> None:
    src = source(tmp_path)
    modern = only_doc(list(src.read(shared_data / SAMPLES / "3261.txt"))).text
    old = only_doc(list(src.read(shared_data / SAMPLES / "nwsnw10.txt"))).text
    assert abs(len(modern) - len(old)) / len(modern) < 0.03
    assert modern.split()[-8:] == old.split()[-8:]


def test_ids_and_text_are_stable(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / SAMPLES / "3261.txt"
    first = only_doc(list(source(tmp_path).read(path)))
    second = only_doc(list(source(tmp_path / "other").read(path)))
    assert (first.id, first.text) == (second.id, second.text)


@pytest.mark.parametrize("text, fmt, body", [
    ("head\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\nBody.\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***\nlicence",
     "modern", "Body.\n"),
    ("head\n***START OF THE PROJECT GUTENBERG EBOOK X***\n\nProduced by Someone\n\nBody.\n",
     "modern", "Body.\n"),
    ("small print\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\nBody.\n"
     "End of the Project Gutenberg Etext of X\n", "etext", "Body.\n"),
    ("Already stripped PG-19 text.\n", "none", "Already stripped PG-19 text.\n"),
    ("Body.\nEnd of Project Gutenberg's Etext of X\n", "etext", "Body.\n"),
])
def test_strip_headers_table(text: str, fmt: str, body: str) -> None:
    assert strip_headers(text) == (body, fmt)


@pytest.mark.parametrize("name, key", [("pg3261.txt", "3261"), ("3261.txt", "3261"),
                                       ("3261-0.txt", "3261"), ("nwsnw10.txt", "nwsnw10")])
def test_ebook_key(name: str, key: str) -> None:
    assert ebook_key(Path(name)) == key


def test_invalid_utf8_in_an_ascii_book_is_dropped(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / SAMPLES / "3261.txt").read_bytes()
    broken = tmp_path / "3261.txt"
    broken.write_bytes(data[:5000] + b"\xff\xfe\xc3" + data[5000:])
    items = list(source(tmp_path).read(broken))
    assert len(items) == 1 and isinstance(items[0], Dropped)
    assert items[0].reason == "invalid_utf8" and items[0].doc.id == "gutenberg/3261"


def test_declared_latin1_book_is_decoded(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / SAMPLES / "3261.txt").read_bytes()
    data = data.replace(b"ISO-646-US (US-ASCII)", b"ISO-8859-1").replace(b"Cirencester", b"Cirenc\xe9ster")
    path = tmp_path / "3261.txt"
    path.write_bytes(data)
    doc = only_doc(list(source(tmp_path).read(path)))
    assert "Cirenc\u00e9ster and Burford" in doc.text


def test_truncated_book_and_too_short(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / SAMPLES / "3261.txt").read_bytes()
    cut = tmp_path / "pg1.txt"
    cut.write_bytes(data[: len(data) // 2])  # footer lost: the book is kept up to the cut
    doc = only_doc(list(source(tmp_path).read(cut)))
    assert doc.id == "gutenberg/1" and "START OF" not in doc.text
    tiny = tmp_path / "pg2.txt"
    tiny.write_bytes(data[:1400])
    items = list(source(tmp_path).read(tiny))
    assert isinstance(items[0], Dropped) and items[0].reason == "too_short"


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        list(source(tmp_path).read(tmp_path / "nope.txt"))


def test_listing_ebooks_and_pg19_pages(tmp_path: Path) -> None:
    files = source(tmp_path, ebooks=[3261, 84]).list_files()
    assert [f.url for f in files] == ["https://www.gutenberg.org/cache/epub/3261/pg3261.txt",
                                      "https://www.gutenberg.org/cache/epub/84/pg84.txt"]
    src = source(tmp_path)
    first = src.list_files()
    assert len(first) == 1 and "deepmind-gutenberg" in first[0].url and "prefix=train" in first[0].url
    page = tmp_path / "gutenberg" / first[0].name
    page.parent.mkdir(parents=True)
    page.write_text(json.dumps({"items": [{"name": "train/10.txt", "size": "123"},
                                          {"name": "train/", "size": "0"}],
                                "nextPageToken": "tok"}))
    second = src.list_files()
    assert [f.name for f in second][1] == "train/10.txt" and second[1].size == 123
    assert "pageToken=tok" in second[2].url and len(second) == 3
    (tmp_path / "gutenberg" / "train").mkdir()
    (tmp_path / "gutenberg" / "train" / "10.txt").write_text("x")
    assert [p.name for p in src.inputs()] == ["10.txt"]


@pytest.mark.parametrize("options, field", [
    ({"split": "dev"}, "split"), ({"ebooks": ["84"]}, "ebooks"), ({"ebooks": [0]}, "ebooks"),
    ({"colour": 1}, "colour"),
])
def test_bad_options_name_the_field(tmp_path: Path, options: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"sources\.gutenberg\.options\.{field}"):
        source(tmp_path, **options)


def test_pickle_round_trip(shared_data: Path, tmp_path: Path) -> None:
    src = pickle.loads(pickle.dumps(source(tmp_path, min_chars=10)))
    assert src.options["min_chars"] == 10
    assert only_doc(list(src.read(shared_data / SAMPLES / "3261.txt"))).id == "gutenberg/3261"
