"""The bad-input corpus (issue 11): hostile or damaged upstream files cost one file.

Every case is derived at test time from the real samples in ../shared/data: a source
reads one or more good files and one bad variant (truncated, corrupted, empty, badly
encoded, an entity bomb, a path-traversal archive, a decompression bomb...) through
`pile.phases.work.read_source_unit`, the reader a build runs, and `pile.stats.PhaseAccounting`,
the accounting a build keeps. Each case asserts three things:

1. the bad file is named with a reason: in ``files_failed`` (the file failed), or as a
   drop of its record with the expected reason (the file went on), or -- for a file
   name that is not UTF-8 -- its documents carry a valid, escaped id;
2. every good document of the same source is present, with its text;
3. ``documents_read == kept + dropped``.

Records larger than 1 MiB (``max_record_bytes`` of these sources) are too large here,
so a bomb of a few MiB proves the rule; `test_memory_bombs.py` runs the 1 GiB ones.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import re
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import zstandard

from pile.config import SourceConfig
from pile.document import Document
from pile.executor import Unit
from pile.phases.work import read_source_unit
from pile.sources import make_source
from pile.sources.base import Source
from pile.stats import PhaseAccounting, PhaseStats, UnitStats

LIMIT = 1 << 20  # the sources' max_record_bytes in this module
BOMB = 8 << 20   # a bomb expands to this (8 x the limit), from a few KB on disk
S = "samples"


# -- the harness -------------------------------------------------------------------------


@dataclass
class Outcome:
    stats: PhaseStats
    kept: dict[str, Document]
    kept_ids: list[str]
    drops: list[tuple[str, str]]


def read_through(src: Source, files: list[Path]) -> Outcome:
    """What a build's read phase makes of `files`: the reader a clean unit runs, and the
    accounting the driver merges its record into."""
    stats = UnitStats(src.name)
    kept: dict[str, Document] = {}
    kept_ids: list[str] = []
    drops: list[tuple[str, str]] = []
    unit = Unit(src.name, 0, tuple(str(f) for f in files))
    for batch in read_source_unit(src, unit, stats, 64, drops):
        for doc in batch:
            stats.kept(doc.nbytes)
            kept.setdefault(doc.id, doc)
            kept_ids.append(doc.id)
    acc = PhaseAccounting(["read"])
    acc.add(stats)
    return Outcome(acc.finish(), kept, kept_ids, drops)


@dataclass
class Case:
    kind: str
    goods: list[Path]
    bad: Path
    expect: str          # "failed", "dropped" or "escaped"
    pattern: str         # regex: the failure reason, the drop reason, or the escaped id
    options: dict | None = None


CASES: dict[str, Callable[[Path, Path], Case]] = {}


def case(name: str):
    def register(fn: Callable[[Path, Path], Case]) -> Callable[[Path, Path], Case]:
        assert name not in CASES
        CASES[name] = fn
        return fn
    return register


def _source(c: Case, root: Path) -> Source:
    cfg = SourceConfig(name=c.kind, kind=c.kind, paths=(str(root),), options=c.options or {},
                       max_record_bytes=LIMIT)
    return make_source(cfg, root.parent / "raw")


# -- deriving the inputs -------------------------------------------------------------------


def _truncate(data: bytes, at: float = 0.6) -> bytes:
    return data[: int(len(data) * at)]


def _corrupt(data: bytes, at: float = 0.5, n: int = 64) -> bytes:
    i = int(len(data) * at)
    return data[:i] + bytes(b ^ 0xFF for b in data[i:i + n]) + data[i + n:]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _tar(members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.GNU_FORMAT) as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return buf.getvalue()


def _link(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def _zip(members: list[tuple[str, bytes] | zipfile.ZipInfo | tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for m in members:
            zf.writestr(m[0], m[1])
    return buf.getvalue()


def _zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def _seven_zip(members: list[tuple[str, bytes]], tmp: Path) -> bytes:
    import py7zr

    out = tmp.parent / f"pack{len(list(tmp.parent.glob('pack*')))}.7z"
    with py7zr.SevenZipFile(out, "w") as szf:
        for name, data in members:
            # py7zr refuses to write '..' or absolute names; hostile archives have them.
            szf._writestr(data, name)
    data = out.read_bytes()
    out.unlink()
    return data


def _with_doctype(xml: bytes, subset: bytes, use: bytes | None = None, at: bytes | None = None) -> bytes:
    """`xml` with its DOCTYPE replaced by one carrying the internal `subset` (and the
    entity reference `use` placed before the first `at`)."""
    xml = re.sub(rb"<!DOCTYPE[^>\[]*(\[.*?\])?\s*>", b"", xml, count=1, flags=re.DOTALL)
    decl = re.match(rb"(\xef\xbb\xbf)?<\?xml[^>]*\?>", xml)
    cut = decl.end() if decl else 0
    xml = xml[:cut] + b"\n<!DOCTYPE root [" + subset + b"]>" + xml[cut:]
    if use is not None and at is not None:
        i = xml.index(at)
        xml = xml[:i] + use + xml[i:]
    return xml


LAUGHS = (b'<!ENTITY a "aaaaaaaaaaaaaaaa">' + b"".join(
    b'<!ENTITY %c "%s">' % (ord("a") + k, (b"&%c;" % (ord("a") + k - 1)) * 16) for k in range(1, 9)))
EXTERNAL = b'<!ENTITY xxe SYSTEM "file:///etc/passwd">'


def _jsonl(shared: Path, n: int = 20) -> bytes:
    """Documents from a real text: one JSON line per 1,000 characters of Botchan."""
    text = (shared / "text/botchan.txt").read_text("utf-8")[5000:]
    paras = [text[i * 1000:(i + 1) * 1000] for i in range(n)]
    return b"".join(json.dumps({"text": p, "meta": {"n": i}}).encode() + b"\n" for i, p in enumerate(paras))


def _zst(data: bytes) -> bytes:
    # With frame checksums, as the Pile's own files (and pile's writer) have them:
    # without one, damage that still decodes cannot be told from data.
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


def _huge_line(shared: Path) -> bytes:
    lines = _jsonl(shared, 6).splitlines(keepends=True)
    big = json.dumps({"text": "x" * (BOMB // 4)}).encode() + b"\n"
    return b"".join(lines[:3]) + big + b"".join(lines[3:])


def _files_goods(shared: Path, root: Path) -> list[Path]:
    return [_write(root / "good.jsonl.zst", _zst(_jsonl(shared))),
            _write(root / "good.txt", (shared / "text/tinyshakespeare.txt").read_bytes()[:20000])]


# .zst and .gz: kind files


@case("invalid_utf8_content")
def _(shared, root):
    lines = _jsonl(shared, 5).splitlines(keepends=True)
    lines[2] = lines[2].replace(b"the", b"th\xff\xfee", 1)
    return Case("files", _files_goods(shared, root), _write(root / "bad.jsonl", b"".join(lines)),
                "dropped", "invalid_utf8")


@case("lone_surrogate_in_json")
def _(shared, root):
    lines = _jsonl(shared, 5).splitlines(keepends=True)
    lines[1] = lines[1].replace(b"the", b"th\\udce9e", 1)
    return Case("files", _files_goods(shared, root), _write(root / "bad.jsonl", b"".join(lines)),
                "dropped", "invalid_utf8")


@case("invalid_utf8_file_name")
def _(shared, root):
    bad = root / os.fsdecode(b"caf\xe9-\xff.jsonl")
    return Case("files", _files_goods(shared, root), _write(bad, _jsonl(shared, 3)), "escaped",
                r"^files/caf%E9-%FF\.jsonl:\d+$")


@case("utf16_text")
def _(shared, root):
    text = (shared / "text/tinyshakespeare.txt").read_text("utf-8")[:5000]
    return Case("files", _files_goods(shared, root), _write(root / "bad.txt", text.encode("utf-16")),
                "dropped", "invalid_utf8")


@case("binary_with_text_extension")
def _(shared, root):
    pdf = (shared / S / "philpapers/1706.03762.pdf").read_bytes()[:200_000]
    return Case("files", _files_goods(shared, root), _write(root / "paper.txt", pdf), "dropped", "invalid_utf8")


@case("binary_with_jsonl_extension")
def _(shared, root):
    epub = (shared / S / "books/pg84-frankenstein.epub").read_bytes()[:100_000]
    return Case("files", _files_goods(shared, root), _write(root / "book.jsonl", epub),
                "dropped", "invalid_utf8|bad_json")


@case("huge_line_jsonl")
def _(shared, root):
    return Case("files", _files_goods(shared, root), _write(root / "big.jsonl", _huge_line(shared)),
                "dropped", "too_large")


@case("huge_line_jsonl_gz")
def _(shared, root):
    return Case("files", _files_goods(shared, root),
                _write(root / "big.jsonl.gz", gzip.compress(_huge_line(shared))), "dropped", "too_large")


@case("zst_bomb")
def _(shared, root):
    # A line of BOMB zero bytes (no newline): a few hundred bytes on disk.
    return Case("files", _files_goods(shared, root),
                _write(root / "bomb.jsonl.zst", _zst(_jsonl(shared, 2) + bytes(BOMB))), "dropped", "too_large")


@case("gz_bomb")
def _(shared, root):
    return Case("files", _files_goods(shared, root),
                _write(root / "bomb.jsonl.gz", gzip.compress(bytes(BOMB) + b"\n" + _jsonl(shared, 2))),
                "dropped", "too_large")


@case("text_file_too_large")
def _(shared, root):
    text = (shared / "text/tinyshakespeare.txt").read_bytes()
    return Case("files", _files_goods(shared, root), _write(root / "big.txt", text * (2 * LIMIT // len(text) + 1)),
                "dropped", "too_large")


@case("lmd_tar_traversal")
def _(shared, root):
    return Case("files", _files_goods(shared, root),
                _write(root / "lmd.tar.gz", _tar([("ok.txt", _jsonl(shared, 1)), ("../../evil.txt", b"pwned")])),
                "failed", r"'\.\.' component")


@case("lmd_zip_absolute")
def _(shared, root):
    return Case("files", _files_goods(shared, root),
                _write(root / "lmd.zip", _zip([("/etc/evil.txt", b"pwned")])), "failed", "absolute path")


@case("lmd_tar_symlink_out")
def _(shared, root):
    return Case("files", _files_goods(shared, root),
                _write(root / "lmd.tar.gz", _tar([_link("docs/passwd.txt", "../../../etc/passwd")])),
                "failed", "symlink.*outside")


@case("lmd_tar_hardlink_out")
def _(shared, root):
    return Case("files", _files_goods(shared, root),
                _write(root / "lmd.tar.gz", _tar([_link("docs/passwd.txt", "../../etc/passwd", hard=True)])),
                "failed", "hard link.*outside")


@case("lmd_zip_bomb")
def _(shared, root):
    return Case("files", _files_goods(shared, root),
                _write(root / "lmd.zip", _zip([("zeros.txt", bytes(BOMB)), ("ok.txt", b"a real line")])),
                "dropped", "too_large")


# .tar.gz: Europarl


def _europarl_goods(shared: Path, root: Path) -> list[Path]:
    return [_write(root / "good.tgz", _tar([("txt/en/ep-00-01-17.txt",
                                              (shared / S / "europarl/en/ep-00-01-17.txt").read_bytes())]))]


def _europarl_other(shared: Path) -> bytes:
    return (shared / S / "europarl/en/ep-00-02-03.txt").read_bytes()


@case("tgz_traversal")
def _(shared, root):
    return Case("europarl", _europarl_goods(shared, root),
                _write(root / "bad.tgz", _tar([("txt/en/../../../ep-00-02-03.txt", _europarl_other(shared))])),
                "failed", r"'\.\.' component")


@case("tgz_absolute")
def _(shared, root):
    return Case("europarl", _europarl_goods(shared, root),
                _write(root / "bad.tgz", _tar([("/txt/en/ep-00-02-03.txt", _europarl_other(shared))])),
                "failed", "absolute path")


@case("tgz_symlink_out")
def _(shared, root):
    return Case("europarl", _europarl_goods(shared, root),
                _write(root / "bad.tgz", _tar([_link("txt/en/ep-00-02-03.txt", "/etc/passwd")])),
                "failed", "symlink")


@case("tgz_hardlink_out")
def _(shared, root):
    return Case("europarl", _europarl_goods(shared, root),
                _write(root / "bad.tgz", _tar([_link("txt/en/ep-00-02-03.txt", "../../etc/passwd", hard=True)])),
                "failed", "hard link")


@case("tgz_bomb")
def _(shared, root):
    return Case("europarl", _europarl_goods(shared, root),
                _write(root / "bomb.tgz", _tar([("txt/en/ep-00-09-99.txt", bytes(BOMB))])), "dropped", "too_large")


# .bz2: Wikipedia


def _wiki_xml(shared: Path) -> bytes:
    return bz2.decompress((shared / S / "wikipedia/enwiki-table-markup.xml.bz2").read_bytes())


def _wiki_goods(shared: Path, root: Path) -> list[Path]:
    return [_write(root / "good.xml.bz2", (shared / S / "wikipedia/enwiki-table-markup.xml.bz2").read_bytes())]


def _wiki_other(shared: Path) -> bytes:
    return (shared / S / "wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2").read_bytes()


@case("wikipedia_entity_bomb")
def _(shared, root):
    xml = _with_doctype(_wiki_xml(shared), LAUGHS, b"&i;", b"</text>")
    return Case("wikipedia", _wiki_goods(shared, root), _write(root / "bomb.xml.bz2", bz2.compress(xml)),
                "failed", "entity declaration")


@case("wikipedia_external_entity")
def _(shared, root):
    xml = _with_doctype(_wiki_xml(shared), EXTERNAL, b"&xxe;", b"</text>")
    return Case("wikipedia", _wiki_goods(shared, root), _write(root / "xxe.xml.bz2", bz2.compress(xml)),
                "failed", "external XML entity")


@case("bz2_bomb")
def _(shared, root):
    xml = _wiki_xml(shared)
    i = xml.index(b"</text>")
    xml = xml[:i] + b"a" * (BOMB // 2) + xml[i:]
    return Case("wikipedia", _wiki_goods(shared, root), _write(root / "bomb.xml.bz2", bz2.compress(xml)),
                "failed", "too_large")


# .xz: PubMed


def _pubmed_xml(shared: Path) -> bytes:
    return (shared / S / "pubmed/pubmed-29768149.xml").read_bytes()


def _pubmed_goods(shared: Path, root: Path) -> list[Path]:
    return [_write(root / "good.xml", _pubmed_xml(shared))]


def _pubmed_set(shared: Path, copies: int = 40) -> bytes:
    """A baseline-like file: the sample article repeated (with distinct PMIDs)."""
    xml = _pubmed_xml(shared)
    start, end = xml.index(b"<PubmedArticle>"), xml.rindex(b"</PubmedArticle>") + len(b"</PubmedArticle>")
    article = xml[start:end]
    body = b"".join(article.replace(b"29768149", str(90000000 + i).encode()) for i in range(copies))
    return xml[:start] + body + xml[end:]


@case("pubmed_entity_bomb")
def _(shared, root):
    xml = _with_doctype(_pubmed_set(shared, 2), LAUGHS, b"&i;", b"</AbstractText>")
    return Case("pubmed_abstracts", _pubmed_goods(shared, root), _write(root / "bomb.xml.gz", gzip.compress(xml)),
                "failed", "entity declaration")


@case("pubmed_external_entity")
def _(shared, root):
    xml = _with_doctype(_pubmed_set(shared, 2), EXTERNAL, b"&xxe;", b"</AbstractText>")
    return Case("pubmed_abstracts", _pubmed_goods(shared, root), _write(root / "xxe.xml", xml),
                "failed", "external XML entity")


@case("xz_bomb")
def _(shared, root):
    xml = _pubmed_set(shared, 2)
    i = xml.index(b"</AbstractText>")
    xml = xml[:i] + b"a" * BOMB + xml[i:]
    return Case("pubmed_abstracts", _pubmed_goods(shared, root), _write(root / "bomb.xml.xz", lzma.compress(xml)),
                "failed", "too_large")


# PMC (.tar.gz packages of JATS)


def _pmc_goods(shared: Path, root: Path) -> list[Path]:
    return [_write(root / "good.tar.gz", _tar([("PMC001/pone.0046493.nxml",
                                                 (shared / S / "pmc/pone.0046493.nxml").read_bytes())]))]


@case("pmc_entity_bomb")
def _(shared, root):
    xml = _with_doctype((shared / S / "pmc/ehp-116-1694.nxml").read_bytes(), LAUGHS, b"&i;", b"</p>")
    return Case("pubmed_central", _pmc_goods(shared, root), _write(root / "bomb.nxml", xml), "failed", "entity declaration")


@case("pmc_external_entity")
def _(shared, root):
    xml = _with_doctype((shared / S / "pmc/ehp-116-1694.nxml").read_bytes(), EXTERNAL, b"&xxe;", b"</p>")
    return Case("pubmed_central", _pmc_goods(shared, root),
                _write(root / "xxe.tar.gz", _tar([("PMC002/ehp.nxml", xml)])), "failed", "external XML entity")


@case("pmc_tar_traversal")
def _(shared, root):
    nxml = (shared / S / "pmc/ehp-116-1694.nxml").read_bytes()
    return Case("pubmed_central", _pmc_goods(shared, root),
                _write(root / "bad.tar.gz", _tar([("../../ehp.nxml", nxml)])), "failed", r"'\.\.' component")


# .7z: Stack Exchange


def _posts(shared: Path, rows: int = 150) -> bytes:
    """The head of the real Posts.xml (whole rows), closed again."""
    xml = (shared / S / "stackexchange/cstheory.meta.stackexchange.com/Posts.xml").read_bytes()
    cut = 0
    for _ in range(rows):
        cut = xml.index(b"\n", xml.index(b"<row ", cut)) + 1
    return xml[:cut] + b"</posts>\n"


def _se_goods(shared: Path, root: Path) -> list[Path]:
    return [_write(root / "cstheory.meta.stackexchange.com.7z", _seven_zip([("Posts.xml", _posts(shared))], root))]


def _se_other(shared: Path, root: Path) -> bytes:
    return _seven_zip([("Posts.xml", _posts(shared, 600))], root)


@case("7z_traversal")
def _(shared, root):
    return Case("stackexchange", _se_goods(shared, root),
                _write(root / "other.stackexchange.com.7z", _seven_zip([("../Posts.xml", _posts(shared, 5))], root)),
                "failed", r"'\.\.' component")


@case("7z_absolute")
def _(shared, root):
    return Case("stackexchange", _se_goods(shared, root),
                _write(root / "other.stackexchange.com.7z", _seven_zip([("/tmp/Posts.xml", _posts(shared, 5))], root)),
                "failed", "absolute path")


@case("stackexchange_entity_bomb")
def _(shared, root):
    xml = _with_doctype(_posts(shared, 20), LAUGHS)
    return Case("stackexchange", _se_goods(shared, root),
                _write(root / "other.stackexchange.com.7z", _seven_zip([("Posts.xml", xml)], root)),
                "failed", "entity declaration")


@case("stackexchange_external_entity")
def _(shared, root):
    xml = _with_doctype(_posts(shared, 20), EXTERNAL)
    return Case("stackexchange", _se_goods(shared, root),
                _write(root / "other.stackexchange.com.7z", _seven_zip([("Posts.xml", xml)], root)),
                "failed", "external XML entity")


@case("7z_bomb")
def _(shared, root):
    xml = _posts(shared, 20)
    i = xml.index(b'" />', xml.index(b"<row "))
    xml = xml[:i] + b"a" * BOMB + xml[i:]
    return Case("stackexchange", _se_goods(shared, root),
                _write(root / "other.stackexchange.com.7z", _seven_zip([("Posts.xml", xml)], root)),
                "failed", "too_large")


# .zip: USPTO


def _uspto_goods(shared: Path, root: Path) -> list[Path]:
    return [_write(root / "ipg160607.zip", _zip([("ipg160607.xml",
                                                   (shared / S / "uspto/US09358892-20160607-grant-v4.5.xml").read_bytes())]))]


def _uspto_other(shared: Path) -> bytes:
    return (shared / S / "uspto/US20220159901A1-application-v4.5.xml").read_bytes()


@case("zip_traversal")
def _(shared, root):
    return Case("uspto", _uspto_goods(shared, root),
                _write(root / "ipa220526.zip", _zip([("../../ipa220526.xml", _uspto_other(shared))])),
                "failed", r"'\.\.' component")


@case("zip_absolute")
def _(shared, root):
    return Case("uspto", _uspto_goods(shared, root),
                _write(root / "ipa220526.zip", _zip([("/ipa220526.xml", _uspto_other(shared))])),
                "failed", "absolute path")


@case("zip_symlink_out")
def _(shared, root):
    return Case("uspto", _uspto_goods(shared, root),
                _write(root / "ipa220526.zip", _zip([_zip_symlink("ipa220526.xml", "../../../etc/passwd")])),
                "failed", "symlink.*outside")


@case("uspto_entity_bomb")
def _(shared, root):
    xml = _with_doctype(_uspto_other(shared), LAUGHS, b"&i;", b"</p>")
    return Case("uspto", _uspto_goods(shared, root), _write(root / "ipa220526.zip", _zip([("ipa.xml", xml)])),
                "dropped", "xml_entity_refused")


@case("uspto_external_entity")
def _(shared, root):
    xml = _with_doctype(_uspto_other(shared), EXTERNAL, b"&xxe;", b"</p>")
    return Case("uspto", _uspto_goods(shared, root), _write(root / "ipa220526.zip", _zip([("ipa.xml", xml)])),
                "dropped", "xml_entity_refused")


@case("zip_bomb")
def _(shared, root):
    return Case("uspto", _uspto_goods(shared, root),
                _write(root / "ipa220526.zip", _zip([("ipa220526.xml", bytes(BOMB))])), "dropped", "too_large")


# WARC, plain and gzip: Common Crawl (the WET sample is the good file)


def _cc_goods(shared: Path, root: Path) -> list[Path]:
    return [_write(root / "good.warc.wet.gz", (shared / S / "commoncrawl/whirlwind.warc.wet.gz").read_bytes())]


def _warc_gz(shared: Path) -> bytes:
    return (shared / S / "commoncrawl/whirlwind.warc.gz").read_bytes()


def _warc_plain(shared: Path) -> bytes:
    return gzip.decompress(_warc_gz(shared))


@case("warc_plain_truncated_in_response")
def _(shared, root):
    data = _warc_plain(shared)
    cut = data.index(b"<html") + 20_000  # inside the page's HTML
    return Case("commoncrawl", _cc_goods(shared, root), _write(root / "cut.warc", data[:cut]),
                "failed", "truncated.*Content-Length")


@case("warc_plain_corrupted")
def _(shared, root):
    data = bytearray(_warc_plain(shared))
    i = data.index(b"WARC/1.0", 100)  # the second record's version line
    data[i:i + 8] = b"\x00\xff\xfe\x00garb"
    return Case("commoncrawl", _cc_goods(shared, root), _write(root / "bad.warc", bytes(data)), "failed", "WARC")


@case("warc_plain_empty")
def _(shared, root):
    return Case("commoncrawl", _cc_goods(shared, root), _write(root / "empty.warc", b""), "failed", "empty file")


@case("warc_gz_bomb")
def _(shared, root):
    # The real response record, its HTML padded by BOMB spaces (Content-Length kept right).
    data = _warc_plain(shared)
    start = data.index(b"WARC/1.0\r\nWARC-Type: response")
    end = data.index(b"WARC/1.0\r\n", start + 10)
    record = data[start:end]
    head, body = record.split(b"\r\n\r\n", 1)
    body = body.rstrip(b"\r\n")
    body = body.replace(b"</body>", b" " * BOMB + b"</body>", 1)
    length = re.search(rb"Content-Length: (\d+)", head)
    head = head[:length.start(1)] + str(len(body)).encode() + head[length.end(1):]
    return Case("commoncrawl", _cc_goods(shared, root),
                _write(root / "bomb.warc.gz", gzip.compress(head + b"\r\n\r\n" + body + b"\r\n\r\n")),
                "dropped", "too_large")


# Enron (mbox) and arXiv (e-print .gz)


def _enron_goods(shared: Path, root: Path) -> list[Path]:
    return [_write(root / "lay-k.family.mbox", (shared / S / "enron/enron.lay-k.family.mbox").read_bytes())]


@case("mbox_huge_message")
def _(shared, root):
    mbox = (shared / S / "enron/enron.beck-s.dpr.mbox").read_bytes()
    second = mbox.index(b"\nFrom ", 10) + 1
    i = mbox.index(b"\n\n", second) + 2
    huge = mbox[:i] + (b"filler line of an attachment\n" * (2 * LIMIT // 29)) + mbox[i:]
    return Case("enron", _enron_goods(shared, root), _write(root / "beck-s.dpr.mbox.gz", gzip.compress(huge)),
                "dropped", "too_large")


def _arxiv_goods(shared: Path, root: Path) -> list[Path]:
    folder = shared / S / "arxiv/scipy-1.0"
    return [_write(root / "1907.10121.tar.gz", _tar([(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]))]


@case("arxiv_eprint_gzip_bomb")
def _(shared, root):
    return Case("arxiv", _arxiv_goods(shared, root), _write(root / "1907.99999.gz", gzip.compress(bytes(BOMB))),
                "dropped", "too_large")


@case("arxiv_tar_traversal")
def _(shared, root):
    tex = (shared / S / "arxiv/scipy-1.0/paper.tex").read_bytes()
    return Case("arxiv", _arxiv_goods(shared, root),
                _write(root / "1907.88888.tar.gz", _tar([("paper.tex", tex), ("../../../x.tex", tex)])),
                "failed", r"'\.\.' component")


# -- truncated, corrupted and empty: one table for every container ------------------------


def _containers(name: str, kind: str, goods: Callable[[Path, Path], list[Path]], file: str,
                payload: Callable[[Path, Path], bytes], truncated: str, corrupted: str) -> None:
    """Register ``<name>_truncated``, ``_corrupted`` and ``_empty``: `payload` (a real
    sample in the container) cut at 60 %, with 64 bytes flipped at 50 %, and 0 bytes; each
    must fail with a reason matching its pattern."""
    for variant, damage, pattern in (("truncated", _truncate, truncated), ("corrupted", _corrupt, corrupted),
                                     ("empty", lambda data: b"", "empty file")):
        def build(shared: Path, root: Path, damage=damage, pattern=pattern) -> Case:
            return Case(kind, goods(shared, root), _write(root / file, damage(payload(shared, root))),
                        "failed", pattern)
        case(f"{name}_{variant}")(build)


_containers("zst", "files", _files_goods, "bad.jsonl.zst", lambda d, r: _zst(_jsonl(d, 200)),
            "damaged|truncat", "damaged|corrupt")
_containers("gz", "files", _files_goods, "bad.jsonl.gz", lambda d, r: gzip.compress(_jsonl(d, 200)),
            "damaged", "damaged")
_containers("tgz", "europarl", _europarl_goods, "bad.tgz",
            lambda d, r: _tar([("txt/en/ep-00-02-03.txt", _europarl_other(d))]), "truncat|unexpected end|damaged", "CRC")
_containers("bz2", "wikipedia", _wiki_goods, "bad.xml.bz2", lambda d, r: _wiki_other(d),
            "truncat|end", "invalid|corrupt|malformed")
_containers("xz", "pubmed_abstracts", _pubmed_goods, "bad.xml.xz", lambda d, r: lzma.compress(_pubmed_set(d)),
            "truncat|end", "corrupt")
_containers("7z", "stackexchange", _se_goods, "other.stackexchange.com.7z", _se_other, "7z", "corrupt")
_containers("zip", "uspto", _uspto_goods, "ipa220526.zip",
            lambda d, r: _zip([("ipa220526.xml", _uspto_other(d))]), "zip", "decompressing|CRC|zip")
_containers("warc_gz", "commoncrawl", _cc_goods, "bad.warc.gz", lambda d, r: _warc_gz(d),
            "truncat", "corrupt|incorrect")


def test_the_corpus_covers_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_costs_one_file(name: str, shared_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    c = CASES[name](shared_data, root)
    src = _source(c, root)
    good = read_through(src, c.goods)
    assert good.kept and not good.stats.files_failed, "the good files alone must read cleanly"
    out = read_through(src, [*c.goods, c.bad])
    bad_key = src.key_for(c.bad)

    # 1. the bad file is named, with a reason
    failed = {f["file"]: f["reason"] for f in out.stats.files_failed}
    if c.expect == "failed":
        assert bad_key in failed, f"{name}: not failed; drops={out.drops[-3:]}"
        assert re.search(c.pattern, failed[bad_key], re.IGNORECASE), failed[bad_key]
    elif c.expect == "dropped":
        assert not failed, failed
        new_drops = [d for d in out.drops if d not in good.drops]
        assert any(re.fullmatch(c.pattern, reason) for _id, reason in new_drops), new_drops
    else:  # escaped: the file's documents are read with valid, percent-escaped ids
        assert not failed, failed
        escaped = [i for i in out.kept if re.search(c.pattern, i)]
        assert escaped, sorted(out.kept)
        for i in escaped:
            i.encode("utf-8")  # valid UTF-8: every writer can encode it
    assert set(failed) <= {bad_key}, "a good file failed too"

    # 2. every good document is present, with its text
    for doc_id, doc in good.kept.items():
        assert doc_id in out.kept, f"{name}: good document {doc_id} lost"
        assert out.kept[doc_id].text == doc.text

    # 3. documents read == kept + dropped
    read = out.stats.stages["read"]
    assert out.stats.documents_in == len(out.kept_ids) + len(out.drops)
    assert out.stats.documents_in == read.documents_out + sum(read.dropped.values())


# -- a few through a real build (local executor, in-process) ------------------------------


def _build(tmp_path: Path, root: Path) -> dict:
    import yaml

    from pile.cli import main

    cfg = {"out": str(tmp_path / "out"),
           "sources": [{"name": "files", "kind": "files", "paths": [str(root)], "max_record_bytes": LIMIT}],
           "clean": {"languages": [], "quality": False}, "dedup": {"enabled": False},
           "pii": {"enabled": False}, "run": {"executor": "local", "progress": False}}
    (tmp_path / "pile.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["build", "--config", str(tmp_path / "pile.yaml")]) == 0
    return json.loads((tmp_path / "out/stats.json").read_text())


def test_a_real_build_fails_only_the_bad_files(shared_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    goods = _files_goods(shared_data, root)
    _write(root / "cut.jsonl.gz", _truncate(gzip.compress(_jsonl(shared_data, 200))))
    _write(root / "lmd.tar.gz", _tar([("../../evil.txt", b"pwned")]))
    _write(root / "big.jsonl.gz", gzip.compress(_huge_line(shared_data)))
    _write(root / "empty.jsonl.zst", b"")
    stats = _build(tmp_path, root)
    clean = stats["sources"]["files"]["phases"]["clean"]
    failed = {f["file"]: f["reason"] for f in clean["files_failed"]}
    assert sorted(failed) == ["cut.jsonl.gz", "empty.jsonl.zst", "lmd.tar.gz"]
    assert "damaged" in failed["cut.jsonl.gz"] and "'..' component" in failed["lmd.tar.gz"]
    assert "empty file" in failed["empty.jsonl.zst"]
    read = clean["stages"]["read"]
    assert read["dropped"] == {"too_large": 1}
    src = _source(Case("files", goods, goods[0], "", ""), root)
    good_ids = set(read_through(src, goods).kept)
    written = {json.loads(line)["meta"]["id"] for f in sorted((tmp_path / "out/docs/files").glob("*.jsonl.zst"))
               for line in zstandard.ZstdDecompressor().stream_reader(open(f, "rb")).read().splitlines()}
    assert good_ids <= written
    summary = stats["sources"]["files"]["summary"]
    assert summary["documents_read"] == summary["documents_kept"] + sum(summary["dropped"].values())


def test_a_real_build_reads_a_file_name_that_is_not_utf8(shared_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    _files_goods(shared_data, root)
    _write(root / os.fsdecode(b"caf\xe9-\xff.jsonl"), _jsonl(shared_data, 3))
    stats = _build(tmp_path, root)
    clean = stats["sources"]["files"]["phases"]["clean"]
    assert clean["files_failed"] == []
    written = {json.loads(line)["meta"]["id"] for f in sorted((tmp_path / "out/docs/files").glob("*.jsonl.zst"))
               for line in zstandard.ZstdDecompressor().stream_reader(open(f, "rb")).read().splitlines()}
    assert {"files/caf%E9-%FF.jsonl:1", "files/caf%E9-%FF.jsonl:2", "files/caf%E9-%FF.jsonl:3"} <= written
