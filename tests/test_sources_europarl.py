"""Europarl source: markup reduction on the real session files, the release tarball
layout (built in tmp_path from the samples), unsafe members, bad input."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.europarl import EuroparlSource, clean_session
from pile.stage import Dropped

SAMPLES = "samples/europarl/en"
FILES = ("ep-00-01-17.txt", "ep-00-02-03.txt")


def source(tmp_path: Path, **options) -> EuroparlSource:
    return make_source(SourceConfig(name="europarl", kind="europarl", options=options), tmp_path)


@pytest.mark.parametrize("name", FILES)
def test_real_session_files(shared_data: Path, tmp_path: Path, name: str) -> None:
    items = list(source(tmp_path).read(shared_data / SAMPLES / name))
    assert len(items) == 1 and isinstance(items[0], Document)
    doc = items[0]
    assert doc.id == f"europarl/en/{name[:-4]}"
    assert doc.meta["pile_set_name"] == "EuroParl" and doc.meta["language"] == "en"
    assert "<SPEAKER" not in doc.text and "<P>" not in doc.text and "<CHAPTER" not in doc.text
    assert "NAME=" not in doc.text and "\n\n\n" not in doc.text
    assert "President: " in doc.text


def test_speaker_tags_become_names(shared_data: Path, tmp_path: Path) -> None:
    doc = next(iter(source(tmp_path).read(shared_data / SAMPLES / "ep-00-01-17.txt")))
    assert doc.text.startswith("Resumption of the session\n\nPresident: I declare resumed the session")
    assert "\n\nEvans, Robert J: Madam President, on a point of order." in doc.text
    # the name and its speech stay together even when the source breaks the line there
    assert "\n\nMacCormick: Madam President, on a point of order." in doc.text
    assert "(The House rose and observed a minute' s silence)" in doc.text


@pytest.mark.parametrize("raw, text", [
    ('<SPEAKER ID=1 NAME="Smith">\nHello.', "Smith: Hello.\n"),
    ('<SPEAKER ID=2 LANGUAGE="IT" NAME="Segni">Ciao.<P>Again.', "Segni: Ciao.\n\nAgain.\n"),
    ("<SPEAKER ID=3>No name.", "No name.\n"),
    ('<CHAPTER ID=4>\nTitle\n<SPEAKER ID=5 NAME="A &amp; B">x', "Title\n\nA & B: x\n"),
    ("Plain <UNKNOWN attr=1>text</UNKNOWN>.", "Plain text.\n"),
])
def test_clean_session_table(raw: str, text: str) -> None:
    assert clean_session(raw) == text


def _tgz(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "europarl.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_release_tarball_layout_and_language_filter(shared_data: Path, tmp_path: Path) -> None:
    en = (shared_data / SAMPLES / FILES[0]).read_bytes()
    path = _tgz(tmp_path, {"txt/en/ep-00-01-17.txt": en, "txt/de/ep-00-01-17.txt": en,
                           "txt/en/ep-00-01-18-01.txt": b"<CHAPTER ID=1>\nShort.",
                           "README": b"not a session"})
    items = list(source(tmp_path).read(path))
    ids = [(type(i).__name__, i.id if isinstance(i, Document) else i.doc.id) for i in items]
    assert ids == [("Document", "europarl/en/ep-00-01-17"), ("Document", "europarl/de/ep-00-01-17"),
                   ("Dropped", "europarl/en/ep-00-01-18-01")]
    assert items[2].reason == "too_short"
    only_de = list(source(tmp_path, languages=["de"]).read(path))
    assert [d.id for d in only_de] == ["europarl/de/ep-00-01-17"]


def test_unsafe_member_is_refused(tmp_path: Path) -> None:
    path = _tgz(tmp_path, {"../txt/en/ep-00-01-17.txt": b"<P>x"})
    with pytest.raises(SourceError, match=r"\.\."):
        list(source(tmp_path).read(path))


def test_truncated_tarball_fails_the_file(shared_data: Path, tmp_path: Path) -> None:
    en = (shared_data / SAMPLES / FILES[0]).read_bytes()
    path = _tgz(tmp_path, {"txt/en/ep-00-01-17.txt": en, "txt/en/ep-00-02-03.txt":
                           (shared_data / SAMPLES / FILES[1]).read_bytes()})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SourceError):
        list(source(tmp_path).read(path))


def test_invalid_utf8_is_dropped_with_reason(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / SAMPLES / FILES[0]).read_bytes()
    folder = tmp_path / "txt" / "fr"
    folder.mkdir(parents=True)
    (folder / "ep-00-01-17.txt").write_bytes(data[:1000] + b"\xc3\x28" + data[1000:])
    items = list(source(tmp_path).read(folder / "ep-00-01-17.txt"))
    assert isinstance(items[0], Dropped) and items[0].reason == "invalid_utf8"
    assert items[0].doc.id == "europarl/fr/ep-00-01-17"


def test_listing_and_options(tmp_path: Path) -> None:
    files = source(tmp_path).list_files()
    assert [(f.url, f.name) for f in files] == [("https://www.statmt.org/europarl/v7/europarl.tgz",
                                                 "europarl.tgz")]
    with pytest.raises(ConfigError, match=r"options\.languages"):
        source(tmp_path, languages=["xx"])
    with pytest.raises(ConfigError, match=r"options\.min_chars"):
        source(tmp_path, min_chars=-1)


def test_pickle_round_trip(shared_data: Path, tmp_path: Path) -> None:
    src = pickle.loads(pickle.dumps(source(tmp_path, min_chars=5)))
    assert [d.id for d in src.read(shared_data / SAMPLES / FILES[1])] == ["europarl/en/ep-00-02-03"]


def test_member_over_the_record_limit_is_dropped_unread(shared_data: Path, tmp_path: Path) -> None:
    """Issue 11, defect 3: an oversized member is skipped while streaming, with its size."""
    session = (shared_data / SAMPLES / FILES[0]).read_bytes()
    path = _tgz(tmp_path, {"txt/en/ep-00-09-99.txt": bytes(3 << 20), f"txt/en/{FILES[0]}": session})
    src = make_source(SourceConfig(name="europarl", kind="europarl", max_record_bytes=1 << 20), tmp_path)
    drop, doc = list(src.read(path))
    assert isinstance(drop, Dropped) and drop.reason == "too_large"
    assert drop.doc.id == "europarl/en/ep-00-09-99" and drop.doc.meta["record_bytes"] == 3 << 20
    assert isinstance(doc, Document) and doc.id == "europarl/en/ep-00-01-17"


def test_run_record_limit_reaches_every_source(tmp_path: Path) -> None:
    from pile.config import parse_config

    cfg = parse_config({"sources": [{"name": "europarl", "kind": "europarl"},
                                    {"name": "own", "kind": "europarl", "max_record_bytes": 4096}],
                        "run": {"max_record_bytes": 2048}})
    assert [make_source(s, tmp_path).max_record_bytes for s in cfg.sources] == [2048, 4096]
    with pytest.raises(ConfigError, match="run.max_record_bytes"):
        parse_config({"sources": [{"name": "e", "kind": "europarl"}], "run": {"max_record_bytes": 0}})
