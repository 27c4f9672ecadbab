"""The second-wave kinds together (opensubtitles, youtube_subtitles, github, openwebtext2,
books): their bad-input suite -- next to a real good input, garbage, empty and truncated
variants (derived in tmp_path) each fail alone with a SourceError naming the file, and the
good file still gives all its documents -- and their `pile sources` rows."""

from __future__ import annotations

import io
import lzma
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Callable

import pytest

from pile.config import SourceConfig
from pile.errors import SourceError
from pile.sources import make_source


def _opus_zip(shared: Path, dest: Path) -> None:
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr("OpenSubtitles/raw/en/1933/24184/3991985.xml",
                    (shared / "samples/opensubtitles/opus_v2018_raw_en_3991985.xml").read_bytes())


def _codeload(shared: Path, dest: Path) -> None:
    root = shared / "samples/github/webvtt-py"
    with tarfile.open(dest, "w:gz") as tf:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                data = p.read_bytes()
                info = tarfile.TarInfo(f"webvtt-py-main/{p.relative_to(root).as_posix()}")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))


def _copy(rel: str) -> Callable[[Path, Path], None]:
    return lambda shared, dest: shutil.copyfile(shared / rel, dest)


def _zst_dump(shared: Path, dest: Path) -> None:
    import zstandard

    data = lzma.open(shared / "samples/openwebtext2/RS_v2_2005-06.xz").read()
    dest.write_bytes(zstandard.ZstdCompressor().compress(data))


CASES = {
    # kind: (file suffix, build a good file, options, accept_terms, a cut file is damaged)
    "opensubtitles": (".zip", _opus_zip, {}, False, True),
    # WebVTT is plain text: a file cut between cues is a shorter, valid file
    "youtube_subtitles": (".en.vtt", _copy("samples/youtube_subtitles/youtube_dl.vtt"), {}, False,
                          False),
    "github": (".tar.gz", _codeload, {}, False, True),
    "openwebtext2": (".zst", _zst_dump, {}, True, True),
    "books": (".epub", _copy("samples/books/pg84-frankenstein.epub"), {}, False, True),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_bad_file_fails_alone(kind: str, shared_data: Path, tmp_path: Path) -> None:
    suffix, build, options, terms, cut_is_damaged = CASES[kind]
    folder = tmp_path / "in"
    folder.mkdir()
    good = folder / f"good{suffix}"
    build(shared_data, good)
    data = good.read_bytes()
    bad = {f"garbage{suffix}": bytes(range(256)) * 64, f"empty{suffix}": b""}
    if cut_is_damaged:
        bad[f"cut{suffix}"] = data[: len(data) // 2]
    for name, payload in bad.items():
        (folder / name).write_bytes(payload)
    src = make_source(SourceConfig(name=kind, kind=kind, options=options, accept_terms=terms,
                                   paths=tuple(str(folder / n) for n in [f"good{suffix}", *bad])),
                      tmp_path / "raw")
    alone = make_source(SourceConfig(name=kind, kind=kind, options=options, accept_terms=terms,
                                     paths=(str(good),)), tmp_path / "raw")
    expected = [getattr(o, "id", None) or o.doc.id for o in alone.read(good)]
    assert expected
    for name in bad:
        path = folder / name
        # a file fails with its name, or (a subtitle zip member, a caption track) is
        # counted as dropped with a reason; it never yields a document
        try:
            out = list(src.read(path))
        except SourceError as exc:
            assert name in str(exc)
            continue
        assert out and all(hasattr(o, "reason") for o in out), (name, out)
    again = [getattr(o, "id", None) or o.doc.id for o in src.read(good)]
    assert again == expected


def test_pile_sources_names_upstream_licence_and_terms(shared_data: Path, tmp_path: Path) -> None:
    """`pile sources` rows of the five kinds: the upstream and licence of each, the terms
    OpenWebText2's crawl must accept, and why the book components cannot be fetched."""
    import json
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    samples = shared_data / "samples"
    cfg = tmp_path / "pile.yaml"
    cfg.write_text(
        f"out: {tmp_path / 'out'}\nsources:\n"
        "  - {name: opensubtitles, kind: opensubtitles}\n"
        f"  - {{name: youtube, kind: youtube_subtitles, paths: [{samples / 'youtube_subtitles'}]}}\n"
        "  - {name: github, kind: github, options: {repos: [glut23/webvtt-py]}}\n"
        f"  - {{name: owt2, kind: openwebtext2, paths: [{samples / 'openwebtext2'}]}}\n"
        f"  - {{name: books3, kind: books, paths: [{samples / 'books'}]}}\n")
    proc = subprocess.run([sys.executable, "-m", "pile", "sources", "--config", str(cfg), "--json"],
                          capture_output=True, text=True, cwd=repo, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["opensubtitles"]["upstream"].startswith("object.pouta.csc.fi/OPUS-OpenSubtitles")
    assert rows["opensubtitles"]["pile_set_name"] == "OpenSubtitles"
    assert "nothing is downloaded from YouTube" in rows["youtube"]["upstream"]
    assert rows["youtube"]["status"] == "3 local file(s)"  # three videos
    assert "lost" in rows["github"]["upstream"] and "SPDX" in rows["github"]["license"]
    assert "robots.txt" in rows["owt2"]["terms"] and rows["owt2"]["terms"].endswith("[not accepted]")
    assert "taken down" in rows["books3"]["license"] and "Smashwords" in rows["books3"]["license"]
    assert {r["pile_set_name"] for r in rows.values()} == {
        "OpenSubtitles", "YouTube Subtitles", "Github", "OpenWebText2", "Books3"}
