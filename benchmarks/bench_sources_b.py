"""Extraction throughput of the part B sources (issue 3), in MB of raw input per second
on one core, on the real samples of ``shared/data/samples`` repeated to >= 20 MB.

Each source's input is built in a temporary folder in its native upstream shape (a
record-gzipped WARC of many records -- the two real WARC samples plus one page of real
book prose with navigation, since jusText keeps nothing of the samples' stub pages -- a PubmedArticleSet, a PMC OA package, a weekly USPTO
file, an arXiv bulk tar, book files, session files, daily logs), then read with the
source's own `read` in this process (one core). "MB" is the input as `read` sees it
(uncompressed XML/text; for gzipped WARC and tar packages, the bytes on disk).

Each source is also timed against a named baseline over the same input, the floor or
the plain library call the source builds on, and the ratio (source / baseline
throughput) is printed:

- commoncrawl: warcio iterating the records and reading every payload (no extraction);
- pubmed / pmc: ``xml.etree.ElementTree.iterparse`` over the same XML (no conversion);
- uspto: ``lxml.etree.fromstring`` of each split document (no section extraction);
- arxiv: pylatexenc's default ``LatexNodes2Text().latex_to_text`` of each paper's main
  file (no include resolution, no custom rules);
- gutenberg / ubuntu_irc: reading and decoding the files;
- europarl: one regex removing every tag.

Run: ``.venv/bin/python benchmarks/bench_sources_b.py [--mb 20] [--only arxiv,uspto]``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import re
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

from pile.config import SourceConfig
from pile.document import Document
from pile.sources import make_source

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("PILE_SHARED_DATA", REPO.parent / "shared" / "data")) / "samples"


def _tar(members: dict[str, bytes], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _copies(unit: int, target: int) -> int:
    return max(1, -(-target // unit))


# -- inputs in native shape ----------------------------------------------------------------

def _book_page_record() -> bytes:
    """One WARC response record whose HTML page holds real prose (paragraphs of the
    Gutenberg sample) plus navigation, so jusText has main text to keep."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    text = (SAMPLES / "gutenberg/3261.txt").read_text("ascii").replace("\r\n", "\n")
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if len(p) > 300][5:25]
    nav = "".join(f'<li><a href="/{w}">{w}</a></li>' for w in ("Home", "About", "Contact"))
    html = (f"<html><head><title>News from Nowhere</title></head><body><ul>{nav}</ul>"
            + "".join(f"<p>{p}</p>" for p in paragraphs) + "</body></html>").encode()
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record("http://example.org/book", "response",
                                                  payload=io.BytesIO(html), http_headers=http))
    return buf.getvalue()


def build_commoncrawl(tmp: Path, target: int) -> tuple[list[Path], int]:
    unit = (SAMPLES / "commoncrawl/whirlwind.warc.gz").read_bytes() + \
        (SAMPLES / "commoncrawl/warcio-example.warc.gz").read_bytes() + _book_page_record()
    path = tmp / "bench.warc.gz"
    path.write_bytes(unit * _copies(len(unit), target))
    return [path], path.stat().st_size


def build_commoncrawl_wet(tmp: Path, target: int) -> tuple[list[Path], int]:
    unit = (SAMPLES / "commoncrawl/whirlwind.warc.wet.gz").read_bytes()
    path = tmp / "bench.warc.wet.gz"
    path.write_bytes(unit * _copies(len(unit), target))
    return [path], path.stat().st_size


def build_pubmed(tmp: Path, target: int) -> tuple[list[Path], int]:
    data = (SAMPLES / "pubmed/pubmed-29768149.xml").read_text("utf-8")
    start, end = data.index("<PubmedArticle>"), data.index("</PubmedArticle>") + 16
    article = data[start:end]
    n = _copies(len(article.encode()), target)
    body = "".join(article.replace(">29768149<", f">{i + 1}<", 1) for i in range(n))
    path = tmp / "pubmed25n0001.xml"
    path.write_text(data[:start] + body + data[end:], "utf-8")
    return [path], path.stat().st_size


