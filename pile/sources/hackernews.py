"""Hacker News (the Pile's "HackerNews" component), from the official Firebase API.

Upstream: ``https://hacker-news.firebaseio.com/v0/`` (HackerNews/API README): every
story, comment, job and poll is an item at ``item/<id>.json``; ``maxitem.json`` is the
newest id and ``topstories.json``, ``newstories.json``... list story ids. There is no
official bulk dump, and Y Combinator's terms of use govern the content, so the kind
refuses to download until the config says ``accept_terms: true``.

Selection (options): the ids of a story list (``list``: ``topstories``...; ``limit``
takes its first N), an explicit ``ids`` list, or an id range ``first``..``last``
(``last: max`` reads ``maxitem.json``). Each selected item and the comments its
document needs are kept as ``item/<id>.json`` under ``raw/<source>/``: the downloader
resumes, verifies and caches them, so a rerun fetches only what is missing, with at
most ``per_host`` requests in flight to the API host. The listing grows level by level
(`Source.listing_rounds`): a story's top-level comments first, then, along each chain,
the replies of the comment the chain follows.

The document, as EleutherAI's hn-scraper made the Pile's HackerNews:

- ``<title> - <by>``, then the story URL, then the story text, then ``======``;
- then one chain per top-level comment, chains separated by ``------``; a chain is
  ``<by>`` and the comment's text, then, joined by ``~~~``, the reply with the most
  replies of its own (the first in HN's ranked order on a tie), and so on down;
- HTML (comment and story text) becomes text (`pile.sources.stackexchange.html_to_text`).

hn-scraper put stray blank lines before the header; they are left out. Stories are
kept as hn-scraper kept them: ``type == "story"`` with ``score >= min_score`` and
``descendants >= min_descendants``; anything else is dropped with its reason
(``deleted``, ``dead``, ``nonexistent``, ``not_story``, ``low_score``,
``few_comments``). Deleted, dead, missing (not downloaded) and unreadable comments are
skipped and counted in ``meta.comments_skipped``. A story file that is not JSON fails
that file with `SourceError`. Ids are ``<source>/<item id>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Iterator

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.base import RemoteFile, Source
from pile.sources.stackexchange import html_to_text
from pile.stage import Dropped

API = "https://hacker-news.firebaseio.com/v0"
STORY_LISTS = ("topstories", "newstories", "beststories", "askstories", "showstories",
               "jobstories")
HEADER_RULE = "======"
CHAIN_SEPARATOR = "------"
REPLY_SEPARATOR = "~~~"


def item_name(item_id: int) -> str:
    """Where an item is kept under the source's raw folder (and named in the listing)."""
    return f"item/{item_id}.json"


def _load(path: Path) -> tuple[str, Any]:
    """(``ok``, item) / (``missing``, None) / (``unreadable``, None) / (``null``, None)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return "missing", None
    try:
        item = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "unreadable", None
    if item is None:
        return "null", None  # the API answers `null` for an id that does not exist
    if not isinstance(item, dict):
        return "unreadable", None
    return "ok", item


def comment_state(item: dict[str, Any] | None, status: str) -> str:
    """``live`` for a comment worth following, else why it is skipped."""
    if status != "ok" or item is None:
        return "missing" if status in ("missing", "null") else "unreadable"
    if item.get("deleted"):
        return "deleted"
    if item.get("dead"):
        return "dead"
    if not isinstance(item.get("text"), str) or not item["text"]:
        return "no_text"
    return "live"


def _kids(item: dict[str, Any]) -> list[int]:
    kids = item.get("kids") or []
    return [k for k in kids if isinstance(k, int) and not isinstance(k, bool)]


def _most_replies(candidates: list[dict[str, Any]]) -> dict[str, Any]:
    """The reply a chain follows: most replies of its own, HN's rank order on a tie."""
    best = candidates[0]
    for cand in candidates[1:]:
        if len(_kids(cand)) > len(_kids(best)):
            best = cand
    return best


