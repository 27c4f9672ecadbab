"""Main-text extraction for Common Crawl pages: jusText (the Pile's) vs trafilatura vs Resiliparse.

Pages: every HTML ``response`` record (status 200) of the two real WARC samples in
shared/data (``whirlwind.warc.gz``: a CC-MAIN-2024-22 capture of an Aragonese Wikipedia
stub; ``warcio-example.warc.gz``: example.com), and, as a second set, the six real HTML
pages under ``samples/html`` (Rust documentation pages: long prose with navigation).
Each extractor runs on every page, repeated until ``--seconds`` of CPU time are spent, in
this one process; it prints HTML MB/s (per core, CPU time) and the characters kept, each
with the ratio against jusText (``justext_v1``, the Pile-CC baseline, measured in the same
run). jusText runs with the Pile's English stop list and with ``stoplist: none``.

For the WARC stub page it also tells whether the article's first sentence was kept and
whether the page's maintenance banner (boilerplate) was.

Run: ``.venv/bin/python benchmarks/bench_extract.py [--seconds 2] [--data ../shared/data]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Callable

from warcio.archiveiterator import ArchiveIterator

from pile.sources.commoncrawl import justext_main_text, resiliparse_main_text, trafilatura_main_text

ARTICLE = "Escopete ye un municipio"
BANNER = "Iste articlo ye en proceso"


def warc_pages(data: Path) -> list[tuple[str, bytes]]:
    pages = []
    for name in ("whirlwind.warc.gz", "warcio-example.warc.gz"):
        with open(data / "samples/commoncrawl" / name, "rb") as fh:
            for record in ArchiveIterator(fh):
                http = record.http_headers
                if record.rec_type == "response" and http is not None and http.get_statuscode() == "200" \
                        and "html" in (http.get_header("Content-Type") or ""):
                    pages.append((f"{name}:{record.rec_headers.get_header('WARC-Target-URI')}",
                                  record.content_stream().read()))
    return pages


def html_pages(data: Path) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted((data / "samples/html").glob("*.html"))]


def extractors() -> dict[str, Callable[[bytes], str]]:
    import justext

    english = justext.get_stoplist("English")
    return {
        "justext_v1 (English)": lambda html: justext_main_text(html, english, None),
        "justext_v1 (stoplist none)": lambda html: justext_main_text(html, frozenset(), None),
        "trafilatura_v1": lambda html: trafilatura_main_text(html, None),
        "resiliparse_v1": lambda html: resiliparse_main_text(html, None),
    }


def measure(fn: Callable[[bytes], str], pages: list[tuple[str, bytes]], seconds: float
            ) -> tuple[float, list[str]]:
    """(HTML MB per CPU second, the texts of one pass)."""
    texts = [fn(html) for _, html in pages]  # warm-up (imports, caches) and the output
    size = sum(len(html) for _, html in pages)
    passes, c0 = 0, time.process_time()
    while True:
        for _, html in pages:
            fn(html)
        passes += 1
        spent = time.process_time() - c0
        if spent >= seconds:
            return size * passes / spent / 1e6, texts


def report(title: str, pages: list[tuple[str, bytes]], seconds: float) -> None:
    size = sum(len(h) for _, h in pages)
    print(f"\n{title}: {len(pages)} pages, {size / 1e3:.0f} KB of HTML")
    rows = {name: measure(fn, pages, seconds) for name, fn in extractors().items()}
    base_speed, base_texts = rows["justext_v1 (English)"]
    base_chars = sum(len(t.strip()) for t in base_texts)
    print(f"{'extractor':<28}{'MB/s':>8}{'x jusText':>11}{'chars kept':>12}{'x jusText':>11}  pages with text")
    for name, (speed, texts) in rows.items():
        chars = sum(len(t.strip()) for t in texts)
        ratio = f"{chars / base_chars:.2f}" if base_chars else ("n/a" if not chars else "inf (0)")
        nonempty = sum(1 for t in texts if t.strip())
        print(f"{name:<28}{speed:>8.2f}{speed / base_speed:>11.2f}{chars:>12,}{ratio:>11}  {nonempty}/{len(pages)}")
    for label, html in pages:
        if b"Escopete" in html[:5000]:
            for name, (_speed, texts) in rows.items():
                text = texts[[p for p, _ in pages].index(label)]
                print(f"  stub page, {name:<26} article kept: {ARTICLE in text!s:<5}  banner kept: {BANNER in text}")


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("PILE_SHARED_DATA", here.parent / "shared" / "data")))
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per extractor and set")
    args = parser.parse_args(argv)
    report("WARC samples (Common Crawl captures)", warc_pages(args.data), args.seconds)
    report("HTML samples (documentation pages)", html_pages(args.data), args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