def build_pmc(tmp: Path, target: int) -> tuple[list[Path], int]:
    articles = [p.read_bytes() for p in sorted((SAMPLES / "pmc").glob("*.nxml"))]
    n = _copies(sum(map(len, articles)), target)
    members = {f"PMC000xxxxxx/{i}_{j}.xml": a for i in range(n) for j, a in enumerate(articles)}
    path = tmp / "oa_comm_xml.PMC000xxxxxx.baseline.tar"
    path.write_bytes(_tar(members, "w"))
    return [path], path.stat().st_size


def build_uspto(tmp: Path, target: int) -> tuple[list[Path], int]:
    unit = b"".join(p.read_bytes() for p in sorted((SAMPLES / "uspto").glob("*.xml")))
    path = tmp / "ipg160607.xml"
    path.write_bytes(unit * _copies(len(unit), target))
    return [path], path.stat().st_size


def build_arxiv(tmp: Path, target: int) -> tuple[list[Path], int]:
    tree = {p.name: p.read_bytes() for p in sorted((SAMPLES / "arxiv/scipy-1.0").iterdir())
            if p.suffix == ".tex"}
    paper = gzip.compress(_tar(tree, "w"))
    n = _copies(sum(map(len, tree.values())), target)
    path = tmp / "arXiv_src_1907_001.tar"
    path.write_bytes(_tar({f"1907/1907.{i:05d}.gz": paper for i in range(n)}, "w"))
    return [path], n * sum(map(len, tree.values()))  # MB of LaTeX source


