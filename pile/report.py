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
    from pile.build import Build


def _marker_stats(build: Build, phase: str, source: str) -> tuple[dict[str, Any] | None, str | None]:
    path = build.work / phase / f"{source}.done.json"
    if not path.is_file():
        return None, None
    data = json.loads(path.read_text())
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


def write_outputs(build: Build, seconds: float) -> dict[str, Any]:
    out = build.out
    built = build.built_sources()
    per_source: dict[str, Any] = {}
    for name in built:
        phases = dict(build.stats.get(name, {}))
        for phase in ("clean", "final"):
            if phase not in phases:
                stats, fp = _marker_stats(build, phase, name)
                if stats is not None:
                    phases[phase] = stats
                    build.fingerprints.setdefault(name, {})[phase] = fp or ""
        per_source[name] = {"summary": source_summary(name, phases), "phases": phases}

    # The audit, in configured source order (one file per build).
    audit_lines = []
    for name in built:
        path = build.work / "pii" / f"{name}.audit.jsonl"
        if path.is_file():
            audit_lines.append(path.read_text())
    if build.cfg.pii.enabled and build.cfg.pii.audit:
        write_if_changed(out / "pii" / "audit.jsonl", "".join(audit_lines).encode())

    totals = {"documents_read": sum(s["summary"]["documents_read"] for s in per_source.values()),
              "bytes_read": sum(s["summary"]["bytes_read"] for s in per_source.values()),
              "documents_kept": sum(s["summary"]["documents_kept"] for s in per_source.values()),
              "bytes_kept": sum(s["summary"]["bytes_kept"] for s in per_source.values())}
    stats = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(seconds, 3),
             "workers": build.executor.workers,
             "nodes": dict(sorted(build.nodes.items())),
             "run": build.cfg.to_dict()["run"], "totals": totals, "sources": per_source,
             "dedup": build.details.get("dedup", {}), "rebuilt": build.rebuilt, "reused": build.reused,
             "tokens": build.details.get("tokens", {}), "mix": build.details.get("mix", {})}
    write_json(out / "stats.json", stats)
    plots = [plot_lengths(out, per_source)]
    counts_png = out / "tokens" / "counts.png"
    if counts_png.is_file():
        plots.append(counts_png)
    build.details["plots"] = [p.relative_to(out).as_posix() for p in plots if p is not None]
    atomic_write_text(out / "report.md", render_report(build, per_source, totals, seconds))
    # `run` (workers, executor, address) and the output folders change where the work
    # happens, never the bytes; leaving them out keeps manifest.json identical across
    # worker counts, clusters and machines.
    config = {k: v for k, v in build.cfg.to_dict().items() if k not in ("run", "out", "raw")}
    from pile.sources.download import download_records

    raw = {name: download_records(build.cfg.raw_dir / name) for name in built}
    extra = {"raw": {k: v for k, v in raw.items() if v}, **build.details.get("manifest_extra", {})}
    manifest = build_manifest(out, config, build.fingerprints, extra=extra)
    write_json(out / "manifest.json", manifest)
    return {"documents": totals["documents_kept"], "bytes": totals["bytes_kept"],
            "sources": len(per_source), "out": str(out), "rebuilt": build.rebuilt, "reused": build.reused}


def _mb(n: float) -> str:
    return f"{n / 1e6:,.2f}"


def _tokens_by_source(build: Build) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for row in build.details.get("tokens", {}).get("counts", []):
        out.setdefault(row["source"], {})[row["tokenizer"]] = row["tokens"]
    return out


def render_report(build: Build, per_source: dict[str, Any], totals: dict[str, int], seconds: float) -> str:
    """The corpus's Table 1, from the build's real counts."""
    tokens = _tokens_by_source(build)
    tokenizers = [t.name for t in build.cfg.tokenizers]
    head = ("| source | pile_set_name | raw MB | docs read | docs kept | MB kept | mean KB/doc | epochs | "
            "effective MB | dropped (top reasons) | duplicates removed | PII found |"
            + "".join(f" tokens {t} |" for t in tokenizers))
    lines = ["# Corpus report", "",
             f"Built into `{build.out}` in {seconds:,.1f} s with {build.executor.workers} worker(s). "
             "Sizes are UTF-8 text after each step; raw MB is the input files as read from disk; "
             "effective MB is kept MB x epochs (what training sees).", "",
             "## Sources", "", head, "|" + "---|" * (12 + len(tokenizers))]
    eff_total = 0.0
    for name, data in per_source.items():
        s = data["summary"]
        scfg = build.cfg.source(name)
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
        lines.append(f"| {name} | {build.sources[name].set_name} | {_mb(s['raw_bytes'])} | "
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
    clusters = build.details.get("dedup", {})
    if clusters:
        lines += ["", "## Deduplication", "", "```json", json.dumps(clusters, indent=1, sort_keys=True)[:3000],
                  "```"]
    for key in ("tokens_markdown", "mix_markdown"):
        section = build.details.get(key)
        if section:
            lines += ["", section]
    plots = build.details.get("plots", [])
    if plots:
        lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


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
