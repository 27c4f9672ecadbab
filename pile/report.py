"""The build's closing outputs: stats.json, pii/audit.jsonl, report.md and manifest.json."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pile.docs_io import atomic_write_text, write_if_changed, write_json
from pile.manifest import build_manifest
from pile.stats import PhaseStats

if TYPE_CHECKING:
    from pile.phases.context import BuildContext


def _marker_stats(ctx: BuildContext, phase: str, source: str) -> tuple[dict[str, Any] | None, str | None]:
    data = ctx.markers.read(phase, source)
    if data is None:
        return None, None
    return data.get("stats"), data.get("fingerprint")


def source_summary(name: str, phases: dict[str, Any]) -> dict[str, Any]:
    """Read, kept and dropped-by-reason totals of one source over every phase."""
    clean = PhaseStats.from_dict(phases["clean"]) if "clean" in phases else PhaseStats()
    final = PhaseStats.from_dict(phases["final"]) if "final" in phases else None
    dropped: Counter[str] = Counter()
    for phase in ("clean", "final"):
        if phase in phases:
            for stage, st in phases[phase]["stages"].items():
                for reason, n in st["dropped"].items():
                    dropped[f"{stage}:{reason}"] += n
    counters: Counter[str] = Counter(clean.counters)
    if final is not None:
        counters.update(final.counters)
    kept = final if final is not None else clean
    return {"documents_read": clean.documents_in, "bytes_read": clean.bytes_in,
            "raw_bytes": clean.raw_bytes, "length_hist": kept.length_hist,
            "files": clean.files, "files_failed": clean.files_failed,
            "documents_kept": kept.documents_out, "bytes_kept": kept.bytes_out,
            "dropped": dict(sorted(dropped.items())), "counters": dict(sorted(counters.items()))}


def previous_result(ctx: BuildContext) -> dict[str, Any] | None:
    """The summary of the build already in `ctx.out` (a rebuild with nothing to do), or
    None when its outputs are not all there."""
    out = ctx.out
    if not all((out / name).is_file() for name in ("stats.json", "report.md", "manifest.json")):
        return None
    try:
        stats = json.loads((out / "stats.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    totals = stats.get("totals", {})
    return {"documents": totals.get("documents_kept", 0), "bytes": totals.get("bytes_kept", 0),
            "sources": len(stats.get("sources", {})), "out": str(out), "rebuilt": ctx.record.rebuilt,
            "reused": ctx.record.reused}


def write_outputs(ctx: BuildContext, seconds: float) -> dict[str, Any]:
    out = ctx.out
    record = ctx.record
    built = ctx.built_sources()
    per_source: dict[str, Any] = {}
    for name in built:
        phases = dict(record.stats.get(name, {}))
        for phase in ("clean", "final"):
            if phase not in phases:  # a source this run did not select (--source)
                stats, fp = _marker_stats(ctx, phase, name)
                if stats is not None:
                    phases[phase] = stats
                    record.fingerprints.setdefault(name, {})[phase] = fp or ""
        per_source[name] = {"summary": source_summary(name, phases), "phases": phases}

    # The audit, in configured source order (one file per build).
    if ctx.cfg.pii.enabled and ctx.cfg.pii.audit:
        audit_lines = []
        for name in built:
            path = ctx.work / "pii" / f"{name}.audit.jsonl"
            if path.is_file():
                audit_lines.append(path.read_text())
        write_if_changed(out / "pii" / "audit.jsonl", "".join(audit_lines).encode())

    totals = {"documents_read": sum(s["summary"]["documents_read"] for s in per_source.values()),
              "bytes_read": sum(s["summary"]["bytes_read"] for s in per_source.values()),
              "documents_kept": sum(s["summary"]["documents_kept"] for s in per_source.values()),
              "bytes_kept": sum(s["summary"]["bytes_kept"] for s in per_source.values())}
    dedup = record.dedup.details if record.dedup is not None else {}
    decontam = ({"ngrams": record.decontam.ngrams, "sha256": record.decontam.sha256}
                if record.decontam is not None else {})
    tokens = ({"tokenizers": record.tokens.tokenizers, "counts": record.tokens.counts}
              if record.tokens is not None else {})
    stats = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(seconds, 3),
             "workers": ctx.executor.workers,
             "nodes": dict(sorted(ctx.executor.stats.nodes.items())),
             "parts_by_node": dict(sorted(ctx.executor.stats.parts.items())),
             "phase_seconds": {k: round(v, 3) for k, v in record.seconds.items()},
             "run": ctx.cfg.to_dict()["run"], "totals": totals, "sources": per_source,
             "dedup": dedup, "decontam": decontam, "rebuilt": record.rebuilt, "reused": record.reused,
             "tokens": tokens, "mix": record.mix.results if record.mix is not None else {}}
    write_json(out / "stats.json", stats)
    plots = [plot_lengths(out, per_source)]
    counts_png = out / "tokens" / "counts.png"
    if counts_png.is_file():
        plots.append(counts_png)
    record.plots = [p.relative_to(out).as_posix() for p in plots if p is not None]
    atomic_write_text(out / "report.md", render_report(ctx, per_source, totals, seconds))
    # `run` (workers, executor, address) and the output folders change where the work
    # happens, never the bytes; leaving them out keeps manifest.json identical across
    # worker counts, clusters and machines.
    config = {k: v for k, v in ctx.cfg.to_dict().items() if k not in ("run", "out", "raw")}
    from pile.sources.download import download_records

    raw = {name: download_records(ctx.cfg.raw_dir / name) for name in built}
    extra: dict[str, Any] = {"raw": {k: v for k, v in raw.items() if v}}
    if record.tokens is not None:
        extra["tokenizers"] = record.tokens.manifest
        if record.tokens.heldout:
            extra["heldout_tokens"] = record.tokens.heldout
    if record.mix is not None and record.mix.manifest:
        extra["mix"] = record.mix.manifest
    fingerprints = {k: v for k, v in sorted(record.fingerprints.items())}
    manifest = build_manifest(out, config, fingerprints, extra=extra, known=record.artifacts)
    write_json(out / "manifest.json", manifest)
    return {"documents": totals["documents_kept"], "bytes": totals["bytes_kept"],
            "sources": len(per_source), "out": str(out), "rebuilt": record.rebuilt, "reused": record.reused}


def _mb(n: float) -> str:
    return f"{n / 1e6:,.2f}"


def _tokens_by_source(ctx: BuildContext) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for row in (ctx.record.tokens.counts if ctx.record.tokens is not None else []):
        out.setdefault(row["source"], {})[row["tokenizer"]] = row["tokens"]
    return out


def render_report(ctx: BuildContext, per_source: dict[str, Any], totals: dict[str, int], seconds: float) -> str:
    """The corpus's Table 1, from the build's real counts."""
    tokens = _tokens_by_source(ctx)
    tokenizers = [t.name for t in ctx.cfg.tokenizers]
    head = ("| source | pile_set_name | raw MB | docs read | docs kept | MB kept | mean KB/doc | epochs | "
            "effective MB | dropped (top reasons) | duplicates removed | PII found |"
            + "".join(f" tokens {t} |" for t in tokenizers))
    lines = ["# Corpus report", "",
             f"Built into `{ctx.out}` in {seconds:,.1f} s with {ctx.executor.workers} worker(s). "
             "Sizes are UTF-8 text after each step; raw MB is the input files as read from disk; "
             "effective MB is kept MB x epochs (what training sees).", "",
             "## Sources", "", head, "|" + "---|" * (12 + len(tokenizers))]
    eff_total = 0.0
    for name, data in per_source.items():
        s = data["summary"]
        scfg = ctx.cfg.source(name)
        top = sorted(s["dropped"].items(), key=lambda kv: -kv[1])[:4]
        dropped = ", ".join(f"{k} {v:,}" for k, v in top) or "-"
        exact = sum(v for k, v in s["dropped"].items() if k.startswith("dedup") and "exact" in k)
        near = sum(v for k, v in s["dropped"].items() if k.startswith("dedup") and "exact" not in k)
        pii = ", ".join(f"{k.split('.', 1)[1]} {v:,}" for k, v in s["counters"].items()
                        if k.startswith("pii.")) or "-"
        mean_kb = s["bytes_kept"] / s["documents_kept"] / 1e3 if s["documents_kept"] else 0.0
        effective = s["bytes_kept"] * scfg.epochs
        eff_total += effective
        tok_cells = "".join(f" {tokens.get(name, {}).get(t, 0):,} |" for t in tokenizers)
        lines.append(f"| {name} | {ctx.sources[name].set_name} | {_mb(s['raw_bytes'])} | "
                     f"{s['documents_read']:,} | {s['documents_kept']:,} | {_mb(s['bytes_kept'])} | "
                     f"{mean_kb:,.1f} | {scfg.epochs:g} | {_mb(effective)} | {dropped} | "
                     f"{exact:,} exact, {near:,} near | {pii} |{tok_cells}")
    tok_totals = "".join(f" {sum(tokens.get(n, {}).get(t, 0) for n in per_source):,} |" for t in tokenizers)
    lines.append(f"| **total** | | {_mb(sum(d['summary']['raw_bytes'] for d in per_source.values()))} | "
                 f"{totals['documents_read']:,} | {totals['documents_kept']:,} | {_mb(totals['bytes_kept'])} | "
                 f"| | {_mb(eff_total)} | | | |{tok_totals}")
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
    plots = ctx.record.plots
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


def plot_lengths(out: Path, per_source: dict[str, Any]) -> Path | None:
    """Document length distribution per source (log2 bins of UTF-8 bytes) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hists = {n: d["summary"]["length_hist"] for n, d in per_source.items() if d["summary"]["length_hist"]}
    if not hists:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, hist in hists.items():
        bins = sorted(int(b) for b in hist)
        total = sum(hist.values())
        ax.plot([2 ** max(b - 1, 0) for b in bins], [hist[str(b)] / total for b in bins], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("document size (UTF-8 bytes, log2 bins)")
    ax.set_ylabel("share of the source's documents")
    ax.set_title("Document length distribution per source")
    ax.legend(fontsize="small")
    fig.tight_layout()
    path = out / "plots" / "doc_lengths.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path
