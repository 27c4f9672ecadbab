"""Archive and XML safety: escaping members, entity bombs, truncated inputs.

Every hostile or broken input is derived at test time, in tmp_path, from the shared
samples (or built from a few bytes), never edited in place.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import py7zr
import pytest
import zstandard

from pile.errors import SourceError
from pile.sources.archive import (CountingReader, archive_format, archive_spans,
                                  check_member_name, iter_archive, safe_extract, sniff)
from pile.sources.xmlsafe import iterparse, open_compressed

WIKI = "samples/wikipedia/enwiki-table-markup.xml.bz2"
POSTS = "samples/stackexchange/cstheory.meta.stackexchange.com/Posts.xml"


# -- hostile archives ------------------------------------------------------------------


def _tar(path: Path, members: list[tuple[str, str, str | bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, kind, arg in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = arg if isinstance(arg, bytes) else arg.encode()
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = str(arg)
                tf.addfile(info)
    return path


def _zip(path: Path, members: list[tuple[str, str, str | bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, kind, arg in members:
            info = zipfile.ZipInfo(name)
            if kind == "symlink":
                info.external_attr = 0o120777 << 16
            zf.writestr(info, arg)
    return path


def _sevenzip(path: Path, members: list[tuple[str, str, str | bytes]]) -> Path:
    # py7zr stores a link only when its target exists, so links are made two levels
    # deep in a scratch folder and their (relative) targets created inside it.
    work = path.parent / (path.name + ".src") / "a" / "b"
    work.mkdir(parents=True)
    with py7zr.SevenZipFile(path, "w") as sz:
        for i, (name, kind, arg) in enumerate(members):
            src = work / f"m{i}"
            if kind == "symlink":
                os.symlink(str(arg), src)
                if not src.exists():
                    src.resolve().parent.mkdir(parents=True, exist_ok=True)
                    src.resolve().write_text("link target")
            else:
                src.write_bytes(arg if isinstance(arg, bytes) else arg.encode())
            sz.write(src, name)
    return path


BUILDERS: dict[str, Callable[[Path, list], Path]] = {
    "tar.gz": _tar, "zip": _zip, "7z": _sevenzip,
    "tar": partial(_tar, mode="w"), "tar.bz2": partial(_tar, mode="w:bz2"),
    "tar.xz": partial(_tar, mode="w:xz"),
}

HOSTILE = [
    # (archive kinds, members, words the error must contain)
    (["tar.gz", "zip", "tar"], [("/etc/evil", "file", "x")], "absolute path"),
    (["tar.gz", "zip"], [("C:\\evil.txt", "file", "x")], "absolute path"),
    (["tar.gz", "zip", "7z", "tar.bz2", "tar.xz"], [("ok.txt", "file", "fine"),
                                                   ("a/../../evil", "file", "x")], "'..'"),
    (["tar.gz", "zip"], [("../evil", "file", "x")], "'..'"),
    (["tar.gz", "zip", "7z"], [("link", "symlink", "../../etc/passwd")], "symlink"),
    (["tar.gz", "zip"], [("a/link", "symlink", "/etc/passwd")], "symlink"),
    (["tar.gz", "zip"], [("a/b/link", "symlink", "../../../outside")], "outside"),
    (["tar.gz"], [("hard", "hardlink", "../outside")], "hard link"),
    (["tar.gz"], [("hard", "hardlink", "/etc/passwd")], "hard link"),
]


@pytest.mark.parametrize("kinds, members, words", HOSTILE)
def test_escaping_members_are_refused(tmp_path: Path, kinds: list[str],
                                      members: list[tuple[str, str, str]], words: str) -> None:
    for kind in kinds:
        archive = BUILDERS[kind](tmp_path / f"hostile-{kind}.{kind}", members)
        with pytest.raises(SourceError, match=words) as err:
            for _name, fh in iter_archive(archive):
                fh.read()
        assert archive.name in str(err.value)
        dest = tmp_path / f"out-{kind}"
        with pytest.raises(SourceError, match=words):
            safe_extract(archive, dest)
        # Nothing was written outside the destination.
        assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil").exists()
        assert not (tmp_path / "outside").exists()


SAFE = [("a/real.txt", "file", "content"), ("a/link", "symlink", "real.txt"),
        ("b/up", "symlink", "../a/real.txt")]


@pytest.mark.parametrize("kind", ["tar.gz", "zip", "7z", "tar", "tar.bz2", "tar.xz"])
def test_links_inside_the_archive_are_fine(tmp_path: Path, kind: str) -> None:
    archive = BUILDERS[kind](tmp_path / f"safe.{kind}", SAFE)
    assert archive_format(archive) == kind.split(".")[0]
    assert [(n, f.read()) for n, f in iter_archive(archive)] == [("a/real.txt", b"content")]
    written = safe_extract(archive, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == \
        ["a/real.txt", "a/link", "b/up"]
    assert all(p.read_bytes() == b"content" and not p.is_symlink() for p in written)


def test_tar_hard_link_inside_is_copied(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "h.tgz", [("x/a.txt", "file", "abc"), ("x/b.txt", "hardlink", "x/a.txt")])
    written = safe_extract(archive, tmp_path / "out")
    assert [p.read_text() for p in written] == ["abc", "abc"]


@pytest.mark.parametrize("name, expected", [
    ("a/b.txt", "a/b.txt"), ("./a//b.txt", "a/b.txt"), ("a\\b.txt", "a/b.txt"),
])
def test_member_names_are_normalised(name: str, expected: str) -> None:
    assert check_member_name("x.tar", name) == expected


@pytest.mark.parametrize("name", ["/a", "\\a", "C:/a", "c:\\a", "..", "a/..", "a/../../b", "..\\a"])
def test_member_names_that_escape(name: str) -> None:
    with pytest.raises(SourceError, match="refused"):
        check_member_name("x.tar", name)


def test_not_an_archive_is_a_source_error(tmp_path: Path) -> None:
    plain = tmp_path / "notes.txt"
    plain.write_text("just text\n")
    with pytest.raises(SourceError, match="expected a tar, zip or 7z archive, found plain"):
        list(iter_archive(plain))
    single = tmp_path / "paper.tex.gz"
    single.write_bytes(gzip.compress(b"\\documentclass{article}\n"))
    assert archive_format(single) is None and sniff(single) == "gz"


# -- truncated inputs ------------------------------------------------------------------


def _cut(data: bytes, path: Path, fraction: float = 0.5) -> Path:
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


@pytest.mark.parametrize("suffix, compress", [
    (".bz2", None),  # the sample itself, cut
    (".gz", gzip.compress),
    (".xz", lzma.compress),
    (".zst", lambda b: zstandard.ZstdCompressor().compress(b)),
])
def test_truncated_compressed_xml_fails_with_the_reason(shared_data: Path, tmp_path: Path,
                                                        suffix: str, compress) -> None:
    original = (shared_data / WIKI).read_bytes()
    data = original if compress is None else compress(bz2.decompress(original))
    whole = tmp_path / f"whole.xml{suffix}"
    whole.write_bytes(data)
    assert sum(1 for _ in iterparse(whole, {"page"})) == 5
    cut = _cut(data, tmp_path / f"cut.xml{suffix}")
    pages = 0
    with pytest.raises(SourceError) as err:
        for _ in iterparse(cut, {"page"}):
            pages += 1
    assert str(cut) in str(err.value)
    assert "truncated" in str(err.value) or "ended" in str(err.value) or "malformed" in str(err.value)
    assert pages < 5


def test_truncated_bz2_read_raises_source_error(shared_data: Path, tmp_path: Path) -> None:
    cut = _cut((shared_data / WIKI).read_bytes(), tmp_path / "cut.bz2", 0.3)
    with open_compressed(cut) as fh, pytest.raises(SourceError, match="truncated"):
        while fh.read(1 << 16):
            pass


def test_truncated_7z_fails_with_the_reason(shared_data: Path, tmp_path: Path) -> None:
    archive = tmp_path / "site.7z"
    with py7zr.SevenZipFile(archive, "w", filters=[{"id": py7zr.FILTER_LZMA2, "preset": 1}]) as sz:
        sz.write(shared_data / POSTS, "Posts.xml")
    for fraction in (0.5, 0.97):
        cut = _cut(archive.read_bytes(), tmp_path / f"cut{fraction}.7z", fraction)
        with pytest.raises(SourceError, match="7z") as err:
            for _, fh in iter_archive(cut):
                fh.read()
        assert cut.name in str(err.value)


@pytest.mark.parametrize("make", ["zip", "tar", "tar.gz", "tar.bz2", "tar.xz"])
def test_member_ranges_give_every_member_once_in_order(shared_data: Path, tmp_path: Path,
                                                       monkeypatch, make: str) -> None:
    monkeypatch.setattr(CountingReader, "STEP", 2048)  # positions finer than the ranges
    text = (shared_data / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    # bzip2 gives output a block at a time (100 kB of text at level 1): more members
    count = 300 if make == "tar.bz2" else 60
    members = [(f"plays/{i:03d}.txt", "file", text[i * 3000:(i + 1) * 3000]) for i in range(count)]
    path = tmp_path / f"plays.{make}"
    if make == "zip":
        _zip(path, members)
    elif make == "tar.bz2":
        path.write_bytes(bz2.compress(_tar(tmp_path / "plays.tar", members, "w").read_bytes(), 1))
    else:
        _tar(path, members, "w" if make == "tar" else f"w:{make.split('.')[1]}")

    def read(span=None) -> list[tuple[str, bytes]]:
        return [(name, fh.read()) for name, fh in iter_archive(path, span)]

    whole = read()
    assert [n for n, _ in whole] == [n for n, _, _ in members]
    spans = archive_spans(path, path.stat().st_size // 5)
    assert spans is not None and len(spans) in (5, 6)
    parts = [read(span) for span in spans]
    assert [m for part in parts for m in part] == whole
    assert sum(bool(part) for part in parts) >= 4
    assert archive_spans(path, path.stat().st_size) is None


def test_a_7z_archive_is_read_whole(tmp_path: Path) -> None:
    path = _sevenzip(tmp_path / "a.7z", [("x.txt", "file", "y" * 100_000)])
    assert archive_spans(path, 10) is None
    with pytest.raises(SourceError, match="read whole"):
        list(iter_archive(path, (0, 100)))


def test_truncated_tar_gz_names_the_member(shared_data: Path, tmp_path: Path) -> None:
    archive = _tar(tmp_path / "posts.tgz", [("dump/Posts.xml", "file",
                                             (shared_data / POSTS).read_bytes())])
    cut = _cut(archive.read_bytes(), tmp_path / "cut.tgz")
    with pytest.raises(SourceError, match="truncated") as err:
        for _, fh in iter_archive(cut):
            fh.read()
    assert "dump/Posts.xml" in str(err.value)


def test_corrupt_zip_is_a_source_error(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "z.zip", [("a.txt", "file", "x" * 1000)])
    cut = _cut(archive.read_bytes(), tmp_path / "cut.zip", 0.6)
    with pytest.raises(SourceError, match="not a readable zip"):
        list(iter_archive(cut))


# -- XML attacks -----------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol9 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<posts><row Id="1" Body="&lol9;"/></posts>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE posts [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<posts><row Id="1" Body="x">&secret;</row></posts>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE posts [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<posts><row Id="1"/></posts>"""


