"""Stack Exchange: per-site data dumps (``Posts.xml``), one question with its answers.

Upstream: the Stack Exchange data dump on archive.org (``archive.org/download/
stackexchange/<site>.7z``; Stack Overflow's posts are ``stackoverflow.com-Posts.7z``).
The Pile built this component with EleutherAI's ``stackexchange_dataset`` pairer: for
every question with answers, the text is::

    Q:

    <title>

    <question body>

    A:

    <best answer body>

    A:

    <next answer body>

with the answers ordered by score, highest first, keeping answers whose score is at
least ``min_answer_score`` (the pairer's ``min_score=3``) and at most ``max_answers``
of them (its ``max_responses=3``); HTML is rendered to text. Both limits are options
(``max_answers: 0`` keeps every answer).

Input: a site's ``.7z`` (read member by member with `pile.sources.archive.iter_archive`,
never extracted whole), or a plain ``Posts.xml`` (a local ``paths:`` folder as the
dump's layout has). Rows are streamed with `pile.sources.xmlsafe.iterparse`; a
question is held (as raw HTML, answers below the score threshold not even that) only
until its ``AnswerCount`` answers have been seen, then emitted. Questions whose answers
never all arrive (deleted answers) are emitted at the end, in id order.

The questions waiting for answers are held in memory up to ``spill_bytes`` of text
(`PendingQuestions`); past that they move to an on-disk SQLite table in the system's
temporary folder, and the rest of the file is paired there, so Stack Overflow's Posts.xml
(tens of millions of questions whose answers come years of ids later) runs in bounded
memory. The documents and their order are the same either way.

Document ids are ``<source>/<site>/<question id>``.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Iterator

import lxml.etree
import lxml.html

from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.archive import iter_archive, refuse_empty, sniff
from pile.sources.base import RemoteFile, Source, expand_paths
from pile.sources.xmlsafe import iterparse
from pile.stage import Dropped

log = logging.getLogger(__name__)

ARCHIVE_ITEM = "https://archive.org/download/stackexchange"
METADATA_URL = "https://archive.org/metadata/stackexchange"
LISTING_FILE = ".listing.json"

_PARAGRAPH_TAGS = {"p", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
                   "table", "hr", "div", "dl"}
_LINE_TAGS = {"li", "tr", "dt", "dd", "br"}
_DROP_TAGS = {"script", "style"}
_BLANKS_RE = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_TRAILING_RE = re.compile(r"[ \t]+\n")


def html_to_text(fragment: str) -> str:
    """Render a post's HTML as text: paragraphs as blank-line blocks, code kept verbatim.

    Tags go, their text stays (links keep their words, ``<code>`` its code); block
    elements start new paragraphs and list items new lines, the way the Pile's
    BeautifulSoup ``get_text()`` output reads, without its runs of empty lines.
    """
    if not fragment or not fragment.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return fragment.strip()
    return element_text(root)


def element_text(root: Any) -> str:
    """`html_to_text` of an already parsed element (an EPUB chapter's ``<body>``...)."""
    parts: list[str] = []

    def walk(el: Any) -> None:
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if tag in _DROP_TAGS:
            return
        if tag in _PARAGRAPH_TAGS:
            parts.append("\n\n")
        elif tag in _LINE_TAGS:
            parts.append("\n")
        if tag and el.text:
            parts.append(el.text)
        for child in el:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if tag in _PARAGRAPH_TAGS:
            parts.append("\n\n")

    try:
        walk(root)
        text = "".join(parts)
    except RecursionError:  # absurdly nested markup: plain text without layout
        text = root.text_content()
    text = _TRAILING_RE.sub("\n", text.replace("\r\n", "\n"))
    return _BLANKS_RE.sub("\n\n", text).strip()


@dataclass
class Question:
    """A question waiting for its answers, and the answers kept so far."""

    post_id: int
    title: str
    body: str
    expected: int
    seen: int = 0
    answers: list[tuple[int, int, str]] = field(default_factory=list)  # (score, id, body)


class PendingQuestions:
    """The questions of one ``Posts.xml`` still waiting for answers, with their kept answers.

    In memory while their text stays under `spill_bytes`; then everything moves to a
    SQLite file (deleted on `close`) and stays there for the rest of the file, so the
    text held in memory never passes the bound (`peak_bytes` counts it).
    """

    def __init__(self, spill_bytes: int) -> None:
        self.spill_bytes = spill_bytes
        self.memory: dict[int, Question] = {}
        self.held = 0
        self.peak_bytes = 0
        self.db: sqlite3.Connection | None = None
        self._db_path = ""

    @property
    def spilled(self) -> bool:
        return self.db is not None

    def add_question(self, question: Question) -> None:
        if self.db is not None:
            self._insert([question])
            return
        self.memory[question.post_id] = question
        self._grow(len(question.title) + len(question.body))

    def add_answer(self, parent: int, score: int, answer_id: int, body: str | None
                   ) -> tuple[bool, Question | None]:
        """Count an answer of `parent` (keep its `body` unless None).

        Returns:
            (whether `parent` is pending, the question with its kept answers once this
            was its last expected answer -- then it is no longer pending).
        """
        if self.db is not None:
            return self._add_answer_db(parent, score, answer_id, body)
        question = self.memory.get(parent)
        if question is None:
            return False, None
        question.seen += 1
        if body is not None:
            question.answers.append((score, answer_id, body))
            self._grow(len(body))
        if question.seen < question.expected:
            return True, None
        del self.memory[parent]
        self.held -= len(question.title) + len(question.body) + sum(len(a[2]) for a in question.answers)
        return True, question

    def remaining(self) -> Iterator[Question]:
        """The questions still pending at the end of the file, in id order."""
        if self.db is None:
            for post_id in sorted(self.memory):
                yield self.memory[post_id]
            return
        ids = [row[0] for row in self.db.execute("SELECT id FROM q ORDER BY id")]
        for post_id in ids:  # ids only: 8 bytes per still-pending question
            yield self._load(post_id)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
            try:
                os.unlink(self._db_path)
            except OSError:
                pass

    # -- internals -----------------------------------------------------------------------

    def _grow(self, size: int) -> None:
        self.held += size
        if self.held > self.spill_bytes:
            self._spill()
        self.peak_bytes = max(self.peak_bytes, self.held)

    def _spill(self) -> None:
        fd, self._db_path = tempfile.mkstemp(prefix="pile-stackexchange-", suffix=".sqlite")
        os.close(fd)
        self.db = sqlite3.connect(self._db_path)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA cache_size=-16384")  # 16 MiB of pages, whatever the dump
        self.db.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, title TEXT, body TEXT, "
                        "expected INTEGER, seen INTEGER)")
        self.db.execute("CREATE TABLE a (qid INTEGER, score INTEGER, id INTEGER, body TEXT)")
        self.db.execute("CREATE INDEX a_qid ON a (qid)")
        log.info("more than %d bytes of questions wait for answers: pairing on disk (%s)",
                 self.spill_bytes, self._db_path)
        self._insert(list(self.memory.values()))
        self.memory.clear()
        self.held = 0

    def _insert(self, questions: list[Question]) -> None:
        assert self.db is not None
        self.db.executemany("INSERT INTO q VALUES (?, ?, ?, ?, ?)",
                            [(q.post_id, q.title, q.body, q.expected, q.seen) for q in questions])
        self.db.executemany("INSERT INTO a VALUES (?, ?, ?, ?)",
                            [(q.post_id, *a) for q in questions for a in q.answers])

    def _add_answer_db(self, parent: int, score: int, answer_id: int, body: str | None
                       ) -> tuple[bool, Question | None]:
        assert self.db is not None
        row = self.db.execute("SELECT expected, seen FROM q WHERE id = ?", (parent,)).fetchone()
        if row is None:
            return False, None
        if body is not None:
            self.db.execute("INSERT INTO a VALUES (?, ?, ?, ?)", (parent, score, answer_id, body))
        if row[1] + 1 < row[0]:
            self.db.execute("UPDATE q SET seen = ? WHERE id = ?", (row[1] + 1, parent))
            return True, None
        return True, self._load(parent)

    def _load(self, post_id: int) -> Question:
        """Take one question and its answers out of the table."""
        assert self.db is not None
        title, body, expected, seen = self.db.execute(
            "SELECT title, body, expected, seen FROM q WHERE id = ?", (post_id,)).fetchone()
        answers = [tuple(r) for r in self.db.execute(
            "SELECT score, id, body FROM a WHERE qid = ? ORDER BY rowid", (post_id,))]
        self.db.execute("DELETE FROM q WHERE id = ?", (post_id,))
        self.db.execute("DELETE FROM a WHERE qid = ?", (post_id,))
        return Question(post_id, title, body, expected, seen, answers)  # type: ignore[arg-type]


