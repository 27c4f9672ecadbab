"""``pile validate`` for the ``tokens/`` folder of a build, against its manifest.

For every vocabulary in the manifest's ``tokenizers`` entry (written by
`pile.phases.tokenize`): the saved vocabulary file still has its recorded sha256, and every
source's shards pass `validate_shards` (format, dtype, EOD, id range) with the recorded
document and token counts. With a PII ``scan`` function, every document is decoded back to
text and scanned, so a card number or e-mail address that reached the shards is reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from pile.tokenize.reader import ShardReader
from pile.tokenize.shards import find_shards
from pile.tokenize.validate import validate_shards
from pile.tokenize.vocab import Vocabulary, decode, sha256_file

Scan = Callable[[str], Iterable[tuple[str, int, int]]]


def validate_build_shards(out: Path, manifest: dict[str, Any], scan: Scan | None = None
                          ) -> tuple[list[str], int]:
    """Check every token shard of the build in `out`.

    Args:
        out: the build's output folder.
        manifest: the loaded ``manifest.json``.
        scan: text -> (entity, start, end) of leaked PII; None skips decoding.

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
                problems += _scan_shards(vocab, prefix, f"tokens/{name}/{source}", scan)
    return problems, checked


def _scan_shards(vocab: Vocabulary, prefix: Path, label: str, scan: Scan) -> list[str]:
    out = []
    reader = ShardReader(prefix)
    for k in range(len(reader)):
        text = decode(vocab, reader[k][:-1])
        for entity, start, end in scan(text):
            out.append(f"{label}: {entity} left in document {k} at characters {start}-{end} "
                       f"of its decoded text")
    return out