@pytest.mark.parametrize("name, document, words", [
    ("billion_laughs", BILLION_LAUGHS, "entity declaration 'lol' refused"),
    ("external_entity", EXTERNAL_ENTITY, "external XML entity 'secret'"),
    ("parameter_entity", PARAMETER_ENTITY, "refused"),
    ("malformed", b"<posts><row Id='1'></posts>", "malformed XML at line 1"),
])
def test_hostile_xml_is_refused(tmp_path: Path, name: str, document: bytes, words: str) -> None:
    with pytest.raises(SourceError, match=words):
        list(iterparse(io.BytesIO(document), {"row"}))
    path = tmp_path / f"{name}.xml.gz"
    path.write_bytes(gzip.compress(document))
    with pytest.raises(SourceError, match=words) as err:
        list(iterparse(path, {"row"}))
    assert str(path) in str(err.value)


def test_external_dtd_is_never_fetched(tmp_path: Path) -> None:
    """A DOCTYPE naming an external DTD parses, and the DTD is never requested."""
    (tmp_path / "posts.dtd").write_text("<!ENTITY oops 'should not load'>")
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            requests.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        doc = (f'<?xml version="1.0"?><!DOCTYPE posts SYSTEM "http://127.0.0.1:{port}/posts.dtd">'
               '<posts><row Id="1"/><row Id="2"/></posts>').encode()
        assert [r.get("Id") for r in iterparse(io.BytesIO(doc), {"row"})] == ["1", "2"]
    finally:
        server.shutdown()
        server.server_close()
    assert requests == []


