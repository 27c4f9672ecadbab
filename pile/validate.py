"""`pile validate`: re-check a finished build against its manifest, and what it promises.

1. Every artifact listed in manifest.json exists with the recorded size and sha256, and
   no unlisted artifact appeared.
2. Every document file decodes (zstd, UTF-8, JSON) into ``{"text", "meta"}`` records with
   ``meta.pile_set_name`` and ``meta.id``, and ids are unique.
3. No Luhn-valid card number or e-mail address slipped through PII scrubbing, in the
   documents and in the decoded token shards.
4. Every token shard is a well-formed Megatron/GPT-NeoX indexed dataset whose counts
   match the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import zstandard

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


def validate_build(out: Path) -> tuple[list[str], str]:
    """Return (problems, a one-line summary of what was checked)."""
    manifest = load_manifest(out)
    problems = verify(out, manifest)
    pii = manifest.get("config", {}).get("pii", {})
    scan = None
    # The promise is about what the build scrubbed: cards and e-mails, when configured.
    promised = tuple(e for e in ("CREDIT_CARD", "EMAIL_ADDRESS") if e in pii.get("entities", ()))
    if pii.get("enabled", False) and promised:
        from functools import partial

        from pile.pii.leaks import scan_for_leaks
        scan = partial(scan_for_leaks, entities=promised)
    docs = 0
    seen: set[str] = set()
    doc_files = [p for root in (out, out / "val", out / "test")
                 for p in sorted((root / "docs").glob("*/*.jsonl.zst"))]
    for path in doc_files:
        rel = path.relative_to(out).as_posix()
        try:
            for lineno, rec in iter_jsonl_zst(path):
                docs += 1
                meta = rec.get("meta") if isinstance(rec, dict) else None
                if not isinstance(rec.get("text"), str) or not isinstance(meta, dict):
                    problems.append(f"{rel}:{lineno}: not a {{text, meta}} record")
                    continue
                if "pile_set_name" not in meta or "id" not in meta:
                    problems.append(f"{rel}:{lineno}: meta lacks pile_set_name or id")
                    continue
                if meta["id"] in seen:
                    problems.append(f"{rel}:{lineno}: duplicate document id {meta['id']}")
                seen.add(meta["id"])
                if scan is not None:
                    for entity, start, end in scan(rec["text"]):
                        problems.append(f"{rel}:{lineno}: {entity} left in document {meta['id']} "
                                        f"at characters {start}-{end}")
        except (zstandard.ZstdError, UnicodeDecodeError, json.JSONDecodeError, EOFError, OSError) as exc:
            problems.append(f"{rel}: unreadable ({type(exc).__name__}: {exc})")
    shards = 0
    if (out / "tokens").is_dir():
        from pile.tokenize.checks import validate_build_shards

        shard_problems, shards = validate_build_shards(out, manifest, scan)
        problems.extend(shard_problems)
        more_problems, more = validate_recorded_shards(out, manifest)
        problems.extend(more_problems)
        shards += more
    summary = (f"{len(manifest.get('artifacts', {}))} artifacts match the manifest; {docs:,} documents "
               f"read back{'; no card number or e-mail found' if scan else ''}; {shards} token shards checked")
    return problems, summary
