"""The report's plots, drawn once (matplotlib, Agg) by the report's worker task.

Each is a PNG file beside the report (``report.md`` links it) and the same bytes are
embedded in ``report.html``; none is drawn on the driver.

- ``tokens/counts.png``: tokens per source and tokenizer, and bytes per token
  (`pile.tokenize.counts.CountsTable.plot`);
- ``plots/doc_lengths.png``: the document length distribution per source;
- ``plots/drops.png``: documents dropped per reason, stacked by source;
- ``plots/duplicates.png``: duplicates removed per (removed source, source it duplicates).
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pile.docs_io import write_if_changed

TOP_REASONS = 14  # the drop plot's rows; the rest are summed as "other reasons"


@dataclass(frozen=True)
class Plot:
    """A drawn plot: its key (``tokens``, ``lengths``, ``drops``, ``duplicates``), its file
    relative to the output folder, and what it shows."""

    key: str
    path: str
    title: str


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(fig: Any, ax: Any, path: Path, title: str, xlabel: str, ylabel: str | None = None) -> None:
    """Title, labels and legend, then the PNG, written only when its bytes changed (a
    rebuild leaves an unchanged plot alone)."""
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    _pyplot().close(fig)
    write_if_changed(path, buf.getvalue())


def plot_lengths(path: Path, per_source: dict[str, Any]) -> bool:
    """Document length distribution per source (log2 bins of UTF-8 bytes)."""
    hists = {n: d["summary"]["length_hist"] for n, d in per_source.items() if d["summary"]["length_hist"]}
    if not hists:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, hist in hists.items():
        bins = sorted(int(b) for b in hist)
        total = sum(hist.values())
        ax.plot([2 ** max(b - 1, 0) for b in bins], [hist[str(b)] / total for b in bins], marker="o", label=name)
    ax.set_xscale("log", base=2)
    _finish(fig, ax, path, "Document length distribution per source", "document size (UTF-8 bytes, log2 bins)",
            "share of the source's documents")
    return True


def plot_drops(path: Path, per_source: dict[str, Any]) -> bool:
    """Documents dropped per reason (the most frequent reasons), stacked by source."""
    totals: Counter[str] = Counter()
    for data in per_source.values():
        totals.update(data["summary"]["dropped"])
    if not totals:
        return False
    top = [r for r, _n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS]]
    rows = top + (["other reasons"] if len(totals) > len(top) else [])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.6))
    left = [0] * len(rows)
    for name, data in per_source.items():
        dropped = data["summary"]["dropped"]
        if not dropped:
            continue
        widths = [dropped.get(r, 0) for r in top]
        if len(rows) > len(top):
            widths.append(sum(n for r, n in dropped.items() if r not in top))
        ax.barh(rows, widths, left=left, label=name)
        left = [a + b for a, b in zip(left, widths)]
    ax.invert_yaxis()
    _finish(fig, ax, path, "Documents dropped, by stage:reason", "documents dropped")
    return True


def plot_duplicates(path: Path, sources: list[str], source_pairs: list[list[Any]]) -> bool:
    """Duplicates removed: rows the removed document's source, columns the source of the
    document it duplicates (exact and near together), counts written in the cells."""
    plt = _pyplot()
    import numpy as np

    index = {s: i for i, s in enumerate(sources)}
    grid = np.zeros((len(sources), len(sources)), dtype=np.int64)
    for removed, kept, _reason, n in source_pairs:
        if removed in index and kept in index:
            grid[index[removed], index[kept]] += n
    side = max(4.0, 0.6 * len(sources) + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    image = ax.imshow(np.log1p(grid), cmap="Blues")
    ax.set_xticks(range(len(sources)), sources, rotation=30, ha="right")
    ax.set_yticks(range(len(sources)), sources)
    for (i, j), n in np.ndenumerate(grid):
        ax.text(j, i, f"{n:,}", ha="center", va="center",
                color="white" if grid.max() and n > grid.max() / 2 else "black", fontsize="small")
    fig.colorbar(image, ax=ax, label="log(1 + documents)", shrink=0.8)
    _finish(fig, ax, path, "Duplicates removed per source pair", "source of the document it duplicates",
            "source of the removed document")
    return True


def draw_plots(out: Path, per_source: dict[str, Any], source_pairs: list[list[Any]] | None) -> list[Plot]:
    """Draw every plot that has data; None `source_pairs` means dedup was off."""
    drawn: list[Plot] = []
    counts = out / "tokens" / "counts.json"
    if counts.is_file():
        from pile.tokenize.counts import load_counts

        drawn_png = load_counts(out).plot(out / "tokens" / ".counts.drawing.png")
        write_if_changed(out / "tokens" / "counts.png", drawn_png.read_bytes())
        drawn_png.unlink()
        drawn.append(Plot("tokens", "tokens/counts.png", "Tokens per source and tokenizer"))
    if plot_lengths(out / "plots" / "doc_lengths.png", per_source):
        drawn.append(Plot("lengths", "plots/doc_lengths.png", "Document lengths per source"))
    if plot_drops(out / "plots" / "drops.png", per_source):
        drawn.append(Plot("drops", "plots/drops.png", "Documents dropped by reason"))
    if source_pairs is not None and plot_duplicates(out / "plots" / "duplicates.png", list(per_source),
                                                    source_pairs):
        drawn.append(Plot("duplicates", "plots/duplicates.png", "Duplicates per source pair"))
    for stale in ("drops", "duplicates", "doc_lengths"):  # a plot this build has no data for
        path = out / "plots" / f"{stale}.png"
        if path.is_file() and not any(p.path == f"plots/{stale}.png" for p in drawn):
            path.unlink()
    return drawn


__all__ = ["Plot", "draw_plots", "plot_drops", "plot_duplicates", "plot_lengths"]