def test_stack_exchange_doctype_line_is_accepted(shared_data: Path) -> None:
    """``Comments.xml`` of the sample carries ``<!DOCTYPE comments SYSTEM ...>``."""
    path = shared_data / "samples/stackexchange/history.meta.stackexchange.com/Comments.xml"
    assert sum(1 for _ in iterparse(path, {"row"})) == 3454


def test_iterparse_memory_stays_bounded(shared_data: Path) -> None:
    """Handed-out elements are cleared and detached, so the tree never accumulates."""
    seen = []
    for row in iterparse(shared_data / POSTS, {"row"}):
        seen.append(row)
        assert row.get("Id")  # complete while it is the current element
    assert len(seen) == 1915
    assert all(len(r.attrib) == 0 and len(r) == 0 for r in seen[:-1])


def test_iterparse_matches_namespaced_and_nested_tags(shared_data: Path) -> None:
    pages = titles = 0
    for elem in iterparse(shared_data / WIKI, {"title", "page"}):
        if elem.tag.endswith("}page"):
            pages += 1
            # A nested match stays inside its enclosing match until that one is done.
            assert any(child.tag.endswith("}title") for child in elem)
        else:
            titles += 1
    assert pages == titles == 5


def test_open_compressed_reads_plain_and_compressed_alike(shared_data: Path, tmp_path: Path) -> None:
    raw = bz2.decompress((shared_data / WIKI).read_bytes())
    variants = {"a.xml": raw, "a.xml.gz": gzip.compress(raw), "a.xml.xz": lzma.compress(raw),
                "a.xml.zst": zstandard.ZstdCompressor().compress(raw),
                "a.xml.bz2": bz2.compress(raw[:1000]) + bz2.compress(raw[1000:])}  # multistream
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        with open_compressed(tmp_path / name) as fh:
            assert fh.read() == raw, name


def test_open_compressed_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot open"):
        open_compressed(tmp_path / "missing.xml.gz")
