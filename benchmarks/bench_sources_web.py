"""Extraction throughput of the second-wave sources (issue 12: web, media, code, books), in
MB of input per second on one core, on the real samples of ``shared/data/samples``
repeated to >= 20 MB, next to the part B figures of ``bench_sources_b.py`` (same loop,
same printout).

Each input is built in a temporary folder in its upstream's shape, then read with the
source's own `read` in this process:

- opensubtitles: an OPUS ``raw/en.zip`` (deflated) of copies of the real subtitle file;
  MB = uncompressed XML. Baseline: zipfile + ``ET.iterparse`` of every member;
- youtube_subtitles: per-video folders with the real WebVTT, srv3 and json3 files, plus
  copies of the real transcript collection; MB = file bytes. Baseline: read + decode;
- github: codeload tarballs of the real webvtt-py tree; MB = uncompressed file bytes.
  Baseline: ``tarfile`` reading every member;
- openwebtext2 (dump): a long-window ``.zst`` of the two real dumps repeated with unique
  ids and URLs, no pages on disk (the recipe: filters, grouping in SQLite, drops); MB =
  uncompressed JSON. Baseline: zstd stream + ``json.loads`` per line;
- openwebtext2 (pages): the real dump with each kept URL's page on disk (the six real
  Rust documentation pages, cycled), so `read` extracts every page with trafilatura; MB =
  HTML bytes. Baseline: ``lxml.html`` parsing each page;
- books: copies of the real Frankenstein EPUB; MB = EPUB bytes on disk (compressed).
  Baseline: zipfile + ``lxml.html`` parsing every spine document.

Run: ``.venv/bin/python benchmarks/bench_sources_web.py [--mb 20] [--only books,github]``.
"""

from __future__ import annotations

import io
import json
import lzma
import shutil
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import zstandard

from bench_sources_b import SAMPLES, _copies, _tar, run_cases


def build_opensubtitles(tmp: Path, target: int) -> tuple[list[Path], int]:
    data = (SAMPLES / "opensubtitles/opus_v2018_raw_en_3991985.xml").read_bytes()
    n = _copies(len(data), target)
    path = tmp / "en.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n):
            zf.writestr(f"OpenSubtitles/raw/en/1933/{24184 + i}/{3991985 + i}.xml", data)
    return [path], n * len(data)


def build_youtube(tmp: Path, target: int) -> tuple[list[Path], int]:
    folder = SAMPLES / "youtube_subtitles"
    unit = {"en.vtt": folder / "youtube_dl.vtt", "ja.srv3": folder / "sc3-z_2aNX0.srv3.xml",
            "ja.json3": folder / "sc3-z_2aNX0.json3.json"}
    collection = folder / "transcripts_Luis_Serrano.json"
    size = sum(p.stat().st_size for p in unit.values()) + collection.stat().st_size
    firsts, total = [], 0
    for i in range(_copies(size, target)):
        video = tmp / "captions" / f"v{i:05d}"
        video.mkdir(parents=True)
        for suffix, src in sorted(unit.items()):
            shutil.copyfile(src, video / f"vid{i:05d}.{suffix}")
        shutil.copyfile(collection, tmp / "captions" / f"collection{i:05d}.json")
        firsts += [video / f"vid{i:05d}.en.vtt", tmp / "captions" / f"collection{i:05d}.json"]
        total += size
    return firsts, total


def build_github(tmp: Path, target: int) -> tuple[list[Path], int]:
    root = SAMPLES / "github/webvtt-py"
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
             if p.is_file()}
    size = sum(map(len, files.values()))
    paths = []
    for i in range(_copies(size, target)):
        path = tmp / f"repo{i:04d}-main.tar.gz"
        path.write_bytes(_tar({f"repo{i:04d}-main/{k}": v for k, v in files.items()}, "w:gz"))
        paths.append(path)
    return paths, size * len(paths)


def _dump_lines() -> list[dict]:
    return [json.loads(line) for name in ("RS_v2_2005-06.xz", "RS_v2_2005-07.xz")
            for line in lzma.open(SAMPLES / "openwebtext2" / name)]


def build_owt2_dump(tmp: Path, target: int) -> tuple[list[Path], int]:
    posts = _dump_lines()
    raw = io.BytesIO()
    n = 0
    while raw.tell() < target:
        for post in posts:
            raw.write(json.dumps({**post, "id": f"{post['id']}_{n}",
                                  "url": f"{post['url']}{'&' if '?' in post['url'] else '?'}r={n}"}
                                 ).encode() + b"\n")
        n += 1
    path = tmp / "RS_2019-01.zst"
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=28)
    with open(path, "wb") as fh, zstandard.ZstdCompressor(compression_params=params) \
            .stream_writer(fh) as writer:
        writer.write(raw.getvalue())
    return [path], raw.tell()