def _files(tmp: Path, sample: Path, target: int, name: Callable[[int], str]) -> tuple[list[Path], int]:
    data = sample.read_bytes()
    paths = []
    for i in range(_copies(len(data), target)):
        path = tmp / name(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths, len(data) * len(paths)


def build_gutenberg(tmp: Path, target: int) -> tuple[list[Path], int]:
    return _files(tmp, SAMPLES / "gutenberg/3261.txt", target, lambda i: f"pg{i}.txt")


def build_europarl(tmp: Path, target: int) -> tuple[list[Path], int]:
    return _files(tmp, SAMPLES / "europarl/en/ep-00-01-17.txt", target,
                  lambda i: f"txt/en/ep-{i // 365 % 100:02d}-{i // 28 % 12 + 1:02d}-{i % 28 + 1:02d}-{i}.txt")


def build_irc(tmp: Path, target: int) -> tuple[list[Path], int]:
    import datetime as dt

    start = dt.date(2004, 7, 5)
    return _files(tmp, SAMPLES / "ubuntu_irc/2025-11-26_ubuntu.txt", target,
                  lambda i: f"{start + dt.timedelta(days=i)}_ubuntu.txt")


# -- baselines -----------------------------------------------------------------------------

def base_warcio(paths: list[Path]) -> int:
    from warcio.archiveiterator import ArchiveIterator

    n = 0
    for path in paths:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                record.content_stream().read()
                n += 1
    return n


def base_iterparse(tag: str) -> Callable[[list[Path]], int]:
    def run(paths: list[Path]) -> int:
        n = 0
        for path in paths:
            if path.suffix == ".tar":
                with tarfile.open(path) as tar:
                    for member in tar:
                        if member.isfile():
                            for _, el in ET.iterparse(tar.extractfile(member)):
                                n += el.tag == tag
            else:
                for _, el in ET.iterparse(path):
                    if el.tag == tag:
                        n += 1
                        el.clear()
        return n
    return run


def base_lxml_docs(paths: list[Path]) -> int:
    from lxml import etree

    from pile.sources.uspto import prepare_xml, split_documents

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    n = 0
    for path in paths:
        with open(path, "rb") as fh:
            for doc in split_documents(fh):
                etree.fromstring(prepare_xml(doc), parser=parser)
                n += 1
    return n


def base_pylatexenc(paths: list[Path]) -> int:
    from pylatexenc.latex2text import LatexNodes2Text

    n = 0
    with tarfile.open(paths[0]) as bulk:
        for member in bulk:
            inner = gzip.decompress(bulk.extractfile(member).read())
            with tarfile.open(fileobj=io.BytesIO(inner)) as tar:
                LatexNodes2Text().latex_to_text(tar.extractfile("paper.tex").read().decode())
                n += 1
    return n


def base_decode(paths: list[Path]) -> int:
    for path in paths:
        path.read_bytes().decode("utf-8")
    return len(paths)


def base_tag_regex(paths: list[Path]) -> int:
    tag = re.compile(r"<[^>]+>")
    for path in paths:
        tag.sub("", path.read_text("utf-8"))
    return len(paths)


# -- the run -------------------------------------------------------------------------------

CASES = [
    # name, kind, options, builder, baseline name, baseline
    ("commoncrawl (jusText)", "commoncrawl", {}, build_commoncrawl, "warcio read", base_warcio),
    ("commoncrawl (trafilatura)", "commoncrawl", {"extractor": "trafilatura"}, build_commoncrawl,
     "warcio read", base_warcio),
    ("commoncrawl (WET)", "commoncrawl", {}, build_commoncrawl_wet, "warcio read", base_warcio),
    ("pubmed_abstracts", "pubmed_abstracts", {}, build_pubmed, "ET.iterparse", base_iterparse("PubmedArticle")),
    ("pubmed_central", "pubmed_central", {}, build_pmc, "ET.iterparse", base_iterparse("article")),
    ("uspto", "uspto", {}, build_uspto, "lxml parse", base_lxml_docs),
    ("arxiv", "arxiv", {"ids": ["x"]}, build_arxiv, "pylatexenc default", base_pylatexenc),
    ("gutenberg", "gutenberg", {}, build_gutenberg, "read+decode", base_decode),
    ("europarl", "europarl", {}, build_europarl, "tag regex", base_tag_regex),
    ("ubuntu_irc", "ubuntu_irc", {}, build_irc, "read+decode", base_decode),
]


def run_case(name: str, kind: str, options: dict, build, base_name: str, base, target: int,
             **cfg) -> None:
    """Time `read` over the built input against the baseline (``cfg``: more SourceConfig
    fields; a callable value is called with the input paths, for ``paths``)."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        paths, nbytes = build(tmp, target)
        extra = {k: (v(paths) if callable(v) else v) for k, v in cfg.items()}
        src = make_source(SourceConfig(name=kind, kind=kind, options=options, **extra), tmp / "raw")
        start = time.process_time()
        docs = dropped = 0
        for path in paths:
            for item in src.read(path):
                if isinstance(item, Document):
                    docs += 1
                else:
                    dropped += 1
        seconds = time.process_time() - start
        base_start = time.process_time()
        base(paths)
        base_seconds = time.process_time() - base_start
    mb = nbytes / 1e6
    rate, base_rate = mb / seconds, mb / base_seconds
    print(f"{name:27s} {mb:7.1f} MB {seconds:7.2f} s {rate:8.2f} MB/s/core  docs {docs:6d} "
          f"dropped {dropped:5d} | {base_name:18s} {base_rate:8.2f} MB/s  ratio {rate / base_rate:6.3f}",
          flush=True)


def run_cases(title: str, cases: list[tuple], argv: list[str] | None = None) -> None:
    """Parse ``--mb`` / ``--only`` and run the cases (a 7th tuple item: SourceConfig fields)."""
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--mb", type=float, default=20.0, help="input size per source (MB)")
    parser.add_argument("--only", default="", help="comma-separated case names (prefix match)")
    args = parser.parse_args(argv)
    wanted = [w for w in args.only.split(",") if w]
    print(f"{title}, >= {args.mb:.0f} MB per source, CPU time of one process")
    for name, kind, options, build, base_name, base, *cfg in cases:
        if wanted and not any(name.startswith(w) for w in wanted):
            continue
        run_case(name, kind, options, build, base_name, base, target=int(args.mb * 1e6),
                 **(cfg[0] if cfg else {}))


def main() -> None:
    run_cases("part B source extraction", CASES)


if __name__ == "__main__":
    main()