def site_name(path: Path) -> str:
    """The site a dump file belongs to (``cstheory.stackexchange.com.7z`` -> the domain)."""
    name = path.name
    if name.lower().endswith(".7z"):
        stem = name[:-3]
        return stem.split("-", 1)[0] if stem.endswith("-Posts") else stem
    return path.parent.name or "site"


class StackExchangeSource(Source):
    """The Stack Exchange network, question by question.

    Options:
        sites: ``all`` (every ``.7z`` of the archive.org item, listed from its metadata
            and cached in ``raw/<source>/.listing.json``) or a list of site domains
            (``[cstheory.stackexchange.com, stackoverflow.com]``).
        include_meta: with ``all``, also take the ``*.meta.*`` sites.
        min_answer_score: answers scoring below this are left out (the Pile: 3).
        max_answers: at most this many answers per question, best first (the Pile: 3;
            0 = all).
        spill_bytes: the text of the questions waiting for answers held in memory;
            past it they are paired in an on-disk table (`PendingQuestions`).
    """

    kind: ClassVar[str] = "stackexchange"
    pile_set_name: ClassVar[str] = "StackExchange"
    license: ClassVar[str] = "CC BY-SA 2.5 / 3.0 / 4.0 (by post date), with attribution"
    upstream: ClassVar[str] = "archive.org/details/stackexchange per-site .7z dumps (Posts.xml)"
    options_schema: ClassVar[dict[str, Any]] = {"sites": "all", "include_meta": True,
                                                "min_answer_score": 3, "max_answers": 3,
                                                "spill_bytes": 256 * 1024 * 1024}

    def __init__(self, cfg: Any, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        field_ = f"sources.{self.name}.options"
        sites = self.options["sites"]
        if isinstance(sites, str):
            if sites != "all":
                sites = [sites]
        if sites != "all":
            if not isinstance(sites, (list, tuple)) or not sites or \
                    not all(isinstance(s, str) and re.fullmatch(r"[a-z0-9.\-]+", s) for s in sites):
                raise ConfigError(f"{field_}.sites: expected 'all' or a list of site domains "
                                  f"such as cstheory.stackexchange.com, got {sites!r}")
            sites = list(sites)
        self.options["sites"] = sites
        for key in ("min_answer_score", "max_answers", "spill_bytes"):
            value = self.options[key]
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{field_}.{key}: expected an integer, got {value!r}")
        if self.options["spill_bytes"] < 0:
            raise ConfigError(f"{field_}.spill_bytes: must be >= 0, got "
                              f"{self.options['spill_bytes']}")
        if self.options["max_answers"] < 0:
            raise ConfigError(f"{field_}.max_answers: must be >= 0 (0 keeps all), got "
                              f"{self.options['max_answers']}")
        if not isinstance(self.options["include_meta"], bool):
            raise ConfigError(f"{field_}.include_meta: expected true or false, got "
                              f"{self.options['include_meta']!r}")

    # -- listing ---------------------------------------------------------------------------

    def list_files(self) -> list[RemoteFile]:
        if self.cfg.urls:
            return super().list_files()
        sites = self.options["sites"]
        if sites == "all":
            return self._listing()
        return [RemoteFile(url=f"{ARCHIVE_ITEM}/{_dump_name(s)}", name=_dump_name(s))
                for s in sites]

    def _listing(self) -> list[RemoteFile]:
        """Every site dump named by the archive.org item's metadata (cached on disk)."""
        from pile.sources.download import cached_json

        data = cached_json(METADATA_URL, self.raw_dir / LISTING_FILE)
        return parse_listing(data, include_meta=self.options["include_meta"])

    def inputs(self) -> list[Path]:
        """The ``.7z`` dumps and ``Posts.xml`` files (local ``paths`` or downloaded)."""
        if self.cfg.paths:
            files = expand_paths(self.cfg.paths, f"sources.{self.name}.paths")
        else:
            files = super().inputs()
        return [p for p in files if _is_posts_input(p)]

    # -- extraction ------------------------------------------------------------------------

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """Questions with their answers from one ``.7z`` dump or ``Posts.xml`` file."""
        path = Path(path)
        site = site_name(path)
        if path.name.lower().endswith(".7z"):
            refuse_empty(path, "7z")
        if sniff(path) == "7z":
            found = False
            for member, fh in iter_archive(path):
                if Path(member).name.lower() == "posts.xml":
                    found = True
                    yield from self.read_posts(fh, site, label=f"{path}:{member}")
            if not found:
                raise SourceError(f"{path}: expected a Posts.xml member in the 7z dump, "
                                  "found none")
        else:
            yield from self.read_posts(path, site, label=str(path))

    def read_posts(self, source: IO[bytes] | Path, site: str, label: str = ""
                   ) -> Iterator[Document | Dropped]:
        """Pair questions and answers from a ``Posts.xml`` stream (see the module doc)."""
        min_score = self.options["min_answer_score"]
        pending = PendingQuestions(self.options["spill_bytes"])
        orphans = 0
        try:
            for row in iterparse(source, {"row"}, self.max_record_bytes, label or None):
                kind = row.get("PostTypeId")
                try:
                    post_id = int(row.get("Id", ""))
                except ValueError:
                    raise SourceError(f"{label}: a row without a numeric Id") from None
                if kind == "1":
                    expected = _int(row.get("AnswerCount"))
                    if expected <= 0:
                        yield self.dropped(f"{site}/{post_id}", "no_answers", site=site)
                        continue
                    pending.add_question(Question(post_id, row.get("Title") or "",
                                                   row.get("Body") or "", expected))
                elif kind == "2":
                    score = _int(row.get("Score"))
                    body = (row.get("Body") or "") if score >= min_score else None
                    found, done = pending.add_answer(_int(row.get("ParentId")), score,
                                                     post_id, body)
                    if not found:
                        orphans += 1  # the question was deleted, or came earlier and is done
                    elif done is not None:
                        yield self._emit(done, site)
            for question in pending.remaining():
                yield self._emit(question, site)
        finally:
            pending.close()
        if orphans:
            log.debug("%s: %d answers without a pending question", label, orphans)

    def _emit(self, question: Question, site: str) -> Document | Dropped:
        key = f"{site}/{question.post_id}"
        # Score first, then the older answer (lower id) on ties: a stable order.
        ranked = sorted(question.answers, key=lambda a: (-a[0], a[1]))
        if not ranked:
            return self.dropped(key, "no_answer_above_min_score", site=site)
        limit = self.options["max_answers"] or len(ranked)
        answers: list[str] = []
        for _, _, body in ranked:
            if len(answers) == limit:
                break
            text = html_to_text(body)
            if text:  # an answer that is only an image or a link has no text
                answers.append(text)
        if not answers:
            return self.dropped(key, "answers_without_text", site=site)
        # Titles are plain text in the dump (only bodies are HTML).
        parts = ["Q:", " ".join(question.title.split()), html_to_text(question.body)]
        for answer in answers:
            parts += ["A:", answer]
        text = "\n\n".join(p for p in parts if p)
        return self.document(key, text, site=site, question_id=question.post_id,
                             answers=len(answers))


def _int(value: str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _dump_name(site: str) -> str:
    return "stackoverflow.com-Posts.7z" if site == "stackoverflow.com" else f"{site}.7z"


def _is_posts_input(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".7z") or name == "posts.xml" or name.startswith("posts.xml.")


def parse_listing(metadata: dict[str, Any], include_meta: bool = True) -> list[RemoteFile]:
    """The site dumps in archive.org item metadata (``{"files": [{"name", "size",
    "md5", "sha1"}...]}``), each with its published size and sha1 (md5 without one).

    Stack Overflow is split per table; only its ``-Posts.7z`` part is taken.
    """
    out = []
    for entry in metadata.get("files", []):
        name = entry.get("name", "")
        if not name.endswith(".7z") or "/" in name:
            continue
        if name.startswith("stackoverflow.com-") and name != "stackoverflow.com-Posts.7z":
            continue
        if not include_meta and ".meta." in name:
            continue
        size = entry.get("size")
        digest = next((f"{algo}:{entry[algo]}" for algo in ("sha1", "md5")
                       if isinstance(entry.get(algo), str)), None)
        out.append(RemoteFile(url=f"{ARCHIVE_ITEM}/{name}", name=name, checksum=digest,
                              size=int(size) if str(size or "").isdigit() else None))
    return sorted(out, key=lambda f: f.name)


__all__ = ["PendingQuestions", "Question", "StackExchangeSource", "html_to_text", "parse_listing",
           "site_name"]