class _Walk:
    """One story's comment chains over an item folder, and what they still need."""

    def __init__(self, folder: Path, story: dict[str, Any], listing: bool = False) -> None:
        self.folder = folder
        # While listing, a chain waits for all replies of its last comment before it
        # picks one (a reply not yet downloaded may be the one with the most replies).
        self.listing = listing
        self.story = story
        self.needed: list[int] = []
        self.skipped: dict[str, int] = {}
        self.complete = True
        self.chains: list[list[dict[str, Any]]] = []

    def _get(self, item_id: int) -> tuple[dict[str, Any] | None, str]:
        self.needed.append(item_id)
        status, item = _load(self.folder / f"{item_id}.json")
        if status == "missing":
            self.complete = False
        return item, comment_state(item, status)

    def _skip(self, state: str) -> None:
        self.skipped[state] = self.skipped.get(state, 0) + 1

    def run(self) -> "_Walk":
        for kid in _kids(self.story):
            item, state = self._get(kid)
            if state != "live":
                self._skip(state)
                continue
            chain = [item]
            while True:
                replies, waiting = [], False
                for reply_id in _kids(chain[-1]):
                    reply, reply_state = self._get(reply_id)
                    if reply_state == "live":
                        replies.append(reply)
                    else:
                        self._skip(reply_state)
                        waiting = waiting or reply_state == "missing"
                if not replies or (waiting and self.listing):
                    break
                chain.append(_most_replies(replies))
            self.chains.append(chain)
        return self


def story_drop_reason(item: dict[str, Any], min_score: int, min_descendants: int) -> str | None:
    """Why a selected item is not a document, or None (hn-scraper's story rules)."""
    if item.get("deleted"):
        return "deleted"
    if item.get("dead"):
        return "dead"
    if item.get("type") != "story":
        return "not_story"
    if not isinstance(item.get("score"), int) or item["score"] < min_score:
        return "low_score"
    if not isinstance(item.get("descendants"), int) or item["descendants"] < min_descendants:
        return "few_comments"
    return None


def story_text(story: dict[str, Any], chains: list[list[dict[str, Any]]]) -> str:
    """The hn-scraper document of a story and its comment chains."""
    head = [f"{story.get('title') or ''} - {story.get('by') or ''}"]
    if story.get("url"):
        head.append(str(story["url"]))
    body = html_to_text(story.get("text") or "")
    if body:
        head.append(body)
    head.append(HEADER_RULE)
    rendered = []
    for chain in chains:
        comments = [f"{c.get('by') or ''}\n{html_to_text(c['text'])}\n" for c in chain]
        rendered.append(f"{REPLY_SEPARATOR}\n".join(comments))
    return "\n".join(head) + "\n" + f"{CHAIN_SEPARATOR}\n".join(rendered)