def build_owt2_pages(tmp: Path, target: int) -> tuple[list[Path], int]:
    from pile.sources.openwebtext2 import kept_urls, page_name

    pages = [p.read_bytes() for p in sorted((SAMPLES / "html").glob("*.html"))]
    dump = tmp / "RS_v2_2005-07.xz"
    posts = _dump_lines()
    copies = 1 + target // 30_000_000  # one copy of the dumps keeps ~830 URLs (~32 MB of pages)
    with lzma.open(dump, "wb") as fh:
        for n in range(copies):
            for post in posts:
                fh.write(json.dumps({**post, "url": f"{post['url']}#{n}"}).encode() + b"\n")
    total = 0
    for i, url in enumerate(kept_urls(dump, 3)):
        page = tmp / "raw" / "openwebtext2" / page_name(url)
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_bytes(pages[i % len(pages)])
        total += len(pages[i % len(pages)])
        if total >= target:
            break
    return [dump], total


def build_books(tmp: Path, target: int) -> tuple[list[Path], int]:
    epub = SAMPLES / "books/pg84-frankenstein.epub"
    paths = []
    for i in range(_copies(epub.stat().st_size, target)):
        paths.append(tmp / f"book{i:03d}.epub")
        shutil.copyfile(epub, paths[-1])
    return paths, epub.stat().st_size * len(paths)


# -- baselines -----------------------------------------------------------------------------

def base_zip_iterparse(paths: list[Path]) -> int:
    n = 0
    with zipfile.ZipFile(paths[0]) as zf:
        for info in zf.infolist():
            for _, el in ET.iterparse(zf.open(info)):
                n += el.tag == "s"
    return n


def base_read_decode_all(paths: list[Path]) -> int:
    n = 0
    for first in paths:
        group = [first] if first.suffix == ".json" else sorted(first.parent.iterdir())
        for path in group:
            path.read_bytes().decode("utf-8")
            n += 1
    return n


def base_tar_read(paths: list[Path]) -> int:
    n = 0
    for path in paths:
        with tarfile.open(path) as tf:
            for member in tf:
                if member.isfile():
                    tf.extractfile(member).read()
                    n += 1
    return n


def base_zstd_json(paths: list[Path]) -> int:
    n = 0
    with open(paths[0], "rb") as fh:
        reader = zstandard.ZstdDecompressor(max_window_size=1 << 31).stream_reader(fh)
        for line in io.BufferedReader(reader):
            json.loads(line)
            n += 1
    return n


def base_lxml_pages(paths: list[Path]) -> int:
    import lxml.html

    n = 0
    for page in (paths[0].parent / "raw" / "openwebtext2" / "pages").rglob("*.html"):
        lxml.html.document_fromstring(page.read_bytes())
        n += 1
    return n


def base_epub_lxml(paths: list[Path]) -> int:
    import lxml.html

    n = 0
    for path in paths:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename.endswith(".html"):
                    lxml.html.document_fromstring(zf.read(info))
                    n += 1
    return n


def _paths(paths: list[Path]) -> tuple[str, ...]:
    return tuple(str(p) for p in paths)


CASES = [
    # name, kind, options, builder, baseline name, baseline, SourceConfig fields
    ("opensubtitles", "opensubtitles", {}, build_opensubtitles, "zip+ET.iterparse",
     base_zip_iterparse, {}),
    ("youtube_subtitles", "youtube_subtitles", {}, build_youtube, "read+decode",
     base_read_decode_all, {"paths": _paths}),
    ("github", "github", {}, build_github, "tarfile read", base_tar_read, {"paths": _paths}),
    ("openwebtext2 (dump)", "openwebtext2", {}, build_owt2_dump, "zstd+json.loads",
     base_zstd_json, {"paths": _paths}),
    ("openwebtext2 (pages)", "openwebtext2", {}, build_owt2_pages, "lxml.html parse",
     base_lxml_pages, {"paths": _paths}),
    ("books (epub)", "books", {}, build_books, "zip+lxml.html", base_epub_lxml, {"paths": _paths}),
]


def main() -> None:
    run_cases("second-wave source extraction", CASES)


if __name__ == "__main__":
    main()
