"""The bad-input suite of the second-wave kinds (opensubtitles, youtube_subtitles, github,
openwebtext2, books): next to a real good input, garbage, empty and truncated variants
(derived in tmp_path) each fail alone with a SourceError naming the file, and the good
file still gives all its documents."""

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
