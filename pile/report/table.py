"""The corpus's Table 1 (one row per source) as data, and ``report.md`` drawn from it.

The same `Table` feeds ``report.md`` (on the driver: a few lines per source) and the
sortable table of ``report.html`` (on the report's worker), so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pile.phases.context import BuildContext

Cell = tuple[str, Any]  # (what is shown, what it sorts by)


@dataclass
class Table:
    """Columns, one row per source and the total row; `numeric[i]` says how column i sorts."""

    columns: list[str]
    numeric: list[bool]
    rows: list[list[Cell]] = field(default_factory=list)
    total: list[Cell] = field(default_factory=list)

    def markdown(self) -> list[str]:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        for row in [*self.rows, self.total]:
            lines.append("| " + " | ".join(shown for shown, _v in row) + " |")
        return lines


def mb(n: float) -> str:
    return f"{n / 1e6:,.2f}"


def tokens_by_source(ctx: BuildContext) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for row in (ctx.record.tokens.counts if ctx.record.tokens is not None else []):
        out.setdefault(row["source"], {})[row["tokenizer"]] = row["tokens"]
    return out


def duplicates_of(summary: dict[str, Any]) -> tuple[int, int]:
    """(exact, near) duplicates removed from a source, from its drops by reason."""
    exact = sum(v for k, v in summary["dropped"].items() if k.startswith("dedup") and "exact" in k)
    near = sum(v for k, v in summary["dropped"].items() if k.startswith("dedup") and "exact" not in k)
    return exact, near


def table_one(ctx: BuildContext, per_source: dict[str, Any], totals: dict[str, int]) -> Table:
    """Table 1 from the build's real counts."""
    tokens = tokens_by_source(ctx)
    tokenizers = [t.name for t in ctx.cfg.tokenizers]
    table = Table(["source", "pile_set_name", "raw MB", "docs read", "docs kept", "MB kept", "mean KB/doc",
                   "epochs", "effective MB", "dropped (top reasons)", "duplicates removed", "PII found",
                   *(f"tokens {t}" for t in tokenizers)],
                  [False, False, True, True, True, True, True, True, True, True, True, True,
                   *(True for _ in tokenizers)])
    eff_total = 0.0
    for name, data in per_source.items():
        s = data["summary"]
        scfg = ctx.cfg.source(name)
        top = sorted(s["dropped"].items(), key=lambda kv: -kv[1])[:4]
        exact, near = duplicates_of(s)
        pii = {k.split(".", 1)[1]: v for k, v in s["counters"].items() if k.startswith("pii.")}
        mean_kb = s["bytes_kept"] / s["documents_kept"] / 1e3 if s["documents_kept"] else 0.0
        effective = s["bytes_kept"] * scfg.epochs
        eff_total += effective
        table.rows.append([
            (name, name), (ctx.sources[name].set_name, ctx.sources[name].set_name),
            (mb(s["raw_bytes"]), s["raw_bytes"]), (f"{s['documents_read']:,}", s["documents_read"]),
            (f"{s['documents_kept']:,}", s["documents_kept"]), (mb(s["bytes_kept"]), s["bytes_kept"]),
            (f"{mean_kb:,.1f}", mean_kb), (f"{scfg.epochs:g}", scfg.epochs), (mb(effective), effective),
            (", ".join(f"{k} {v:,}" for k, v in top) or "-", sum(s["dropped"].values())),
            (f"{exact:,} exact, {near:,} near", exact + near),
            (", ".join(f"{k} {v:,}" for k, v in pii.items()) or "-", sum(pii.values())),
            *((f"{tokens.get(name, {}).get(t, 0):,}", tokens.get(name, {}).get(t, 0)) for t in tokenizers)])
    raw_total = sum(d["summary"]["raw_bytes"] for d in per_source.values())
    table.total = [("**total**", ""), ("", ""), (mb(raw_total), raw_total),
                   (f"{totals['documents_read']:,}", totals["documents_read"]),
                   (f"{totals['documents_kept']:,}", totals["documents_kept"]),
                   (mb(totals["bytes_kept"]), totals["bytes_kept"]), ("", ""), ("", ""),
                   (mb(eff_total), eff_total), ("", ""), ("", ""), ("", "")]
    for t in tokenizers:
        n = sum(tokens.get(name, {}).get(t, 0) for name in per_source)
        table.total.append((f"{n:,}", n))
    return table


def render_report(ctx: BuildContext, per_source: dict[str, Any], table: Table, seconds: float,
                  plots: list[str]) -> str:
    """``report.md``: Table 1, what failed, the largest clusters, the token and mix
    tables and the plots (as files beside it)."""
    lines = ["# Corpus report", "",
             f"Built into `{ctx.out}` in {seconds:,.1f} s with {ctx.executor.workers} worker(s). "
             "Sizes are UTF-8 text after each step; raw MB is the input files as read from disk; "
             "effective MB is kept MB x epochs (what training sees). `report.html` shows the same "
             "with samples of what was kept and dropped.", "",
             "## Sources", "", *table.markdown()]
    failed = [(n, f) for n, d in per_source.items() for f in d["summary"]["files_failed"]]
    if failed:
        lines += ["", "## Files that failed", ""]
        lines += [f"- `{n}`: `{f['file']}`: {f['reason']}" for n, f in failed]
    empty = [n for n, d in per_source.items() if d["summary"]["documents_read"] == 0]
    if empty:
        lines += ["", "## Empty sources", "", *[f"- `{n}`: no documents were read" for n in empty]]
    lines += dedup_section(ctx.record.dedup.details if ctx.record.dedup is not None else {})
    sections = [ctx.record.tokens.markdown if ctx.record.tokens is not None else "",
                ctx.record.mix.markdown if ctx.record.mix is not None else ""]
    lines += [line for section in sections if section for line in ("", section)]
    if ctx.record.tokens is not None and ctx.record.mix is not None and ctx.record.mix.markdown:
        lines += ["", "Note: the mix's token totals count each document's end-of-document token "
                  "(what a trainer reads); the token table above counts text tokens only, so "
                  "the two differ by the number of documents mixed."]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def dedup_section(details: dict[str, Any]) -> list[str]:
    """The largest near-duplicate clusters as a table a person reads."""
    clusters = details.get("largest_clusters", [])
    if not clusters:
        return []
    lines = ["", "## Deduplication", "", "The largest clusters (the survivor is kept; every other "
             "member was removed; `dedup/clusters.jsonl` lists each removed id with the id it "
             "duplicates).", "", "| survivor | size | exact | near | sources | removed (first 3) |",
             "|---|---:|---:|---:|---|---|"]
    for c in clusters:
        sources = ", ".join(f"{k} {v}" for k, v in c["sources"].items())
        examples = ", ".join(f"`{e}`" for e in c["examples"][:3])
        lines.append(f"| `{c['survivor']}` | {c['size']:,} | {c['exact']:,} | {c['near']:,} | "
                     f"{sources} | {examples} |")
    return lines


__all__ = ["Table", "dedup_section", "duplicates_of", "mb", "render_report", "table_one", "tokens_by_source"]
