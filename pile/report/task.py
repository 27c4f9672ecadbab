"""The report's worker task: plots, ``samples/``, ``report.html`` and ``README.md``.

The driver hands it the small aggregates it already holds (Table 1, per-source
summaries, the dedup source pairs, the vocabularies) and it does the rest where the
bytes are: it draws each plot once, merges the units' sample parts into
``samples/sources/<source>.jsonl`` and ``samples/duplicates.jsonl`` (scrubbing PII
from the texts that were sampled before the PII stage ran), splits a passage per
source with every vocabulary, and writes the page and the dataset card.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pile.docs_io import atomic_file, write_if_changed
from pile.manifest import sha256_file
from pile.executor import Unit, UnitTask
from pile.report.boundaries import passage, split_passage
from pile.report.card import CardSource, render_card
from pile.report.page import PageData, SourceView, fit_page
from pile.report.plots import draw_plots
from pile.report.table import Table
from pile.samples import KEPT, merge_parts, pairs_path

SAMPLE_PHASES = ("clean", "final")  # the phases whose workers sample (`pile.samples`)


@dataclass
class ReportInputs:
    """What the driver knows and the task needs (small: a few lines per source)."""

    out: str
    work: str
    title: str
    summary: str
    table: Table
    per_source: dict[str, Any]
    sources: list[CardSource]
    report: Any  # pile.config.ReportConfig
    pii: Any  # pile.config.PiiConfig
    dedup: bool
    source_pairs: list[list[Any]] | None
    vocabs: list[Any] = field(default_factory=list)  # pile.tokenize.vocab.Vocabulary
    languages: list[str] = field(default_factory=list)
    mix: dict[str, dict[str, Any]] = field(default_factory=dict)
    processing: list[str] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)  # per source, its audit parts' folder


def write_text(path: Path, text: str) -> None:
    """Written atomically, and only when it changed: a rebuild that changes nothing here
    leaves the file (inode and mtime) alone."""
    write_if_changed(path, text.encode("utf-8"))


def write_audit(dest: Path, folders: list[Path]) -> list[Any]:
    """``pii/audit.jsonl``: the sources' audit parts concatenated in order (streamed: the
    audit grows with the PII found), replacing `dest` only when it changed. Returns its
    size and sha256 for the manifest."""
    parts = [p for folder in folders if folder.is_dir() for p in sorted(folder.glob("*.audit.jsonl"))]

    def chunks() -> Iterator[bytes]:
        for part in parts:
            with open(part, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    yield chunk

    digest = hashlib.sha256()
    size = 0
    for chunk in chunks():
        digest.update(chunk)
        size += len(chunk)
    sha = digest.hexdigest()
    # Unchanged: the file (inode and mtime) stays. Otherwise a second streamed pass.
    if not (dest.is_file() and dest.stat().st_size == size and sha256_file(dest) == sha):
        with atomic_file(dest) as out:
            for chunk in chunks():
                out.write(chunk)
    return [size, sha]


def card_title(sources: list[CardSource]) -> str:
    """The card's name, from what it holds (never the folder: the card is the same wherever
    the build is written)."""
    names = [s.set_name for s in sources]
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"A Pile-style corpus: {shown}"


class ReportTask(UnitTask):
    """One unit: the whole of the report that is not ``report.md`` or ``stats.json``."""

    def __init__(self, inputs: ReportInputs) -> None:
        self.inputs = inputs

    def run(self, unit: Unit) -> dict[str, Any]:

        inp = self.inputs
        out, work = Path(inp.out), Path(inp.work)
        plots = draw_plots(out, inp.per_source, inp.source_pairs if inp.dedup else None)
        views, pairs = self.samples(out, work)
        for view in views:
            if view.kept_samples and inp.vocabs:
                view.passage = passage(view.kept_samples[0]["text"], inp.report.passage_chars)
                view.splits = [split_passage(v, view.passage) for v in inp.vocabs] if view.passage else []
        no_plot = {}
        if not any(p.key == "tokens" for p in plots):
            no_plot["tokens"] = "No tokenizer is configured: no token counts to plot."
        if not inp.dedup:
            no_plot["duplicates"] = "Deduplication is off: no duplicates per source pair to plot."
        if not any(p.key == "drops" for p in plots):
            no_plot["drops"] = "No document was dropped."
        data = PageData(inp.title, inp.summary, inp.table, [(p, (out / p.path).read_bytes()) for p in plots],
                        no_plot, views, pairs, inp.dedup, bool(inp.pii.enabled), [v.name for v in inp.vocabs],
                        inp.report.samples)
        page, limit, shown = fit_page(data, inp.report.sample_chars, inp.report.samples, inp.report.max_html_bytes)
        write_text(out / "report.html", page)
        write_text(out / "README.md", render_card(inp.sources, card_title(inp.sources), inp.languages,
                                                 [v.name for v in inp.vocabs], inp.mix, inp.processing))
        artifacts = {p.path: [(out / p.path).stat().st_size, sha256_file(out / p.path)]
                     for p in plots if p.path.startswith("tokens/")}
        if inp.audit:
            artifacts["pii/audit.jsonl"] = write_audit(out / "pii" / "audit.jsonl", [Path(a) for a in inp.audit])
        return {"plots": [p.path for p in plots], "artifacts": artifacts, "html_bytes": len(page.encode("utf-8")),
                "html_chars": limit, "html_samples": shown}

    def samples(self, out: Path, work: Path) -> tuple[list[SourceView], list[dict[str, Any]]]:
        """Merge the units' parts per source, scrub what was sampled before PII, write
        ``samples/``; return what the page shows."""
        inp = self.inputs
        k = inp.report.samples
        scrub = self.scrubber()
        dedup_numbers: dict[str, Any] = {}
        picked: list[dict[str, Any]] = []
        if inp.dedup and pairs_path(work).is_file():
            data = json.loads(pairs_path(work).read_text(encoding="utf-8"))
            dedup_numbers, picked = data.get("drops", {}), data.get("pairs", [])
        views, captured = [], {}
        folder = out / "samples" / "sources"
        folder.mkdir(parents=True, exist_ok=True)
        names = [s.name for s in inp.sources]
        for stale in folder.glob("*.jsonl"):
            if stale.stem not in names:
                stale.unlink()
        for src in inp.sources:
            merged = merge_parts([work / "samples" / phase / src.name for phase in SAMPLE_PHASES], k)
            for rec in merged.captured.values():
                rec["text"] = scrub(rec["text"])
            captured.update(merged.captured)
            summary = inp.per_source.get(src.name, {}).get("summary", {})
            view = SourceView(src.name, src.set_name, summary.get("documents_kept", 0))
            lines = []
            for group, records in merged.groups.items():
                for rec in records:
                    rec.pop("rank", None)
                if group == KEPT:
                    view.kept_samples = records
                    kind = "kept"
                elif group.startswith("pii:"):
                    view.pii[group.split(":", 1)[1]] = records
                    kind = "pii"
                else:
                    for rec in records:
                        rec["text"] = scrub(rec["text"])
                        if rec["id"] in dedup_numbers:
                            rec["numbers"] = dedup_numbers[rec["id"]]
                    view.drops[group] = (summary.get("dropped", {}).get(group, len(records)), records)
                    kind = "dropped"
                lines += [json.dumps({"source": src.name, "kind": kind, "group": group, **rec},
                                     ensure_ascii=False) for rec in records]
            write_text(folder / f"{src.name}.jsonl", "".join(line + "\n" for line in lines))
            views.append(view)
        pairs = []
        for p in picked:
            removed, duplicate = captured.get(p["id"]), captured.get(p["duplicate_of"])
            if removed is None or duplicate is None:
                continue  # a side that was not captured (its source was not rebuilt since)
            pairs.append({"reason": p["reason"], "jaccard": p.get("jaccard"), "source": p["id"].split("/", 1)[0],
                          "duplicate_source": p["duplicate_of"].split("/", 1)[0],
                          "removed": removed, "duplicate": duplicate})
        write_text(out / "samples" / "duplicates.jsonl",
                   "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs))
        return views, pairs

    def scrubber(self) -> Any:
        """The text -> text function applied to texts sampled before the PII stage."""
        if not self.inputs.pii.enabled:
            return lambda text: text
        from pile.pii.scrub import PiiScrubber

        stage = PiiScrubber(self.inputs.pii)  # set up on its first text (`scrub` does)
        return lambda text: stage.scrub(text)[0] if text else text


__all__ = ["ReportInputs", "ReportTask"]
