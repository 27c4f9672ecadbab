"""The build's closing outputs, on the driver: stats.json, pii/audit.jsonl, report.md and
manifest.json; the rest of the report (plots, samples/, report.html, README.md) is drawn
by one worker task (`pile.report.task.ReportTask`) run through the build's executor."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from pile.docs_io import atomic_write_text, write_json
from pile.executor import Unit
from pile.manifest import build_manifest
from pile.report.card import CardSource
from pile.report.table import Table, render_report, table_one, tokens_by_source
from pile.phases.final import audit_dir
from pile.report.task import ReportInputs, ReportTask
from pile.stats import PhaseStats

# What a finished build holds; one missing means the next build writes the report again.
OUTPUTS = ("stats.json", "report.md", "report.html", "README.md", "manifest.json")

if TYPE_CHECKING:
    from pile.phases.context import BuildContext

log = logging.getLogger(__name__)


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
    if not all((out / name).is_file() for name in OUTPUTS):
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
             "driver_cpu_seconds": {k: round(v, 3) for k, v in record.driver_cpu.items()},
             "vocabulary_load_seconds": {k: round(v, 3) for k, v in record.vocab_seconds.items()},
             "run": ctx.cfg.to_dict()["run"], "totals": totals, "sources": per_source,
             "dedup": dedup, "decontam": decontam, "rebuilt": record.rebuilt, "reused": record.reused,
             "tokens": tokens, "mix": record.mix.results if record.mix is not None else {}}
    write_json(out / "stats.json", stats)
    table = table_one(ctx, per_source, totals)
    drawn = run_report_task(ctx, per_source, table, totals, seconds)
    record.plots = drawn["plots"]
    record.artifacts.update(drawn["artifacts"])
    atomic_write_text(out / "report.md", render_report(ctx, per_source, table, seconds, record.plots))
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


def split_counts(ctx: BuildContext, summary: dict[str, Any]) -> dict[str, int]:
    """Documents written per split of one source (what its dataset-card config holds)."""
    if not ctx.splits_active():
        return {"train": summary["documents_kept"]}
    counters = summary["counters"]
    return {"train": counters.get("split.train", 0), "validation": counters.get("split.val", 0),
            "test": counters.get("split.test", 0)}


def processing_notes(ctx: BuildContext) -> list[str]:
    """What the card says was done to the text, from the config."""
    cfg = ctx.cfg
    notes = []
    if cfg.clean.enabled:
        notes.append(f"clean: ftfy, Unicode normalisation, length >= {cfg.clean.min_chars} characters, "
                     f"language id ({', '.join(cfg.clean.languages) or 'any language kept'}), Gopher quality "
                     f"rules {'on' if cfg.clean.quality.enabled else 'off'} (per-source overrides in manifest.json)")
    if cfg.dedup.enabled:
        notes.append(f"dedup: exact, then MinHash LSH near-duplicates across sources (Jaccard >= "
                     f"{cfg.dedup.threshold:g} on {cfg.dedup.ngram}-word shingles)")
    if ctx.splits_active():
        notes.append(f"held out by document id: validation {cfg.splits.val_fraction:g}, test "
                     f"{cfg.splits.test_fraction:g}")
    if cfg.pii.enabled:
        notes.append(f"PII replaced ({cfg.pii.replacement}): {', '.join(cfg.pii.entities)}")
    return notes


def run_report_task(ctx: BuildContext, per_source: dict[str, Any], table: Table, totals: dict[str, int],
                    seconds: float) -> dict[str, Any]:
    """Plots, samples/, report.html and README.md, drawn by one worker task."""
    tokens = tokens_by_source(ctx)
    sources = []
    for name, data in per_source.items():
        src, scfg = ctx.sources[name], ctx.cfg.source(name)
        sources.append(CardSource(name, src.set_name, scfg.kind, src.license, src.upstream, scfg.epochs,
                                  data["summary"]["bytes_kept"], split_counts(ctx, data["summary"]),
                                  tokens.get(name, {})))
    languages = sorted({lang for s in ctx.cfg.sources for lang in ctx.cfg.clean_for(s).languages
                        if ctx.cfg.clean_for(s).enabled and ctx.cfg.clean_for(s).langid})
    dedup = ctx.record.dedup.details if ctx.record.dedup is not None else {}
    summary = (f"{totals['documents_kept']:,} documents ({totals['bytes_kept'] / 1e6:,.1f} MB) kept of "
               f"{totals['documents_read']:,} read, from {len(per_source)} source(s); built in {seconds:,.1f} s "
               f"with {ctx.executor.workers} worker(s).")
    inputs = ReportInputs(str(ctx.out), str(ctx.work), f"Corpus report: {ctx.out.name}", summary, table,
                          per_source, sources, ctx.cfg.report, ctx.cfg.pii, ctx.cfg.dedup.enabled,
                          dedup.get("source_pairs", []), list(ctx.record.vocabs), languages,
                          ctx.record.mix.manifest if ctx.record.mix is not None else {}, processing_notes(ctx),
                          [str(audit_dir(ctx, name)) for name in ctx.built_sources()]
                          if ctx.cfg.pii.enabled and ctx.cfg.pii.audit else [])
    result = [done.result for done in ctx.executor.map(ReportTask(inputs), [Unit("_all", 0, ())])][0]
    if result["html_bytes"] > ctx.cfg.report.max_html_bytes:
        log.warning("report.html: %s bytes with no sample shown, more than report.max_html_bytes %s "
                    "(its table and plots alone)", f"{result['html_bytes']:,}", f"{ctx.cfg.report.max_html_bytes:,}")
    return result
