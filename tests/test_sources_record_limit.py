"""The second-wave kinds bound what they hold by ``run.max_record_bytes`` (carried on each
source's config), not by module constants: with a small limit, the same real inputs that
pass under the default are dropped (or their file refused) with the limit's reason."""

from __future__ import annotations

import bz2
import csv
import io
import zipfile
from pathlib import Path

import pytest

from pile.config import SourceConfig, parse_config
from pile.document import Document
from pile.errors import SourceError
from pile.sources import make_source

LIMIT = 4096  # bytes; the real records below are larger


def make(tmp_path: Path, kind: str, limit: int | None, **kwargs):
    return make_source(SourceConfig(name=kind, kind=kind, max_record_bytes=limit, **kwargs),
                       tmp_path / "raw")


def reasons(items) -> list[str]:
    return ["doc" if isinstance(i, Document) else i.reason for i in items]


def test_the_run_setting_reaches_every_source(tmp_path: Path) -> None:
    cfg = parse_config({"out": str(tmp_path / "out"), "run": {"max_record_bytes": LIMIT},
                        "sources": [{"name": "law", "kind": "freelaw"},
                                    {"name": "nih", "kind": "nih_exporter",
                                     "max_record_bytes": 2 * LIMIT}]})
    law, nih = (make_source(s, tmp_path) for s in cfg.sources)
    assert (law.max_record_bytes, nih.max_record_bytes) == (LIMIT, 2 * LIMIT)


def test_freelaw_and_nih_rows_over_the_limit_are_dropped(shared_data: Path, tmp_path: Path) -> None:
    text = (shared_data / "samples/pmc/pone.0046493.nxml").read_text("utf-8")[:3 * LIMIT]
    buf = io.StringIO()
    buf.write("id,plain_text,cluster_id\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["1", text[:LIMIT // 2], "7"])
    writer.writerow(["2", text, "7"])
    dump = tmp_path / "opinions-2023-06-30.csv.bz2"
    dump.write_bytes(bz2.compress(buf.getvalue().encode()))
    assert reasons(make(tmp_path, "freelaw", None).read(dump)) == ["doc", "doc"]
    assert reasons(make(tmp_path, "freelaw", LIMIT).read(dump)) == ["doc", "too_large"]

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows([("APPLICATION_ID", "ABSTRACT_TEXT"), ("1", text[:LIMIT // 2]), ("2", text)])
    path = tmp_path / "RePORTER_PRJABS_C_FY2019.csv"
    path.write_text(buf.getvalue())
    options = {"first_year": 2019, "last_year": 2019}
    assert reasons(make(tmp_path, "nih_exporter", None, options=options).read(path)) == ["doc", "doc"]
    assert reasons(make(tmp_path, "nih_exporter", LIMIT, options=options).read(path)) == [
        "doc", "too_large"]


def test_subtitles_pages_and_captions_follow_the_limit(shared_data: Path, tmp_path: Path) -> None:
    member = (shared_data / "samples/opensubtitles/opus_v2018_raw_en_3991985.xml").read_bytes()
    opus = tmp_path / "en.zip"
    with zipfile.ZipFile(opus, "w") as zf:
        zf.writestr("OpenSubtitles/raw/en/2009/1234567/3991985.xml", member)
    assert reasons(make(tmp_path, "opensubtitles", None).read(opus)) == ["doc"]
    assert reasons(make(tmp_path, "opensubtitles", LIMIT).read(opus)) == ["too_large"]

    srv3 = tmp_path / "caps" / "sc3-z_2aNX0.en.srv3"
    srv3.parent.mkdir()
    srv3.write_bytes((shared_data / "samples/youtube_subtitles/sc3-z_2aNX0.srv3.xml").read_bytes())
    assert srv3.stat().st_size > LIMIT
    ok = make(tmp_path, "youtube_subtitles", None, paths=(str(srv3.parent),))
    assert reasons(i for p in ok.inputs() for i in ok.read(p)) == ["doc"]
    small = make(tmp_path, "youtube_subtitles", LIMIT, paths=(str(srv3.parent),))
    with pytest.raises(SourceError, match="max_record_bytes"):
        [i for p in small.inputs() for i in small.read(p)]


def test_book_members_over_the_limit_are_left_out_and_counted(shared_data: Path,
                                                              tmp_path: Path) -> None:
    epub = shared_data / "samples/books/pg84-frankenstein.epub"
    [whole] = make(tmp_path, "books", None, paths=(str(epub),)).read(epub)
    [cut] = make(tmp_path, "books", 32 * 1024, paths=(str(epub),)).read(epub)
    with zipfile.ZipFile(epub) as zf:
        big = sum(1 for i in zf.infolist() if i.filename.endswith(".html") and i.file_size > 32 * 1024)
    assert big > 0 and cut.meta["skipped_items"]["too_large"] == big
    assert len(cut.text) < len(whole.text)
