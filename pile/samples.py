"""Seeded, bounded samples of what a build kept and dropped, collected by the workers.

People who build corpora read documents, not only counts: which pages a rule threw away
and why, what two near-duplicates look like, where the PII placeholders landed. So the
workers keep, for every unit, a few documents per *group* -- the kept documents, each
drop reason (``stage:reason``, the key of ``stats.json``), each PII entity -- and the
report shows them (`pile.report`, ``pile show``).

Which documents: per group, the `k` with the smallest `sample_rank` (a hash of the seed,
the group and the document id). The `k` smallest of a source are the `k` smallest of its
units' `k` smallest, so merging the units' parts gives the same sample whatever the
number of workers or the order units finish in; no reservoir state crosses units.

What travels: a text is cut on the worker (`cut_text`, ``report.sample_chars``) before it
is kept, so a unit's part holds at most ``k x groups x sample_chars`` characters whatever
its documents' size; the parts are written by the workers
(``.work/samples/<phase>/<source>/NNNNNN.json``, committed in unit order by the phase)
and read again only by the report's worker task, never by the driver.

Near-duplicate pairs: `PairSampleTask` (run on a worker by the dedup phase) picks a few
(removed, duplicate_of) pairs from ``dedup/clusters.jsonl``; the final phase's workers
capture both texts as they read them (`UnitSampler.capture`), so the report can put the
two side by side without anyone reading the corpus again.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any, Callable, Iterable

from pile.docs_io import atomic_write_text
from pile.document import Document
from pile.executor import Done, Unit, UnitTask

SAMPLES_VERSION = "samples_v1"
KEPT = "kept"
PAIR = "pair"
SAMPLE_PART = ".samples.json"  # the suffix of a unit's part in its phase's staging folder
PII_CONTEXT = 240  # characters of context on each side of a PII placeholder
META_VALUE_CHARS = 200  # a sampled document's scalar meta values, cut to this length

_SURROGATE_RE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class SampleSettings:
    """What the workers keep: `k` documents per group, ranked with `seed`, cut to `chars`."""

    k: int
    seed: int
    chars: int
    pairs: int = 0

    @classmethod
    def of(cls, report: Any) -> SampleSettings:
        """The settings of a ``report`` config section (`pile.config.ReportConfig`)."""
        return cls(report.samples, report.seed, report.sample_chars, report.duplicate_pairs)

    def fingerprint(self) -> list[Any]:
        """What a phase's fingerprint holds of them (its parts change with these)."""
        return [SAMPLES_VERSION, self.k, self.seed, self.chars, self.pairs]


def sample_rank(seed: int, group: str, doc_id: str) -> int:
    """A document's place in `group`'s sample: the smaller, the earlier it is taken."""
    key = f"{seed}\x00{group}\x00{doc_id}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def printable(text: str) -> str:
    """`text` with lone surrogates (undecodable bytes of a file name) as U+FFFD."""
    return _SURROGATE_RE.sub("\ufffd", text) if _SURROGATE_RE.search(text) else text


