"""``pile validate`` for the ``tokens/`` folder of a build, against its manifest.

For every vocabulary in the manifest's ``tokenizers`` entry (written by
`pile.phases.tokenize`): the saved vocabulary file still has its recorded sha256, and every
source's shards pass `validate_shards` (format, dtype, EOD, id range) with the recorded
document and token counts. With a PII ``scan`` function, every document is decoded back to
text and scanned, so a card number or e-mail address that reached the shards is reported.
A decoded document whose text is the one already scanned in ``docs/<source>`` (sequence k
of the shards is document k there) is not scanned again: the same function on the same
string finds the same things, and `pile validate` reported them under the document's name.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from pile.tokenize.reader import ShardReader
from pile.tokenize.shards import find_shards
from pile.tokenize.validate import validate_shards
from pile.tokenize.vocab import Vocabulary, decode_batch, sha256_file

Scan = Callable[[str], Iterable[tuple[str, int, int]]]
_DECODE_BATCH = 256  # documents decoded per call (HF decodes a batch in parallel)


def text_digest(text: str) -> bytes:
    """What identifies a scanned text (`validate_build_shards`'s ``scanned``)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def validate_build_shards(out: Path, manifest: dict[str, Any], scan: Scan | None = None,
                          scanned: dict[str, Sequence[bytes]] | None = None,
                          advance: Callable[[int], None] | None = None) -> tuple[list[str], int]:
    """Check every token shard of the build in `out`.

    Args:
        out: the build's output folder.
        manifest: the loaded ``manifest.json``.
        scan: text -> (entity, start, end) of leaked PII; None skips decoding.
        scanned: per source, the `text_digest` of each document of ``docs/<source>`` (in
            order) that was scanned already; those texts are not scanned again.
        advance: called with the number of documents checked, as they are (progress).

    Returns:
        (problems as ``tokens/<tokenizer>/<file>: <kind>: <detail>`` lines, shards checked).
    """
    problems: list[str] = []
    checked = 0
    tokenizers = manifest.get("tokenizers") or {}
    tokens_dir = Path(out) / "tokens"
    for name, rec in sorted(tokenizers.items()):
        folder = tokens_dir / name
        vocab = Vocabulary.from_dict(rec, folder)
        if not vocab.file.is_file():
            problems.append(f"tokens/{name}/{vocab.file.name}: missing vocabulary file")
            continue
        if sha256_file(vocab.file) != vocab.sha256:
            problems.append(f"tokens/{name}/{vocab.file.name}: vocabulary sha256 differs from "
                            f"the manifest")
        for source, srec in sorted((rec.get("sources") or {}).items()):
            prefix = folder / source
            found = validate_shards(prefix, vocab.vocab_size, vocab.eod_id,
                                    expected_docs=srec.get("documents"),
                                    expected_tokens=srec.get("tokens"))
            problems += [f"tokens/{name}/{p}" for p in found]
            checked += len(find_shards(prefix))
            if scan is not None and not found and srec.get("documents"):
                problems += _scan_shards(vocab, prefix, f"tokens/{name}/{source}", scan,
                                         (scanned or {}).get(source, ()), advance)
            elif advance is not None:
                advance(int(srec.get("documents") or 0))
    return problems, checked


def _scan_shards(vocab: Vocabulary, prefix: Path, label: str, scan: Scan,
                 scanned: Sequence[bytes], advance: Callable[[int], None] | None) -> list[str]:
    out = []
    reader = ShardReader(prefix)
    for first in range(0, len(reader), _DECODE_BATCH):
        ks = range(first, min(first + _DECODE_BATCH, len(reader)))
        texts = decode_batch(vocab, [reader[k][:-1] for k in ks])
        for k, text in zip(ks, texts):
            if k < len(scanned) and text_digest(text) == scanned[k]:
                continue
            for entity, start, end in scan(text):
                out.append(f"{label}: {entity} left in document {k} at characters "
                           f"{start}-{end} of its decoded text")
        if advance is not None:
            advance(len(ks))
    return out