class HackerNewsSource(Source):
    """Hacker News stories with their comment chains, from the Firebase API.

    Options:
        list: a story list (``topstories``, ``newstories``, ``beststories``,
            ``askstories``, ``showstories``, ``jobstories``), or "" for none.
        limit: only the first N ids of ``list`` (None: all of it).
        ids: explicit item ids.
        first / last: an id range (``last: max`` = the API's ``maxitem.json``).
        min_score / min_descendants: hn-scraper's thresholds for a story to be kept.
    """

    kind: ClassVar[str] = "hackernews"
    pile_set_name: ClassVar[str] = "HackerNews"
    license: ClassVar[str] = ("Y Combinator Hacker News API terms; comments and stories "
                              "belong to their authors (no bulk licence)")
    upstream: ClassVar[str] = ("hacker-news.firebaseio.com/v0 (Firebase API: item/<id>.json, "
                               "maxitem.json, *stories.json; no official bulk dump)")
    terms: ClassVar[str] = ("Hacker News content is governed by Y Combinator's terms of use "
                            "(news.ycombinator.com); there is no official bulk dump and no "
                            "licence for redistribution")
    # One round per comment level: threads deeper than this stop there.
    listing_rounds: ClassVar[int] = 1000
    options_schema: ClassVar[dict[str, Any]] = {
        "list": "", "limit": None, "ids": [], "first": None, "last": None,
        "min_score": 1, "min_descendants": 1,
    }

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        field = f"sources.{self.name}.options"
        opts = self.options
        if opts["list"] not in ("", *STORY_LISTS):
            raise ConfigError(f"{field}.list: expected one of {', '.join(STORY_LISTS)} or \"\", "
                              f"got {opts['list']!r}")
        for key, least in (("limit", 1), ("first", 1), ("min_score", 0), ("min_descendants", 0)):
            value = opts[key]
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < least):
                raise ConfigError(f"{field}.{key}: expected an integer >= {least}, got {value!r}")
        last = opts["last"]
        if last is not None and last != "max" and (not isinstance(last, int) or isinstance(last, bool)):
            raise ConfigError(f"{field}.last: expected an integer or \"max\", got {last!r}")
        if (opts["first"] is None) != (last is None):
            raise ConfigError(f"{field}.first: an id range needs both first and last")
        if isinstance(last, int) and opts["first"] is not None and opts["first"] > last:
            raise ConfigError(f"{field}.first: must not exceed last ({last}), got {opts['first']}")
        ids = opts["ids"]
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                                and i > 0 for i in ids):
            raise ConfigError(f"{field}.ids: expected a list of positive item ids, got {ids!r}")
        if not (opts["list"] or ids or opts["first"] is not None):
            raise ConfigError(f"{field}: select stories with list, ids or first/last")
        # Stories whose chains are all on disk: their needed ids, so later listing
        # rounds do not read them again (a deep thread makes many rounds).
        self._complete: dict[int, tuple[int, ...]] = {}

    # -- selection and listing ---------------------------------------------------------

    def _list_ids(self, name: str) -> list[int] | None:
        try:
            value = json.loads((self.raw_dir / name).read_bytes())
        except (OSError, ValueError):
            return None
        if isinstance(value, list):
            return [i for i in value if isinstance(i, int) and not isinstance(i, bool)]
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        return None

    def selection(self) -> tuple[list[RemoteFile], list[int]]:
        """The listing files (story list, maxitem) and the selected item ids known so far."""
        opts = self.options
        listings: list[RemoteFile] = []
        ids: list[int] = list(opts["ids"])
        if opts["list"]:
            name = f"{opts['list']}.json"
            listings.append(RemoteFile(url=f"{API}/{name}", name=name))
            listed = self._list_ids(name) or []
            ids += listed[: opts["limit"]] if opts["limit"] else listed
        if opts["first"] is not None:
            last = opts["last"]
            if last == "max":
                listings.append(RemoteFile(url=f"{API}/maxitem.json", name="maxitem.json"))
                got = self._list_ids("maxitem.json")
                last = got[0] if got else None
            if last is not None:
                ids += range(opts["first"], last + 1)
        return listings, list(dict.fromkeys(ids))

    def list_files(self) -> list[RemoteFile]:
        """The story lists, the selected items and the comments their chains need so far
        (it grows as the downloader brings each level in)."""
        if self.cfg.urls:
            return super().list_files()
        listings, ids = self.selection()
        needed: dict[int, None] = {}
        folder = self.raw_dir / "item"
        for story_id in ids:
            needed[story_id] = None
            if story_id in self._complete:
                needed.update(dict.fromkeys(self._complete[story_id]))
                continue
            status, story = _load(folder / f"{story_id}.json")
            if status != "ok" or story_drop_reason(story, self.options["min_score"],
                                                   self.options["min_descendants"]):
                continue
            walk = _Walk(folder, story, listing=True).run()
            needed.update(dict.fromkeys(walk.needed))
            if walk.complete:
                self._complete[story_id] = tuple(walk.needed)
        return listings + [RemoteFile(url=f"{API}/{item_name(i)}", name=item_name(i))
                           for i in needed]

    def inputs(self) -> list[Path]:
        """The selected items on disk (their comments are read through them), or the
        configured ``paths``."""
        if self.cfg.paths or self.cfg.urls:
            return super().inputs()
        _, ids = self.selection()
        paths = [self.raw_dir / item_name(i) for i in ids]
        return [p for p in paths if p.is_file()]

    # -- extraction --------------------------------------------------------------------

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """One selected item file -> its story document (comments from the same folder).

        Raises:
            SourceError: the item file is not JSON.
        """
        path = Path(path)
        status, item = _load(path)
        key = path.name.removesuffix(".json")
        if status == "unreadable":
            raise SourceError(f"{path}: not a Hacker News item (not a JSON object)")
        if status == "null":
            yield self.dropped(key, "nonexistent")
            return
        if status == "missing":
            raise SourceError(f"{path}: no such file")
        item_id = str(item.get("id", key))
        reason = story_drop_reason(item, self.options["min_score"], self.options["min_descendants"])
        if reason:
            yield self.dropped(item_id, reason, type=item.get("type"))
            return
        walk = _Walk(path.parent, item).run()
        meta = {"hn_id": item.get("id"), "by": item.get("by"), "time": item.get("time"),
                "score": item.get("score"), "descendants": item.get("descendants"),
                "comments": sum(len(c) for c in walk.chains),
                "comments_skipped": dict(sorted(walk.skipped.items()))}
        if item.get("url"):
            meta["url"] = item["url"]
        yield self.document(item_id, story_text(item, walk.chains), **meta)


__all__ = ["API", "HackerNewsSource", "STORY_LISTS", "item_name", "story_drop_reason",
           "story_text"]
