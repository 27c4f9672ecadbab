"""`pile validate`: re-check a finished build against its manifest, and what it promises.

1. Every artifact listed in manifest.json exists with the recorded size and sha256, and
   no unlisted artifact appeared.
2. Every document file decodes (zstd, UTF-8, JSON) into ``{"text", "meta"}`` records with
   ``meta.pile_set_name`` and ``meta.id``, and ids are unique.
3. No Luhn-valid card number or e-mail address slipped through PII scrubbing, in the
   documents and in the decoded token shards.
4. Every token shard is a well-formed Megatron/GPT-NeoX indexed dataset whose counts
   match the manifest.

Each of the four checks has a progress bar on a terminal (stderr).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Callable, Iterator

import zstandard
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pile.docs_io import iter_jsonl_zst
from pile.manifest import load_manifest, verify


def _recorded_shards(out: Path, manifest: dict) -> Iterator[tuple[str, Path, str, dict]]:
    """(label, prefix, tokenizer, {documents, tokens}) of every shard set the manifest
    records besides the per-source training shards: each mix and each held-out split."""
    for tok, rec in sorted((manifest.get("mix") or {}).items()):
        yield f"tokens/{tok}/mix", out / "tokens" / tok / "mix" / "train", tok, rec
    for part, per_tok in sorted((manifest.get("heldout_tokens") or {}).items()):
        for tok, per_source in sorted(per_tok.items()):
            for source, rec in sorted(per_source.items()):
                yield f"{part}/tokens/{tok}", out / part / "tokens" / tok / source, tok, rec


class CheckProgress:
    """One bar per check, drawn only on a terminal; 80 columns are enough for all of it."""

    def __init__(self, enabled: bool = True) -> None:
        console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description:<20}"), BarColumn(bar_width=24),
            MofNCompleteColumn(), TextColumn("{task.fields[unit]:<9}"), TimeElapsedColumn(),
            console=console, disable=not (enabled and console.is_terminal))

    def __enter__(self) -> CheckProgress:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def bar(self, label: str, total: int, unit: str) -> Callable[[int], None]:
        """Add a bar; returns ``advance(n)``."""
        task = self._progress.add_task(label, total=max(total, 1), unit=unit)
        return lambda n=1: self._progress.advance(task, n)


def validate_recorded_shards(out: Path, manifest: dict) -> tuple[list[str], int]:
    """The mixed and held-out shards: well formed and with the counts the manifest records."""
    from pile.tokenize.shards import find_shards
    from pile.tokenize.validate import validate_shards

    problems: list[str] = []
    checked = 0
    vocabs = manifest.get("tokenizers") or {}
    for label, prefix, tok, rec in _recorded_shards(out, manifest):
        vocab = vocabs.get(tok)
        if vocab is None:
            problems.append(f"{label}: no tokenizer {tok!r} in the manifest")
            continue
        found = validate_shards(prefix, vocab["vocab_size"], vocab["eod_id"],
                                expected_docs=rec["documents"], expected_tokens=rec["tokens"])
        problems += [f"{label}/{p}" for p in found]
        checked += len(find_shards(prefix))
    return problems, checked


def validate_build(out: Path, progress: bool = True) -> tuple[list[str], str]:
    """Return (problems, a one-line summary of what was checked).

    Args:
        out: the build's output folder.
        progress: draw progress bars (on a terminal only).
    """
    manifest = load_manifest(out)
    with CheckProgress(progress) as bars:
        return _validate(out, manifest, bars)


def _validate(out: Path, manifest: dict, bars: CheckProgress) -> tuple[list[str], str]:
    artifacts = manifest.get("artifacts", {})
    problems = verify(out, manifest, bars.bar("artifacts (sha256)", len(artifacts), "files"))
    pii = manifest.get("config", {}).get("pii", {})
    scan = None
    # The promise is about what the build scrubbed: cards and e-mails, when configured.
    promised = tuple(e for e in ("CREDIT_CARD", "EMAIL_ADDRESS") if e in pii.get("entities", ()))
    if pii.get("enabled", False) and promised:
        from functools import partial

        from pile.pii.leaks import scan_for_leaks
        scan = partial(scan_for_leaks, entities=promised)
    from pile.tokenize.checks import text_digest

    docs = 0
    seen: set[str] = set()
    # Per training source, the digest of each document's text as scanned, in file order:
    # the token shards' decoded text equal to it needs no second scan.
    scanned: dict[str, list[bytes]] = {}
    misaligned: set[str] = set()  # files with a record that was not scanned
    doc_files = [p for root in (out, out / "val", out / "test")
                 for p in sorted((root / "docs").glob("*/*.jsonl.zst"))]
    advance = bars.bar("documents", len(doc_files), "files")
    for path in doc_files:
        rel = path.relative_to(out).as_posix()
        source = path.parent.name
        digests = scanned.setdefault(source, []) if path.parent.parent == out / "docs" else None
        try:
            for lineno, rec in iter_jsonl_zst(path):
                docs += 1
                meta = rec.get("meta") if isinstance(rec, dict) else None
                if not isinstance(meta, dict) or not isinstance(rec.get("text"), str):
                    problems.append(f"{rel}:{lineno}: not a {{text, meta}} record")
                    misaligned.add(rel)  # sequence k no longer lines up with document k
                    continue
                if "pile_set_name" not in meta or "id" not in meta:
                    problems.append(f"{rel}:{lineno}: meta lacks pile_set_name or id")
                    misaligned.add(rel)
                    continue
                if meta["id"] in seen:
                    problems.append(f"{rel}:{lineno}: duplicate document id {meta['id']}")
                seen.add(meta["id"])
                if scan is not None:
                    for entity, start, end in scan(rec["text"]):
                        problems.append(f"{rel}:{lineno}: {entity} left in document {meta['id']} "
                                        f"at characters {start}-{end}")
                    if digests is not None:
                        digests.append(text_digest(rec["text"]))
        except (zstandard.ZstdError, UnicodeDecodeError, json.JSONDecodeError, EOFError, OSError) as exc:
            problems.append(f"{rel}: unreadable ({type(exc).__name__}: {exc})")
            misaligned.add(rel)
        advance(1)
    for rel in misaligned:
        if rel.startswith("docs/"):
            scanned.pop(rel.split("/")[1], None)
    shards = 0
    if (out / "tokens").is_dir():
        from pile.tokenize.checks import validate_build_shards

        tokenizers = manifest.get("tokenizers") or {}
        total = sum(int(s.get("documents") or 0) for rec in tokenizers.values()
                    for s in (rec.get("sources") or {}).values())
        shard_problems, shards = validate_build_shards(
            out, manifest, scan, scanned, bars.bar("token shards", total, "docs"))
        problems.extend(shard_problems)
        more_problems, more = validate_recorded_shards(out, manifest)
        problems.extend(more_problems)
        shards += more
    summary = (f"{len(artifacts)} artifacts match the manifest; {docs:,} documents "
               f"read back{'; no card number or e-mail found' if scan else ''}; {shards} token shards checked")
    return problems, summary
