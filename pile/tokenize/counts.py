"""Token counts per source x tokenizer, the Pile's mixed view, and their renderings.

For every source and vocabulary: documents, UTF-8 bytes, whitespace-separated words, text
tokens (the end-of-document tokens excluded, so vocabularies compare on the text alone;
the shards hold ``tokens + documents``), bytes per token and tokens per word. The mixed
view is the Pile's Table 1 "effective size": each source's tokens times its epochs, and its
share of the mixture.

Written as ``tokens/counts.csv`` and ``tokens/counts.json``, rendered as a markdown section
for ``report.md``, a bar chart ``tokens/counts.png`` (matplotlib, Agg backend), and as the
``pile tokens --format table|csv|json|markdown`` output (`CountsTable.format`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

COUNTS_VERSION = 1
FORMATS = ("table", "csv", "json", "markdown")
TOTAL = "TOTAL"


def count_words(text: str) -> int:
    """Whitespace-separated words (the denominator of tokens per word)."""
    return len(text.split())


@dataclass
class CountRow:
    """One source x tokenizer cell.

    Attributes:
        tokens: text tokens, end-of-document tokens excluded.
        epochs: the source's mixing weight (``sources[].epochs``).
    """

    source: str
    tokenizer: str
    documents: int = 0
    bytes: int = 0
    words: int = 0
    tokens: int = 0
    epochs: float = 1.0

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / self.tokens if self.tokens else 0.0

    @property
    def tokens_per_word(self) -> float:
        return self.tokens / self.words if self.words else 0.0

    @property
    def mixed_tokens(self) -> float:
        """Tokens the mixture sees from this source (tokens x epochs)."""
        return self.tokens * self.epochs

    @property
    def shard_tokens(self) -> int:
        """Tokens in the shards: text tokens plus one end-of-document token per document."""
        return self.tokens + self.documents

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(bytes_per_token=round(self.bytes_per_token, 4),
                   tokens_per_word=round(self.tokens_per_word, 4),
                   mixed_tokens=round(self.mixed_tokens, 2))
        return out


@dataclass
class SourceCounter:
    """Accumulates one source's counts while its documents stream through the tokenizers.

    `add_texts` once per batch (documents, bytes, words), `add_tokens` once per batch and
    tokenizer with the encoder's output (arrays with the end-of-document id appended).
    """

    source: str
    epochs: float = 1.0
    documents: int = 0
    bytes: int = 0
    words: int = 0
    tokens: dict[str, int] = field(default_factory=dict)

    def add_texts(self, texts: list[str]) -> None:
        self.documents += len(texts)
        # isascii() is a flag check in CPython: ASCII texts need no encoding to be measured
        self.bytes += sum(len(t) if t.isascii() else len(t.encode("utf-8", "surrogatepass"))
                          for t in texts)
        self.words += sum(len(t.split()) for t in texts)

    def add_tokens(self, tokenizer: str, batch: list[np.ndarray]) -> None:
        # Every array carries exactly one end-of-document id; it is not a text token.
        self.tokens[tokenizer] = self.tokens.get(tokenizer, 0) + sum(len(a) - 1 for a in batch)

    def merge(self, other: SourceCounter) -> None:
        """Add another worker's partial counts for the same source."""
        self.documents += other.documents
        self.bytes += other.bytes
        self.words += other.words
        for name, n in other.tokens.items():
            self.tokens[name] = self.tokens.get(name, 0) + n

    def rows(self) -> list[CountRow]:
        return [CountRow(self.source, name, self.documents, self.bytes, self.words, n,
                         self.epochs) for name, n in self.tokens.items()]


