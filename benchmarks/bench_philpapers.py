"""PhilPapers PDF to text: pile.sources.pdftext (pdfminer.six layout analysis plus paragraph
joining) against pypdf's ``extract_text`` (the baseline, measured in the same run), on the
real paper of the shared data (samples/philpapers/1706.03762.pdf, 15 pages).

Prints pages per second and the ratio to pypdf, and the quality counts that decided the
choice of library:
- golden: real sentences of the paper found whole (after whitespace is collapsed; they
  cross line ends, a hyphenated line end and a page break with footnotes);
- number lines: lines that are only a page number (1-15);
- stamp lines: one-character lines (the rotated arXiv stamp read letter by letter);
- split words: a line-end hyphen left inside a word ("transduc-\\ntion", "transduc- tion").

    python benchmarks/bench_philpapers.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOLDEN = [
    "The dominant sequence transduction models are based on complex recurrent or convolutional "
    "neural networks that include an encoder and a decoder.",
    "Our model achieves 28.4 BLEU on the WMT 2014 English-to-German translation task",
    "have been firmly established as state of the art approaches in sequence modeling and "
    "transduction problems such as language modeling and machine translation [35, 2, 5].",
    "Attention mechanisms have become an integral part of compelling sequence modeling and "
    "transduction models in various tasks",
    "The two most commonly used attention functions are additive attention [2], and dot-product "
    "(multiplicative) attention.",
    "The Transformer follows this overall architecture using stacked self-attention and "
    "point-wise, fully connected layers for both the encoder and decoder",
]


def quality(text: str) -> dict[str, int]:
    flat = " ".join(text.replace("\ufb01", "fi").replace("\ufb00", "ff").split())
    lines = [line.strip() for line in text.splitlines()]
    return {
        "golden": sum(g in flat for g in GOLDEN),
        "number lines": sum(bool(re.fullmatch(r"\d{1,2}", x)) and 1 <= int(x) <= 15 for x in lines),
        "stamp lines": sum(len(x) == 1 for x in lines),
        "split words": len(re.findall(r"[a-z]-(?:\n| )(?:tion|ing|ed|ly|er|al|ity|ive|ent|ence|ance|ize|ic)\b",
                                      text)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    shared = Path(os.environ.get("PILE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
    pdf = shared / "samples/philpapers/1706.03762.pdf"
    data = pdf.read_bytes()

    import pypdf

    from pile.sources.pdftext import pdf_text

    def ours() -> str:
        return pdf_text(io.BytesIO(data), 1 << 30)

    def baseline() -> str:
        return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)

    pages = len(pypdf.PdfReader(io.BytesIO(data)).pages)
    results = {}
    for name, fn in (("pypdf extract_text (baseline)", baseline), ("pile pdftext (pdfminer.six)", ours)):
        fn()  # warm up imports
        start = time.perf_counter()
        for _ in range(args.repeat):
            text = fn()
        seconds = (time.perf_counter() - start) / args.repeat
        results[name] = (pages / seconds, quality(text), len(text))
    base = results["pypdf extract_text (baseline)"][0]
    print(f"{pdf.name}: {pages} pages, {len(data)} bytes; {args.repeat} runs each")
    print(f"{'extractor':32} {'pages/s':>8} {'ratio':>6} {'chars':>7}  golden/{len(GOLDEN)}  "
          "number lines  stamp lines  split words")
    for name, (rate, q, chars) in results.items():
        print(f"{name:32} {rate:8.1f} {rate / base:5.2f}x {chars:7d}  {q['golden']:>8}  "
              f"{q['number lines']:>12}  {q['stamp lines']:>11}  {q['split words']:>11}")


if __name__ == "__main__":
    main()
