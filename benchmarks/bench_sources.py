"""Extraction throughput of the sources, on the shared samples repeated to >= 20 MB.

For every source: MB of raw input (the file as downloaded) per second on one core, and
MB of decompressed input per second where the input is compressed. Baselines measured
in the same run, on the same bytes:

- Wikipedia: mwparserfromhell's plain ``parse(text).strip_code()`` on the same pages'
  wikitext, against our ``wikitext_to_text`` (the ratio is ours / baseline throughput);
- Stack Exchange: bare ``xmlsafe.iterparse`` over the rows (the floor for any pairer);
- Enron: the standard library's ``mailbox.mbox`` + ``get_payload(decode=True)``.

Run: ``.venv/bin/python benchmarks/bench_sources.py [--mb 20] [--only wikipedia]``.
Part B's sources add their own ``bench_<name>`` function to `BENCHES`.
"""

from __future__ import annotations

import argparse
import bz2
import mailbox
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pile.config import SourceConfig  # noqa: E402
from pile.sources.enron import EnronSource  # noqa: E402
from pile.sources.stackexchange import StackExchangeSource  # noqa: E402
from pile.sources.wikipedia import WikipediaSource, wikitext_to_text  # noqa: E402
from pile.sources.xmlsafe import iterparse, local_name  # noqa: E402

SAMPLES = Path(os.environ.get("PILE_SHARED_DATA", REPO.parent / "shared" / "data")) / "samples"
MB = 1e6


def _timed(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    count = fn()
    return time.perf_counter() - start, count


def _report(name: str, raw_bytes: int, seconds: float, docs: int, extra: str = "") -> None:
    print(f"  {name:<34} {raw_bytes / MB / seconds:8.2f} MB/s/core  {docs:7d} docs  "
          f"{seconds:6.2f} s  {extra}")


def bench_wikipedia(target_mb: float, work: Path) -> None:
    xml = bz2.decompress((SAMPLES / "wikipedia" /
                          "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
                          ).read_bytes())
    head_end = xml.index(b"<page>")
    tail_start = xml.rindex(b"</mediawiki>")
    pages = xml[head_end:tail_start]
    reps = max(1, int(target_mb * MB / len(pages)) + 1)
    big = xml[:head_end] + pages * reps + xml[tail_start:]
    path = work / "enwiki-bench.xml.bz2"
    path.write_bytes(bz2.compress(big, 9))
    raw = path.stat().st_size
    print(f"wikipedia: {raw / MB:.1f} MB bz2 ({len(big) / MB:.1f} MB XML, sample x{reps})")

    source = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia"), work)
    seconds, docs = _timed(lambda: sum(1 for _ in source.read(path)))
    _report("source.read (bz2 -> documents)", raw, seconds, docs,
            f"({len(big) / MB / seconds:.2f} MB/s of XML)")

    # The wikitext of the article pages, as both renderers see it.
    texts = []
    for page in iterparse(path, {"page"}):
        fields = {local_name(c): c for c in page}
        if fields["ns"].text != "0" or "redirect" in fields:
            continue
        for child in fields["revision"]:
            if local_name(child) == "text" and child.text:
                texts.append(child.text)
    chars = sum(len(t.encode("utf-8")) for t in texts)
    import mwparserfromhell

    base_s, _ = _timed(lambda: sum(len(mwparserfromhell.parse(t).strip_code()) for t in texts))
    ours_s, _ = _timed(lambda: sum(len(wikitext_to_text(t)) for t in texts))
    _report("baseline mwparserfromhell strip_code", chars, base_s, len(texts), "(wikitext MB)")
    _report("wikitext_v1 renderer", chars, ours_s, len(texts), "(wikitext MB)")
    print(f"  ratio wikitext_v1 / strip_code throughput: {base_s / ours_s:.2f}x")


def bench_stackexchange(target_mb: float, work: Path) -> None:
    import py7zr

    posts = (SAMPLES / "stackexchange" / "cstheory.meta.stackexchange.com" / "Posts.xml").read_bytes()
    rows = posts[posts.index(b"<row"):posts.rindex(b"</posts>")]
    reps = max(1, int(target_mb * MB / len(rows)) + 1)
    id_re = re.compile(rb'(?<![A-Za-z])((?:Id|ParentId|AcceptedAnswerId)=")(\d+)(")')
    blocks = []
    for rep in range(reps):  # shift ids so every copy is its own set of questions
        offset = rep * 1_000_000
        blocks.append(id_re.sub(lambda m: m.group(1) + str(int(m.group(2)) + offset).encode()
                                + m.group(3), rows))
    big = b'<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + b"".join(blocks) + b"</posts>\n"
    site = work / "bench.stackexchange.com"
    site.mkdir()
    xml_path = site / "Posts.xml"
    xml_path.write_bytes(big)
    sz_path = work / "bench.stackexchange.com.7z"
    with py7zr.SevenZipFile(sz_path, "w") as sz:
        sz.write(xml_path, "Posts.xml")
    print(f"stackexchange: {sz_path.stat().st_size / MB:.1f} MB 7z ({len(big) / MB:.1f} MB XML, "
          f"sample x{reps})")
    source = StackExchangeSource(SourceConfig(name="stackexchange", kind="stackexchange"), work)
    seconds, docs = _timed(lambda: sum(1 for _ in source.read(sz_path)))
    _report("source.read (.7z -> documents)", sz_path.stat().st_size, seconds, docs,
            f"({len(big) / MB / seconds:.2f} MB/s of XML)")
    seconds, docs = _timed(lambda: sum(1 for _ in source.read(xml_path)))
    _report("source.read (Posts.xml -> documents)", len(big), seconds, docs)
    seconds, n = _timed(lambda: sum(1 for _ in iterparse(xml_path, {"row"})))
    _report("baseline iterparse rows only", len(big), seconds, n, "(rows)")


def bench_enron(target_mb: float, work: Path) -> None:
    boxes = sorted((SAMPLES / "enron").glob("*.mbox"))
    data = b"".join(p.read_bytes() for p in boxes)
    reps = max(1, int(target_mb * MB / len(data)) + 1)
    path = work / "enron-bench.mbox"
    path.write_bytes(data * reps)
    raw = path.stat().st_size
    print(f"enron: {raw / MB:.1f} MB mbox (samples x{reps})")
    source = EnronSource(SourceConfig(name="enron", kind="enron"), work)
    seconds, docs = _timed(lambda: sum(1 for _ in source.read(path)))
    _report("source.read (mbox -> documents)", raw, seconds, docs)

    def stdlib() -> int:
        box = mailbox.mbox(path, create=False)
        count = 0
        for msg in box:
            payload = msg.get_payload(decode=True)
            count += payload is not None
        box.close()
        return count

    seconds, docs = _timed(stdlib)
    _report("baseline mailbox.mbox + get_payload", raw, seconds, docs)


BENCHES: dict[str, Callable[[float, Path], None]] = {
    "wikipedia": bench_wikipedia,
    "stackexchange": bench_stackexchange,
    "enron": bench_enron,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="input size per source (MB)")
    parser.add_argument("--only", action="append", choices=sorted(BENCHES),
                        help="run only these sources")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_sources_") as tmp:
        for name in args.only or list(BENCHES):
            work = Path(tmp) / name
            work.mkdir()
            BENCHES[name](args.mb, work)


if __name__ == "__main__":
    main()
