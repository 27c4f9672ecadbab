"""``pile show``: a build's samples as text, for a terminal without a browser.

Reads what the build wrote under ``OUT/samples/`` (`pile.samples`, `pile.report.task`):
the kept documents of each source, the dropped ones per reason with the rule's numbers,
the PII passages and the near-duplicate pairs (the removed text as a word diff against
the one it duplicates: ``[-only in the kept one-]{+only in the removed one+}``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pile.errors import ConfigError, PileError
from pile.report.page import no_text, word_changes

RULE = "─" * 8


def load_samples(out: Path) -> dict[str, list[dict[str, Any]]]:
    """Source -> its sample records, from ``OUT/samples/sources/<source>.jsonl``.

    Raises:
        PileError: the folder holds no samples (not a build, or one from before them).
    """
    folder = Path(out) / "samples" / "sources"
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    if not files:
        raise PileError(f"{out}: no samples/sources/*.jsonl (not a finished build? `pile build` writes them)")
    found = {}
    for path in files:
        try:
            found[path.stem] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        except json.JSONDecodeError as exc:
            raise PileError(f"{path}: not JSON Lines (line {exc.lineno})") from None
    return found


def matches(group: str, wanted: str) -> bool:
    """A drop group (``stage:reason``) named by `wanted`: itself, its stage, its reason or ``all``."""
    stage, _, reason = group.partition(":")
    return wanted in ("all", group, stage, reason)


def header(parts: list[str]) -> str:
    return f"{RULE} {' · '.join(p for p in parts if p)} {RULE}"


def chars_note(rec: dict[str, Any]) -> str:
    shown, total = len(rec.get("text", "")), rec.get("chars", 0)
    return f"{total:,} characters" + (f" ({shown:,} shown)" if total > shown else "")


def sample_text(source: str, rec: dict[str, Any]) -> str:
    numbers = ", ".join(f"{k}={v}" for k, v in rec.get("numbers", {}).items())
    lines = [header([source, rec["group"], rec["id"], chars_note(rec)])]
    if numbers:
        lines.append(f"numbers: {numbers}")
    lines.append(rec.get("text") or no_text(rec))
    return "\n".join(lines) + "\n"


def word_diff(left: str, right: str) -> str:
    """`right` against `left`: ``[-gone-]`` and ``{+new+}`` around the words that differ."""
    out = []
    for same, x, y in word_changes(left, right):
        if same:
            out.append(x)
            continue
        if x:
            out.append(f"[-{x}-]")
        if y:
            out.append(f"{{+{y}+}}")
    return "".join(out)


def pairs_text(out: Path, source: str | None, n: int) -> str:
    path = Path(out) / "samples" / "duplicates.jsonl"
    if not path.is_file():
        raise PileError(f"{out}: no samples/duplicates.jsonl (dedup off, or not a finished build)")
    pairs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    if source is not None:
        pairs = [p for p in pairs if source in (p["source"], p["duplicate_source"])]
    if not pairs:
        return "no duplicate pairs were sampled" + (f" for {source}" if source else "") + "\n"
    blocks = []
    for p in pairs[:n]:
        kept, removed = p["duplicate"], p["removed"]
        blocks.append("\n".join([
            header([p["reason"], f"estimated Jaccard {p['jaccard']}" if p.get("jaccard") is not None else ""]),
            f"kept:    {kept['id']} ({p['duplicate_source']}, {chars_note(kept)})",
            f"removed: {removed['id']} ({p['source']}, {chars_note(removed)})", "",
            "the removed text against the kept one ([-only kept-] {+only removed+}):", "",
            word_diff(kept.get("text", ""), removed.get("text", ""))]) + "\n")
    return "\n".join(blocks)


def show(out: Path, source: str | None = None, dropped: str | None = None, duplicates: bool = False,
         pii: bool = False, n: int = 3) -> str:
    """The text ``pile show`` prints.

    Args:
        out: the build folder.
        source: only this source.
        dropped: the dropped documents of this reason (``stage:reason``, a stage, a
            reason such as ``too_short``, or ``all``) instead of the kept ones.
        duplicates: the near-duplicate pairs instead.
        pii: the PII passages instead.
        n: at most this many samples per group (the build kept ``report.samples``).

    Raises:
        ConfigError: an unknown source or reason, or a bad `n`.
        PileError: the build has no samples.
    """
    if n < 1:
        raise ConfigError(f"-n: must be >= 1, got {n}")
    if sum(map(bool, (dropped, duplicates, pii))) > 1:
        raise ConfigError("--dropped, --duplicates and --pii: choose one")
    samples = load_samples(out)
    if source is not None and source not in samples:
        raise ConfigError(f"--source: no samples of {source!r}; the build has {', '.join(sorted(samples))}")
    if duplicates:
        return pairs_text(out, source, n)
    names = [source] if source is not None else list(samples)
    kind = "dropped" if dropped else "pii" if pii else "kept"
    blocks: list[str] = []
    groups: set[str] = set()
    for name in names:
        taken: dict[str, int] = {}
        for rec in samples[name]:
            if rec["kind"] != kind:
                continue
            groups.add(rec["group"])
            if dropped and not matches(rec["group"], dropped):
                continue
            if taken.get(rec["group"], 0) < n:
                taken[rec["group"]] = taken.get(rec["group"], 0) + 1
                blocks.append(sample_text(name, rec))
    if dropped and not blocks:
        known = ", ".join(sorted(groups)) or "none: nothing was dropped"
        raise ConfigError(f"--dropped: no sample dropped as {dropped!r}; reasons sampled: {known}")
    if not blocks:
        return f"no {kind} samples" + (f" of {source}" if source else "") + "\n"
    return "\n".join(blocks)


__all__ = ["load_samples", "matches", "show", "word_diff"]