def cut_text(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to at most `limit` characters, at a space or line break when one is in
    its last fifth (so no word, and no e-mail address, is cut in two); (text, was_cut)."""
    if len(text) <= limit:
        return printable(text), False
    head = text[:limit]
    space = max(head.rfind(" "), head.rfind("\n"))
    if space >= 0.8 * limit:
        head = head[:space]
    return printable(head), True


def small_meta(doc: Document) -> dict[str, Any]:
    """The document's public scalar meta values (long strings cut): what a sample shows."""
    out: dict[str, Any] = {}
    for key, value in doc.public_meta().items():
        if isinstance(value, str):
            out[key] = cut_text(value, META_VALUE_CHARS)[0]
        elif isinstance(value, (int, float, bool)) or value is None:
            out[key] = value
    return out


# -- the numbers behind a drop --------------------------------------------------------------


def rule_numbers(stage: Any, doc: Document, reason: str) -> dict[str, Any]:
    """The measured value and the threshold behind `stage` dropping `doc` as `reason`
    (computed for sampled documents only: a few per unit)."""
    name = getattr(stage, "name", "")
    if name == "length_v1":
        return {"chars": len(doc.text), "min_chars": stage.min_chars, "max_chars": stage.max_chars}
    if name == "langid_v1":
        return {"language": doc.meta.get("language"), "score": doc.meta.get("language_score"),
                "min_score": stage.min_score, "keep": sorted(stage.languages)}
    if name == "gopher_quality_v1":
        return gopher_numbers(doc.text, stage.cfg, reason)
    return {}


def gopher_numbers(text: str, cfg: Any, reason: str) -> dict[str, Any]:
    """The statistic a Gopher rule (`pile.quality.gopher_drop_reason`) compared with its
    threshold, by the module's definitions, and that threshold."""
    from pile.quality import BULLETS, ELLIPSES, STOP_WORDS, word_stats

    words, word_chars, tokens, lettered = word_stats(text)
    lines = [ln for ln in (x.strip() for x in text.split("\n")) if ln]
    measures: dict[str, tuple[str, Callable[[], float], str]] = {
        "gopher_min_words": ("words", lambda: words, "min_words"),
        "gopher_max_words": ("words", lambda: words, "max_words"),
        "gopher_min_mean_word_length": ("mean_word_length", lambda: word_chars / max(words, 1),
                                        "min_mean_word_length"),
        "gopher_max_mean_word_length": ("mean_word_length", lambda: word_chars / max(words, 1),
                                        "max_mean_word_length"),
        "gopher_hash_ratio": ("hashes_per_word", lambda: text.count("#") / max(words, 1),
                              "max_symbol_word_ratio"),
        "gopher_ellipsis_ratio": ("ellipses_per_word",
                                  lambda: (text.count("...") + text.count("…")) / max(words, 1),
                                  "max_symbol_word_ratio"),
        "gopher_bullet_lines": ("bullet_lines", lambda: sum(map(str.startswith, lines, repeat(BULLETS)))
                                / max(len(lines), 1), "max_bullet_lines_ratio"),
        "gopher_ellipsis_lines": ("ellipsis_lines", lambda: sum(map(str.endswith, lines, repeat(ELLIPSES)))
                                  / max(len(lines), 1), "max_ellipsis_lines_ratio"),
        "gopher_alpha_words": ("alpha_words", lambda: lettered / max(tokens, 1), "min_alpha_words_ratio"),
        "gopher_stop_words": ("stop_words", lambda: sum(1 for w in re.findall(r"\w+", text.lower())
                                                        if w in STOP_WORDS), "min_stop_words"),
    }
    if reason not in measures:
        return {}
    label, value, threshold = measures[reason]
    measured = value()
    return {label: measured if isinstance(measured, int) else round(measured, 4), threshold: getattr(cfg, threshold)}


def scrubbed_spans(spans: Iterable[list[Any]], length: Callable[[str, int], int]) -> list[tuple[str, int, int]]:
    """PII spans in offsets of the scrubbed text, from the audit's offsets of the text
    before scrubbing and each replacement's length."""
    out = []
    shift = 0
    for entity, start, end in sorted(spans, key=lambda s: s[1]):
        n = length(entity, end - start)
        out.append((entity, start + shift, start + shift + n))
        shift += n - (end - start)
    return out


def replacement_length(chain: Iterable[Any]) -> Callable[[str, int], int] | None:
    """How long the chain's PII stage writes an entity's replacement of a value of n
    characters (placeholder, mask or hash), or None without a PII stage."""
    for stage in chain:
        if getattr(stage, "name", "") == "pii_v1":
            return lambda entity, n: len(stage.replacement(entity, "x" * n))
    return None


# -- a unit's sample -------------------------------------------------------------------------


class Reservoir:
    """Per group, the `k` records of the smallest rank offered so far."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.heaps: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}

    def wants(self, group: str, rank: int) -> bool:
        heap = self.heaps.get(group)
        return self.k > 0 and (heap is None or len(heap) < self.k or -heap[0][0] > rank)

    def put(self, group: str, rank: int, record: dict[str, Any]) -> None:
        """Keep `record` (call only after `wants` said yes)."""
        heap = self.heaps.setdefault(group, [])
        record["rank"] = rank
        item = (-rank, record["id"], record)
        if len(heap) < self.k:
            heapq.heappush(heap, item)
        else:
            heapq.heapreplace(heap, item)

    def groups(self) -> dict[str, list[dict[str, Any]]]:
        """Each group's records, smallest rank first."""
        return {g: [r for _n, _i, r in sorted(h, key=lambda item: -item[0])]
                for g, h in sorted(self.heaps.items())}


class UnitSampler:
    """What one unit keeps of its documents (a part of `SampleSettings.k` per group).

    Args:
        settings: k, seed, cut length.
        wanted: ids whose text is captured whole-unit (the sampled duplicate pairs).
        pii_length: `replacement_length` of the chain (PII windows in the scrubbed text).
    """

    def __init__(self, settings: SampleSettings, wanted: Iterable[str] = (),
                 pii_length: Callable[[str, int], int] | None = None) -> None:
        self.settings = settings
        self.reservoir = Reservoir(settings.k)
        self.wanted = frozenset(wanted)
        self.captured: dict[str, dict[str, Any]] = {}
        self.pii_length = pii_length

    def _record(self, doc: Document) -> dict[str, Any]:
        text, cut = cut_text(doc.text, self.settings.chars)
        return {"id": printable(doc.id), "text": text, "chars": len(doc.text), "cut": cut,
                "meta": small_meta(doc)}

    def kept(self, doc: Document) -> None:
        """A document the phase keeps (and, when PII was replaced in it, a PII sample)."""
        rank = sample_rank(self.settings.seed, KEPT, doc.id)
        if self.reservoir.wants(KEPT, rank):
            self.reservoir.put(KEPT, rank, self._record(doc))
        spans = doc.meta.get("_pii_spans")
        if spans and self.pii_length is not None:
            for entity in sorted({s[0] for s in spans}):
                group = f"pii:{entity}"
                rank = sample_rank(self.settings.seed, group, doc.id)
                if self.reservoir.wants(group, rank):
                    self.reservoir.put(group, rank, self._pii_record(doc, entity, spans))

    def _pii_record(self, doc: Document, entity: str, spans: list[list[Any]]) -> dict[str, Any]:
        assert self.pii_length is not None
        placed = scrubbed_spans(spans, self.pii_length)
        first = next(s for s in placed if s[0] == entity)
        context = min(PII_CONTEXT, self.settings.chars // 2)
        lo, hi = max(0, first[1] - context), min(len(doc.text), first[2] + context)
        # start and end at a space, so no placeholder's neighbour is cut mid-word
        while lo > 0 and not doc.text[lo - 1].isspace() and first[1] - lo < 2 * context:
            lo -= 1
        while hi < len(doc.text) and not doc.text[hi].isspace() and hi - first[2] < 2 * context:
            hi += 1
        marks = [[s - lo, e - lo, ent] for ent, s, e in placed if s >= lo and e <= hi]
        return {"id": printable(doc.id), "text": printable(doc.text[lo:hi]), "offset": lo,
                "chars": len(doc.text), "marks": marks, "meta": small_meta(doc)}

    def dropped(self, stage: Any, doc: Document, reason: str) -> None:
        """A document `stage` dropped as `reason` (its numbers computed if it is taken)."""
        group = f"{stage.name}:{reason}"
        rank = sample_rank(self.settings.seed, group, doc.id)
        if self.reservoir.wants(group, rank):
            record = self._record(doc)
            record["numbers"] = rule_numbers(stage, doc, reason)
            self.reservoir.put(group, rank, record)

    def read_dropped(self, doc: Document, reason: str, nbytes: int) -> None:
        """A record the reader dropped before it was text (too large, not UTF-8): its id
        and, when the reader measured it, its size."""
        group = f"read:{reason}"
        rank = sample_rank(self.settings.seed, group, doc.id)
        if self.reservoir.wants(group, rank):
            numbers = {"record_bytes": nbytes} if "record_bytes" in doc.meta else {}
            self.reservoir.put(group, rank, {"id": printable(doc.id), "text": "", "chars": 0, "cut": False,
                                             "unread": True, "meta": small_meta(doc), "numbers": numbers})

    def capture(self, docs: Iterable[Document]) -> None:
        """Keep the cut text of every wanted id among `docs` (as read, before any stage)."""
        if not self.wanted:
            return
        for doc in docs:
            if doc.id in self.wanted:
                self.captured[printable(doc.id)] = self._record(doc)

    def write(self, path: Path) -> bool:
        """Write the part (under a temporary name, then renamed); False when empty."""
        groups = self.reservoir.groups()
        if not groups and not self.captured:
            return False
        atomic_write_text(path, json.dumps({"groups": groups, "captured": self.captured},
                                           ensure_ascii=False))
        return True


def commit_sample_parts(staging: Path, done: list[Done], dest: Path) -> None:
    """Move the units' parts (``result.extra["samples"]``) into `dest`, in unit order.

    Runs on the driver: renames only, the parts are not read here.
    """
    from pile.docs_io import swap_in

    ready = dest.with_name(f".{dest.name}.staging")
    shutil.rmtree(ready, ignore_errors=True)
    ready.mkdir(parents=True)
    n = 0
    for d in done:
        name = getattr(d.result, "extra", {}).get("samples")
        if name:
            os.replace(staging / name, ready / f"{n:06d}.json")
            n += 1
    swap_in(ready, dest)


@dataclass
class SourceSample:
    """One source's merged sample: records per group (smallest rank first), captured texts."""

    groups: dict[str, list[dict[str, Any]]]
    captured: dict[str, dict[str, Any]]


def merge_parts(folders: Iterable[Path], k: int) -> SourceSample:
    """The `k` smallest-rank records per group over every part in `folders`."""
    pooled: dict[str, list[dict[str, Any]]] = {}
    captured: dict[str, dict[str, Any]] = {}
    for folder in folders:
        for part in sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []:
            data = json.loads(part.read_text(encoding="utf-8"))
            for group, records in data.get("groups", {}).items():
                pooled.setdefault(group, []).extend(records)
            captured.update(data.get("captured", {}))
    groups = {g: sorted(rs, key=lambda r: (r["rank"], r["id"]))[:k] for g, rs in sorted(pooled.items())}
    return SourceSample(groups, captured)


# -- near-duplicate pairs (the dedup phase, on a worker) -------------------------------------


def pairs_path(work: Path) -> Path:
    """Where the dedup phase writes its sampled pairs (read by the final phase and the report)."""
    return work / "dedup" / "samples.json"


def source_of(doc_id: str) -> str:
    return doc_id.split("/", 1)[0]


class PairSampleTask(UnitTask):
    """Reads ``dedup/clusters.jsonl`` (on a worker; streamed, bounded memory) and writes:

    - ``pairs``: up to ``settings.pairs`` (removed, duplicate_of) pairs whose kept side
      is really kept, the smallest-rank pair of each (source pair, reason) first;
    - ``drops``: for the documents each source's dedup drop sample will hold (the same
      ranks `UnitSampler.dropped` uses), what they duplicate and the Jaccard estimate;
    - ``source_pairs``: removed documents per (removed source, duplicated source, reason).
    """

    def __init__(self, clusters: str, dest: str, settings: SampleSettings, stage: str) -> None:
        self.clusters = clusters
        self.dest = dest
        self.settings = settings
        self.stage = stage

    def run(self, unit: Unit) -> dict[str, Any]:
        s = self.settings
        per_bucket = s.pairs + 4  # spares for pairs whose kept side was itself removed
        buckets: dict[tuple[str, str, str], list[tuple[int, str, dict[str, Any]]]] = {}
        drops = Reservoir(s.k)
        counts: Counter[tuple[str, str, str]] = Counter()
        path = Path(self.clusters)
        for line in _lines(path):
            rec = json.loads(line)
            doc_id, other, reason = rec["id"], rec["duplicate_of"], rec["reason"]
            key = (source_of(doc_id), source_of(other), reason)
            counts[key] += 1
            row = {"id": doc_id, "duplicate_of": other, "reason": reason, "jaccard": rec.get("jaccard")}
            group = f"{self.stage}:{reason}"
            rank = sample_rank(s.seed, group, doc_id)
            if drops.wants(f"{key[0]}\t{group}", rank):
                drops.put(f"{key[0]}\t{group}", rank, dict(row))
            if s.pairs:
                rank = sample_rank(s.seed, PAIR, doc_id)
                heap = buckets.setdefault(key, [])
                item = (-rank, doc_id, row)
                if len(heap) < per_bucket:
                    heapq.heappush(heap, item)
                elif -heap[0][0] > rank:
                    heapq.heapreplace(heap, item)
        candidates = {r["duplicate_of"] for heap in buckets.values() for _n, _i, r in heap}
        removed = set()
        if candidates:  # a second pass: which kept sides were removed too
            for line in _lines(path):
                doc_id = json.loads(line)["id"]
                if doc_id in candidates:
                    removed.add(doc_id)
        ranked = [sorted(((-n, r) for n, _i, r in heap if r["duplicate_of"] not in removed),
                         key=lambda x: (x[0], x[1]["id"])) for _k, heap in sorted(buckets.items())]
        pairs: list[dict[str, Any]] = []
        depth = 0
        while len(pairs) < s.pairs and any(len(b) > depth for b in ranked):
            layer = sorted((b[depth] for b in ranked if len(b) > depth), key=lambda x: (x[0], x[1]["id"]))
            pairs.extend(r for _n, r in layer[: s.pairs - len(pairs)])
            depth += 1
        drop_numbers = {r["id"]: {"duplicate_of": r["duplicate_of"], "jaccard": r["jaccard"]}
                        for records in drops.groups().values() for r in records}
        source_pairs = [[a, b, reason, n] for (a, b, reason), n in sorted(counts.items())]
        out = {"pairs": pairs, "drops": drop_numbers, "source_pairs": source_pairs}
        atomic_write_text(Path(self.dest), json.dumps(out, sort_keys=True, ensure_ascii=False))
        return {"source_pairs": source_pairs, "pairs": len(pairs)}


def _lines(path: Path) -> Iterable[str]:
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        yield from fh


def wanted_ids(work: Path) -> dict[str, list[str]]:
    """Per source, the ids of the sampled pairs (both sides) the final phase captures."""
    path = pairs_path(work)
    if not path.is_file():
        return {}
    out: dict[str, set[str]] = {}
    for pair in json.loads(path.read_text(encoding="utf-8")).get("pairs", []):
        for doc_id in (pair["id"], pair["duplicate_of"]):
            out.setdefault(source_of(doc_id), set()).add(doc_id)
    return {k: sorted(v) for k, v in sorted(out.items())}


__all__ = ["KEPT", "PairSampleTask", "Reservoir", "SAMPLE_PART", "SampleSettings", "SourceSample", "UnitSampler",
           "commit_sample_parts", "cut_text", "gopher_numbers", "merge_parts", "pairs_path", "printable",
           "replacement_length", "rule_numbers", "sample_rank", "scrubbed_spans", "small_meta", "source_of",
           "wanted_ids"]
