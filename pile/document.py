"""The one record type of the pipeline, and its Arrow schema.

A `Document` is what every stage reads and writes. Its `id` is
``"<source>/<stable key>"`` where the key comes from the upstream record (a title, a
path, a line number in a file), never from a worker-local counter, so ids are equal
across runs and worker counts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

# Meta keys with this prefix are internal hand-offs between stages and the runner
# (audit spans, timings); they never reach the written documents.
PRIVATE_META_PREFIX = "_"

# The line breaks of str.splitlines() that JSON does not escape (it escapes every
# control character below U+0020 already), as ensure_ascii=True would write them.
_LINE_BREAK_ESCAPES = tuple((c, f"\\u{ord(c):04x}") for c in "\u0085\u2028\u2029")


@dataclass(slots=True)
class Document:
    """One document of the corpus.

    Attributes:
        id: ``"<source>/<stable key>"``; unique within the build and stable across runs.
        source: the configured source name (``sources[].name``).
        text: the document's text.
        meta: JSON-serialisable metadata; ``pile_set_name`` is always present once a
            source has produced the document.
    """

    id: str
    source: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """Size of the text in UTF-8 bytes (what stats count)."""
        return len(self.text.encode("utf-8", "surrogatepass"))

    def public_meta(self) -> dict[str, Any]:
        """`meta` without the internal keys, in insertion order."""
        return {k: v for k, v in self.meta.items() if not k.startswith(PRIVATE_META_PREFIX)}

    def to_pile_json(self) -> str:
        """One line of the Pile's ``jsonl`` format: ``{"text": ..., "meta": {...}}``.

        ``id`` is stored in ``meta`` (as the Pile's readers expect only text and meta).
        ``meta.pii`` is in every document (``{}`` when nothing was scrubbed or PII is off):
        a key present in only some documents gives HF ``datasets`` one schema per file,
        and it refuses to join them.

        U+2028, U+2029 and U+0085 are written as ``\\u`` escapes: ``str.splitlines()``
        (and readers built on it) ends a line at each of them, and JSON's own escaping
        leaves them raw. Every other character is written as it is (UTF-8).
        """
        meta = {"pile_set_name": self.meta.get("pile_set_name", self.source), "id": self.id}
        for key, value in self.public_meta().items():
            meta.setdefault(key, value)
        meta.setdefault("pii", {})
        line = json.dumps({"text": self.text, "meta": meta}, ensure_ascii=False)
        # Outside strings json.dumps writes ASCII only, so these are all inside strings.
        for char, escape in _LINE_BREAK_ESCAPES:
            if char in line:  # a C scan; rare, so replace() seldom runs
                line = line.replace(char, escape)
        return line

    def to_row(self) -> dict[str, Any]:
        """The Arrow row (``meta`` as a JSON string, so blocks keep one schema)."""
        return {"id": self.id, "source": self.source, "text": self.text,
                "meta": json.dumps(self.meta, ensure_ascii=False)}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Document:
        """Inverse of `to_row`."""
        meta = row.get("meta") or "{}"
        return cls(id=row["id"], source=row["source"], text=row["text"],
                   meta=json.loads(meta) if isinstance(meta, str) else dict(meta))


def make_id(source: str, key: str | int) -> str:
    """Build a stable document id from the source name and an upstream key (a key that
    carries undecodable bytes, such as a file name that is not UTF-8, is escaped by
    `safe_text`)."""
    return f"{source}/{safe_text(str(key))}"


def _escape_surrogates(match: re.Match[str]) -> str:
    # A lone surrogate U+DC80..U+DCFF is how Python carries an undecodable byte
    # (surrogateescape); any other lone surrogate is written as its code point.
    code = ord(match.group())
    return f"%{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else f"%u{code:04X}"


_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def safe_text(text: str) -> str:
    """`text` made valid Unicode, deterministically: every lone surrogate (an
    undecodable byte of a file name, ``caf\\udce9`` for the byte 0xE9) becomes a
    percent escape (``caf%E9``). Valid text is returned unchanged, so existing ids
    keep their value."""
    return _SURROGATE_RE.sub(_escape_surrogates, text) if _SURROGATE_RE.search(text) else text


SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("text", pa.large_string(), nullable=False),
    pa.field("meta", pa.string(), nullable=False),
])