class CountsTable:
    """All source x tokenizer rows, with totals, the mixed view and renderings."""

    def __init__(self, rows: Iterable[CountRow]) -> None:
        self.rows = sorted(rows, key=lambda r: (r.tokenizer, r.source))

    @classmethod
    def from_counters(cls, counters: Iterable[SourceCounter]) -> CountsTable:
        return cls(row for c in counters for row in c.rows())

    @property
    def tokenizers(self) -> list[str]:
        return sorted({r.tokenizer for r in self.rows})

    @property
    def sources(self) -> list[str]:
        return sorted({r.source for r in self.rows})

    def totals(self) -> list[CountRow]:
        """One ``TOTAL`` row per tokenizer (epochs: the mixture's token-weighted mean)."""
        out = []
        for name in self.tokenizers:
            rows = [r for r in self.rows if r.tokenizer == name]
            tokens = sum(r.tokens for r in rows)
            mixed = sum(r.mixed_tokens for r in rows)
            out.append(CountRow(TOTAL, name, sum(r.documents for r in rows),
                                sum(r.bytes for r in rows), sum(r.words for r in rows), tokens,
                                round(mixed / tokens, 4) if tokens else 1.0))
        return out

    def mixed_share(self, row: CountRow) -> float:
        """`row`'s share of its tokenizer's mixture (tokens x epochs), in [0, 1]."""
        total = sum(r.mixed_tokens for r in self.rows if r.tokenizer == row.tokenizer)
        return row.mixed_tokens / total if total else 0.0

    # -- renderings -------------------------------------------------------------------

    _COLUMNS = ("source", "tokenizer", "documents", "bytes", "words", "tokens",
                "bytes_per_token", "tokens_per_word", "epochs", "mixed_tokens", "mixed_share")

    def _records(self, with_totals: bool) -> list[dict]:
        out = []
        ordered = self.rows
        if with_totals:  # each tokenizer's rows, then its total
            totals = {t.tokenizer: t for t in self.totals()}
            ordered = [r for name in self.tokenizers
                       for r in [x for x in self.rows if x.tokenizer == name] + [totals[name]]]
        for row in ordered:
            rec = row.to_dict()
            rec["mixed_share"] = round(self.mixed_share(row), 6) if row.source != TOTAL else 1.0
            out.append({k: rec[k] for k in self._COLUMNS})
        return out

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self._COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._records(with_totals=False))
        return buf.getvalue()

    def to_json(self) -> str:
        data = {"version": COUNTS_VERSION, "rows": self._records(False),
                "totals": [r.to_dict() for r in self.totals()]}
        return json.dumps(data, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> CountsTable:
        data = json.loads(text)
        if data.get("version") != COUNTS_VERSION:
            raise ValueError(f"counts.json version {data.get('version')!r}, expected {COUNTS_VERSION}")
        keys = ("source", "tokenizer", "documents", "bytes", "words", "tokens", "epochs")
        return cls(CountRow(**{k: rec[k] for k in keys}) for rec in data["rows"])

    @classmethod
    def load(cls, tokens_dir: str | Path) -> CountsTable:
        """Read ``<tokens_dir>/counts.json`` (what ``pile tokens OUT`` shows)."""
        return cls.from_json((Path(tokens_dir) / "counts.json").read_text(encoding="utf-8"))

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        head = ["source", "tokenizer", "docs", "bytes", "tokens", "bytes/token", "tokens/word",
                "epochs", "mixed tokens", "mix share"]
        body = []
        for rec in self._records(with_totals=True):
            body.append([rec["source"], rec["tokenizer"], f"{rec['documents']:,}",
                         f"{rec['bytes']:,}", f"{rec['tokens']:,}",
                         f"{rec['bytes_per_token']:.3f}", f"{rec['tokens_per_word']:.3f}",
                         f"{rec['epochs']:g}", f"{rec['mixed_tokens']:,.0f}",
                         f"{100 * rec['mixed_share']:.1f}%"])
        return head, body

    def to_table(self) -> str:
        """An aligned plain-text table (numbers right-aligned)."""
        head, body = self._cells()
        widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]

        def line(cells: list[str]) -> str:
            return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        sep = "  ".join("-" * w for w in widths)
        return "\n".join([line(head), sep] + [line(r) for r in body]) + "\n"

    def to_markdown(self, title: str = "## Token counts") -> str:
        """The ``report.md`` section: the comparison table (the bar chart is in the
        report's plots, once)."""
        head, body = self._cells()
        lines = [title, "",
                 "Text tokens per source and vocabulary (end-of-document tokens excluded); "
                 "mixed tokens = tokens x epochs, the Pile's effective size.", "",
                 "| " + " | ".join(head) + " |",
                 "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines) + "\n"

    def format(self, fmt: str) -> str:
        """``pile tokens --format``: one of table, csv, json, markdown."""
        if fmt not in FORMATS:
            raise ValueError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
        return {"table": self.to_table, "csv": self.to_csv, "json": self.to_json,
                "markdown": self.to_markdown}[fmt]()

    def plot(self, path: str | Path) -> Path:
        """Bar chart: tokens per source for each tokenizer, and bytes per token overall."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        sources, names = self.sources, self.tokenizers
        cell = {(r.source, r.tokenizer): r for r in self.rows}
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(max(8, 1.2 * len(sources) + 5), 4.5),
                                       gridspec_kw={"width_ratios": [3, 1]})
        width = 0.8 / max(1, len(names))
        x = np.arange(len(sources))
        for i, name in enumerate(names):
            ys = [cell[(s, name)].tokens if (s, name) in cell else 0 for s in sources]
            ax1.bar(x + i * width, ys, width, label=name)
        ax1.set_xticks(x + width * (len(names) - 1) / 2, sources, rotation=30, ha="right")
        ax1.set_ylabel("tokens")
        ax1.set_title("Tokens per source")
        ax1.legend(fontsize="small")
        totals = self.totals()
        ax2.bar([t.tokenizer for t in totals], [t.bytes_per_token for t in totals],
                color=[f"C{i}" for i in range(len(totals))])
        ax2.set_ylabel("bytes per token")
        ax2.set_title("Compression")
        ax2.tick_params(axis="x", rotation=30)
        fig.tight_layout()
        tmp = path.with_name(path.name + ".tmp.png")
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
        plt.close(fig)
        tmp.replace(path)
        return path

    def write(self, tokens_dir: str | Path) -> dict[str, Path]:
        """Write ``counts.csv``, ``counts.json`` and ``counts.png`` into `tokens_dir`."""
        from pile.docs_io import atomic_write_text  # not at the top: `pile counts` only reads

        tokens_dir = Path(tokens_dir)
        tokens_dir.mkdir(parents=True, exist_ok=True)
        out = {}
        for name, text in (("csv", self.to_csv()), ("json", self.to_json())):
            path = tokens_dir / f"counts.{name}"
            atomic_write_text(path, text)
            out[name] = path
        out["png"] = self.plot(tokens_dir / "counts.png")
        return out


def load_counts(out: str | Path) -> CountsTable:
    """The counts of a finished build ``OUT`` (``OUT/tokens/counts.json``).

    Raises:
        PileError: the build has no token counts (not built, or no tokenizers configured).
    """
    from pile.errors import PileError

    path = Path(out) / "tokens" / "counts.json"
    if not path.is_file():
        raise PileError(f"{out}: no tokens/counts.json (build with tokenizers configured first)")
    try:
        return CountsTable.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, KeyError) as exc:
        raise PileError(f"{path}: unreadable counts ({exc})") from None


def format_counts(table: CountsTable, fmt: str) -> str:
    """``pile tokens --format``: the table as table, csv, json or markdown text.

    Raises:
        ConfigError: an unknown format.
    """
    from pile.errors import ConfigError

    try:
        return table.format(fmt)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
