"""Wikipedia: the pages-articles XML dump, one article per document, wikitext as plain text.

Upstream: ``dumps.wikimedia.org/<lang>wiki/<date>/<lang>wiki-<date>-pages-articles-
multistream.xml.bz2`` (a bzip2 file of many concatenated streams; Python's `bz2` reads
them all in sequence). The Pile took English Wikipedia from TensorFlow Datasets'
``wikipedia/20200301.en``, which renders wikitext with mwparserfromhell; its documents
are the title, a blank line, then the article text. We do the same, with a renderer that
walks the parse tree itself instead of calling ``strip_code()`` alone, because
``strip_code()`` keeps the text of ``<ref>`` citations, of images' captions and of
tables, and leaves category and interlanguage links' names in the text:

- templates (``{{...}}``) are dropped, except a few that only wrap prose (``nowrap``,
  ``lang``, ``convert``...), which keep their words;
- ``<ref>`` citations, tables (wiki ``{| |}`` and HTML), galleries, math, comments and
  magic words (``__TOC__``) are dropped;
- links keep their visible text; file/image/media, category and interlanguage links go;
- headings stay as lines of their own, and a heading whose section became empty
  (``References``, ``External links`` once their lists are gone) is dropped;
- anything that still looks like markup after the walk (``{{``, ``[[``, ``<ref``, from
  unbalanced wikitext) is removed by a last regex pass.

Redirects and pages outside the article namespace (``ns`` 0) are dropped with a reason.
Pages are streamed with `pile.sources.xmlsafe.iterparse`, so memory holds one page at a
time; a page whose wikitext exceeds ``max_page_chars`` is dropped (``too_large``)
rather than rendered. The behaviour name is ``wikitext_v1``.
"""

from __future__ import annotations

import html
import io
import logging
import re
from pathlib import Path
from typing import Any, ClassVar, Iterator

import mwparserfromhell
from mwparserfromhell import nodes
from mwparserfromhell.wikicode import Wikicode

from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.base import LISTING_DIR, RemoteFile, Source, even_spans
from pile.sources.bz2streams import ChunkReader, SpanStreams, is_multistream, next_stream
from pile.sources.xmlsafe import iterparse, local_name
from pile.stage import Dropped

log = logging.getLogger(__name__)

RENDERER = "wikitext_v1"

# Link namespaces whose target is not prose (English names and their aliases).
_DROP_LINK_NS = {"file", "image", "media", "category", "wikipedia", "wp", "template",
                 "help", "portal", "special", "user", "talk", "module", "draft", "mediawiki"}
# Interlanguage / interwiki prefixes: a 2-3 letter code or a hyphenated wiki code.
_INTERWIKI_RE = re.compile(r"^(?:[a-z]{2,3}(?:-[a-z0-9]+)*|simple|wikt|wiktionary|commons|"
                           r"meta|species|wikisource|wikiquote|wikinews|wikibooks|"
                           r"wikiversity|wikivoyage|wikidata|d|s|q|n|b|v|voy|mw)$")
# Tags whose content is not prose.
_DROP_TAGS = {"ref", "references", "gallery", "timeline", "imagemap", "score", "templatedata",
              "graph", "mapframe", "maplink", "inputbox", "categorytree", "section", "math",
              "chem", "ce", "table", "noinclude", "indicator", "references-list", "hiero",
              "syntaxhighlight", "source", "style", "script"}
_BREAK_TAGS = {"br", "p", "div", "li", "dd", "dt", "tr", "blockquote", "poem", "pre"}
# Templates that only wrap words: name -> which positional parameter holds the words.
_WRAP_TEMPLATES = {"nowrap": 1, "nobr": 1, "nobreak": 1, "small": 1, "smaller": 1, "big": 1,
                   "larger": 1, "sic": 1, "lang": 2, "transl": 2, "transliteration": 2,
                   "em": 1, "strong": 1, "var": 1, "nihongo": 1, "ill": 1, "interlanguage link": 1,
                   "visible anchor": 1, "vanchor": 1, "mvar": 1, "math": 1, "bracket": 1,
                   "keypress": 1, "code": 1, "as written": 1, "abbr": 1, "lang-x": 1}
_CONVERT = {"convert", "cvt"}

_MAGIC_RE = re.compile(r"__[A-Z]{3,}__")
_LEFTOVER_LINK_RE = re.compile(r"\[\[(?:[^\[\]|]*\|)?([^\[\]]*)\]\]")
_LEFTOVER_TEMPLATE_RE = re.compile(r"\{\{[^{}]*\}\}")
_LEFTOVER_REF_RE = re.compile(r"<ref[^>]*/>|<ref[^>]*>.*?</ref\s*>|</?ref[^>]*>?",
                              re.IGNORECASE | re.DOTALL)
_LEFTOVER_HTML_RE = re.compile(
    r"</?(?:div|span|center|small|big|font|sup|sub|s|u|b|i|em|strong|tt|code|abbr|cite|"
    r"blockquote|poem|p|br|hr|ul|ol|li|dl|dt|dd|table|tr|td|th|caption|gallery|nowiki|"
    r"onlyinclude|includeonly|noinclude|ref|references|math|chem|score|timeline|syntaxhighlight|"
    r"source|pre|mapframe|templatestyles|section|bdi|wbr|var|kbd|samp|q|del|ins|mark|rp|rt|ruby)"
    r"\b[^<>]*>", re.IGNORECASE)
_LEFTOVER_TABLE_RE = re.compile(r"^\s*(?:\{\||\|\}|\|-|\|\+).*$", re.MULTILINE)
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_REF_RE = re.compile(r"<ref\b[^>]*/>|<ref\b[^>]*>.*?</ref\s*>", re.IGNORECASE | re.DOTALL)
_BRACE_RE = re.compile(r"\{\{|\}\}")
_TEMPLATE_NAME_RE = re.compile(r"([^|{}<\n]*)")
_QUOTES_RE = re.compile(r"'{2,}")
_HEADING_MARK = "\x00H"
_BLANKS_RE = re.compile(r"\n{3,}")
_SPACES_RE = re.compile(r"[ \t\u00a0]{2,}")
_SPACE_BEFORE_PUNCT_RE = re.compile(r" +([,.;:!?)])")
_EMPTY_PARENS_RE = re.compile(r"\([ \t]*[,;]?[ \t]*\)")
_PAREN_OPEN_PUNCT_RE = re.compile(r"\([ \t]*[,;][ \t]*")
_PAREN_CLOSE_PUNCT_RE = re.compile(r"[,;][ \t]*\)")  # spaces before: _SPACE_BEFORE_PUNCT_RE


def _template_name(node: nodes.Template) -> str:
    return str(node.name).strip().lower().replace("_", " ")


def _positional(node: nodes.Template, index: int) -> Wikicode | None:
    count = 0
    for param in node.params:
        if param.showkey:
            continue
        count += 1
        if count == index:
            return param.value
    return None


class _Renderer:
    """Walks a parse tree into plain text (one instance per page, no shared state)."""

    def render(self, code: Wikicode | None) -> str:
        if code is None:
            return ""
        out: list[str] = []
        for node in code.nodes:
            out.append(self.node(node))
        return "".join(out)

    def node(self, node: Any) -> str:  # noqa: C901 - one branch per node type
        if isinstance(node, nodes.Text):
            return node.value
        if isinstance(node, nodes.Wikilink):
            return self.wikilink(node)
        if isinstance(node, nodes.ExternalLink):
            if node.brackets:
                return self.render(node.title) if node.title is not None else ""
            return str(node.url)
        if isinstance(node, nodes.Template):
            return self.template(node)
        if isinstance(node, nodes.Tag):
            return self.tag(node)
        if isinstance(node, nodes.Heading):
            title = " ".join(self.render(node.title).split())
            return f"\n{_HEADING_MARK}{node.level}\x00{title}\n" if title else "\n"
        if isinstance(node, nodes.HTMLEntity):
            return node.normalize()
        # Comments, template arguments ({{{1}}}) and anything unknown carry no prose.
        return ""

    def wikilink(self, node: nodes.Wikilink) -> str:
        title = str(node.title).strip()
        inline = title.startswith(":")  # [[:Category:X]] is a link, not a categorisation
        target = title.lstrip(":")
        if ":" in target:
            prefix = target.split(":", 1)[0].strip().lower()
            if not inline and (prefix in _DROP_LINK_NS or _INTERWIKI_RE.match(prefix)):
                return ""
        if node.text is not None:
            return self.render(node.text)
        if target.startswith("#"):
            return target[1:]
        return target.split("#", 1)[0] if "#" in target else target

    def template(self, node: nodes.Template) -> str:
        name = _template_name(node)
        if name.startswith("lang-"):
            value = _positional(node, 1)
            return self.render(value) if value is not None else ""
        if name in _CONVERT:
            amount, unit = _positional(node, 1), _positional(node, 2)
            if amount is None:
                return ""
            text = self.render(amount).strip()
            if unit is not None:
                unit_text = self.render(unit).strip()
                if unit_text and unit_text not in ("-", "to", "and", "or", "and(-)", "+/-"):
                    text += f" {unit_text}"
            return text
        index = _WRAP_TEMPLATES.get(name)
        if index is not None:
            value = _positional(node, index)
            return self.render(value) if value is not None else ""
        return ""

    def tag(self, node: nodes.Tag) -> str:
        name = str(node.tag).strip().lower()
        markup = node.wiki_markup
        if name in _DROP_TAGS or markup in ("{|",):
            return ""
        if name in ("br", "hr"):
            return "\n"
        if node.self_closing or node.contents is None:
            return ""
        inner = self.render(node.contents)
        if name in _BREAK_TAGS:
            return f"\n{inner}\n"
        return inner


def _keep_template(name: str) -> bool:
    return name in _WRAP_TEMPLATES or name in _CONVERT or name.startswith("lang-")


def _strip_templates(text: str) -> str:
    """Cut every outermost ``{{...}}`` except the prose-wrapping ones, by brace counting.

    Infoboxes and citation templates are most of a page's markup and the slowest part
    of mwparserfromhell's tree building; cutting them first makes rendering several
    times faster. Unbalanced braces are left for the parser and the leftover pass.
    """
    if "{{" not in text:
        return text
    out: list[str] = []
    pos = depth = start = 0
    for match in _BRACE_RE.finditer(text):
        if match.group() == "{{":
            if depth == 0:
                start = match.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                name = _TEMPLATE_NAME_RE.match(text, start + 2).group(1)  # type: ignore[union-attr]
                if not _keep_template(name.strip().lower().replace("_", " ")):
                    out.append(text[pos:start])
                    pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def _strip_tables(text: str) -> str:
    """Cut wiki tables (``{|`` ... ``|}`` at line starts, nested ones included)."""
    if "{|" not in text:
        return text
    out: list[str] = []
    depth = 0
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("{|"):
            depth += 1
            continue
        if depth:
            if stripped.startswith("|}"):
                depth -= 1
            continue
        out.append(line)
    return "\n".join(out)


def _prestrip(wikitext: str) -> str:
    """Remove, with cheap scans, the markup whose content is dropped anyway."""
    text = _COMMENT_RE.sub("", wikitext)
    text = _REF_RE.sub("", text)
    text = _strip_templates(text)
    text = _strip_tables(text)
    return _QUOTES_RE.sub("", text)  # bold/italic marks; parsing them is slow


def wikitext_to_text(wikitext: str) -> str:
    """Render wikitext as plain text (behaviour ``wikitext_v1``, see the module doc).

    Args:
        wikitext: one page's wikitext.

    Returns:
        The prose: paragraphs separated by blank lines, headings as their own lines,
        no templates, references, tables, files, categories or markup.
    """
    code = mwparserfromhell.parse(_prestrip(wikitext), skip_style_tags=True)
    text = _Renderer().render(code)
    text = _MAGIC_RE.sub("", text)
    text = html.unescape(text)  # entities written as text inside <nowiki> and friends
    text = _cleanup_leftovers(text)
    return _tidy(text)


def _cleanup_leftovers(text: str) -> str:
    """Remove markup mwparserfromhell could not parse (unbalanced brackets, stray refs)."""
    text = _LEFTOVER_REF_RE.sub("", text)
    for _ in range(5):  # nested leftovers, innermost first
        new = _LEFTOVER_TEMPLATE_RE.sub("", text)
        if new == text:
            break
        text = new
    text = _LEFTOVER_LINK_RE.sub(r"\1", text)
    text = _LEFTOVER_TABLE_RE.sub("", text)
    text = _LEFTOVER_HTML_RE.sub("", text)
    return text.replace("{{", "").replace("}}", "").replace("[[", "").replace("]]", "")


def _tidy(text: str) -> str:
    """Normalise spacing, turn heading marks into lines, drop headings of empty sections."""
    # Whole-text passes (none of these patterns crosses a line end).
    text = _SPACES_RE.sub(" ", text)
    text = _EMPTY_PARENS_RE.sub("", text)
    text = _PAREN_CLOSE_PUNCT_RE.sub(")", _PAREN_OPEN_PUNCT_RE.sub("(", text))
    text = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text)
    lines: list[tuple[int, str]] = []  # (heading level or 0, text)
    for raw in text.split("\n"):
        if raw.startswith(_HEADING_MARK):
            level_s, _, title = raw[len(_HEADING_MARK):].partition("\x00")
            lines.append((int(level_s or 2), title.strip()))
            continue
        line = raw.strip()
        if line[:1] in ("*", "#", ":", ";"):
            line = line.lstrip("*#:;").strip()
        lines.append((0, line))
    # A heading is kept only when prose follows before a heading of the same or a
    # higher level (walk backwards so nested empty sections collapse too).
    kept: list[tuple[int, str]] = []
    has_prose_below: dict[int, bool] = {}
    prose_seen = False
    for level, line in reversed(lines):
        if level:
            has_content = prose_seen or any(v for k, v in has_prose_below.items() if k > level)
            if has_content:
                kept.append((level, line))
            has_prose_below = {k: v for k, v in has_prose_below.items() if k < level}
            has_prose_below[level] = has_content
            prose_seen = False
        else:
            if line:
                prose_seen = True
            kept.append((0, line))
    out = "\n".join(line if level == 0 else f"\n{line}" for level, line in reversed(kept))
    out = _BLANKS_RE.sub("\n\n", out)
    return out.strip()


class WikipediaSource(Source):
    """English (or any language's) Wikipedia from the pages-articles dump.

    Options:
        language: the wiki's language code (``en`` -> ``enwiki``).
        dump_date: ``latest`` or a dump date (``20240601``); Wikimedia keeps recent
            dumps only, older ones are on archive.org (use ``urls`` or a mirror).
        parts: download the dump's split part files (about 27 for English) instead of
            the single recombined file, so extraction runs on many cores; needs a
            ``dump_date``.
        max_page_chars: pages with more wikitext than this are dropped (``too_large``).
    """

    kind: ClassVar[str] = "wikipedia"
    pile_set_name: ClassVar[str] = "Wikipedia (en)"
    license: ClassVar[str] = "CC BY-SA 4.0 (earlier revisions CC BY-SA 3.0) and GFDL"
    upstream: ClassVar[str] = "dumps.wikimedia.org pages-articles-multistream XML (bz2)"
    options_schema: ClassVar[dict[str, Any]] = {"language": "en", "dump_date": "latest",
                                                "parts": False, "max_page_chars": 5_000_000}
    # A mirror on Wikimedia's list that copies the dumps tree under this base; used by
    # the downloader when the config names no mirrors.
    default_mirrors: ClassVar[tuple[str, ...]] = (
        "https://ftp.acc.umu.se/mirror/wikimedia.org/dumps/",)

    def __init__(self, cfg: Any, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        lang = self.options["language"]
        if not isinstance(lang, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", lang):
            raise ConfigError(f"sources.{self.name}.options.language: expected a wiki language "
                              f"code such as 'en', got {lang!r}")
        date = str(self.options["dump_date"])
        if date != "latest" and not re.fullmatch(r"\d{8}", date):
            raise ConfigError(f"sources.{self.name}.options.dump_date: expected 'latest' or "
                              f"YYYYMMDD, got {date!r}")
        self.options["dump_date"] = date
        if not isinstance(self.options["parts"], bool):
            raise ConfigError(f"sources.{self.name}.options.parts: expected true or false, got "
                              f"{self.options['parts']!r}")
        if self.options["parts"] and date == "latest":
            raise ConfigError(f"sources.{self.name}.options.parts: the part files are listed "
                              "from a dated dump's dumpstatus.json; set dump_date (YYYYMMDD)")
        limit = self.options["max_page_chars"]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigError(f"sources.{self.name}.options.max_page_chars: expected a "
                              f"positive integer, got {limit!r}")

    # The single dump file's md5 comes from the dump's md5sums.txt, fetched first.
    listing_rounds = 2

    def list_files(self) -> list[RemoteFile]:
        """The dump file(s): the one recombined file, verified against the md5 of the
        dump's ``<wiki>-<date>-md5sums.txt`` (listed first, stored under
        ``raw/<source>/_listing/``), or with ``parts: true`` the split part files of a
        dated dump (read in parallel by the runner, one unit per part), listed with their
        sizes and sha1 from the dump's ``dumpstatus.json`` (cached)."""
        from pile.sources.download import cached_json, published_checksums

        if self.cfg.urls:
            return super().list_files()
        lang, date = self.options["language"], self.options["dump_date"]
        base = f"https://dumps.wikimedia.org/{lang}wiki/{date}"
        if self.options["parts"]:
            status = cached_json(f"{base}/dumpstatus.json", self.raw_dir / ".dumpstatus.json")
            return parse_dumpstatus(status, base)
        name = f"{lang}wiki-{date}-pages-articles-multistream.xml.bz2"
        sums_name = f"{lang}wiki-{date}-md5sums.txt"
        sums = RemoteFile(url=f"{base}/{sums_name}", name=f"{LISTING_DIR}/{sums_name}")
        known = published_checksums(self, sums, "md5")
        if known is None:
            return [sums]
        return [sums, RemoteFile(url=f"{base}/{name}", name=name, checksum=known.get(name))]

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """Stream the pages of one dump file (bz2, gz, xz, zst or plain XML)."""
        yield from self._pages(iterparse(Path(path), {"page"}, self.max_record_bytes))

    def spans(self, path: Path, target: int) -> list[tuple[int, int]] | None:
        """Byte ranges of a multistream bzip2 dump (`pile.sources.bz2streams`): a range
        owns the streams (100 pages each) that start in it. Other files are read whole."""
        path = Path(path)
        size = path.stat().st_size
        if size <= target or not path.name.lower().endswith(".bz2") or not is_multistream(path):
            return None
        return even_spans(size, target)

    def read_span(self, path: Path, span: tuple[int, int]) -> Iterator[Document | Dropped]:
        """The pages of the streams that start in `span`. A range without the header
        stream gets a bare ``<mediawiki>`` around its pages (no namespace: pages are
        matched by local name), and one without the last stream its closing tag, so
        the ranges of a file give exactly the documents of a whole read, in order."""
        path = Path(path)
        start, end = span
        try:
            with open(path, "rb") as fh:
                first = 0 if start == 0 else next_stream(fh, start, end)
        except OSError as exc:
            raise SourceError(f"{path}: cannot open ({exc.strerror or exc})") from None
        if first is None:
            return
        streams = SpanStreams(path, first, end)

        def xml() -> Iterator[bytes]:
            if first > 0:
                yield b"<mediawiki>"
            yield from streams
            if not streams.reached_end:
                yield b"</mediawiki>"

        reader = io.BufferedReader(ChunkReader(xml()), 1 << 16)
        label = f"{path} (bytes {first}-{min(end, path.stat().st_size)})"
        yield from self._pages(iterparse(reader, {"page"}, self.max_record_bytes, label=label))

    def _pages(self, pages: Iterator[Any]) -> Iterator[Document | Dropped]:
        limit = self.options["max_page_chars"]
        for page in pages:
            fields = {local_name(child): child for child in page}
            title = (fields["title"].text or "") if "title" in fields else ""
            page_id = (fields["id"].text or "").strip() if "id" in fields else ""
            key = page_id or title.replace(" ", "_") or "unknown"
            ns_text = (fields["ns"].text or "0").strip() if "ns" in fields else "0"
            meta = {"title": title}
            if ns_text != "0":
                yield self.dropped(key, "non_article_namespace", **meta, ns=int(ns_text))
                continue
            if "redirect" in fields:
                yield self.dropped(key, "redirect", **meta)
                continue
            text_elem = None
            revision = fields.get("revision")
            if revision is not None:
                for child in revision:
                    if local_name(child) == "text":
                        text_elem = child
            wikitext = (text_elem.text or "") if text_elem is not None else ""
            if wikitext.lstrip()[:9].upper() == "#REDIRECT":
                yield self.dropped(key, "redirect", **meta)
                continue
            if len(wikitext) > limit:
                yield self.dropped(key, "too_large", **meta, chars=len(wikitext))
                continue
            body = wikitext_to_text(wikitext)
            if not body:
                yield self.dropped(key, "empty_after_markup", **meta)
                continue
            yield self.document(key, f"{title}\n\n{body}", **meta)


_PART_RE = re.compile(r"-pages-articles-multistream(\d*)\.xml")


def parse_dumpstatus(status: dict[str, Any], base: str) -> list[RemoteFile]:
    """The pages-articles multistream files of a ``dumpstatus.json``, in part order,
    with their published size and sha1 (md5 when it gives no sha1).

    Each part is a complete XML document (its first bz2 stream is the header, its last
    the footer), so parts are read independently. Index files are left out.

    Raises:
        SourceError: the dump has no finished multistream job.
    """
    job = (status.get("jobs") or {}).get("articlesmultistreamdump") or {}
    if job.get("status") not in (None, "done"):
        raise SourceError(f"{base}/dumpstatus.json: the multistream dump is "
                          f"{job.get('status')!r}, not done yet")
    files = []
    for name, info in (job.get("files") or {}).items():
        match = _PART_RE.search(name)
        if not match or "-index" in name or not name.endswith(".bz2"):
            continue
        info = info if isinstance(info, dict) else {}
        size = info.get("size")
        # dumpstatus.json gives each file's md5 and sha1; the stronger one is checked
        digest = next((f"{algo}:{info[algo]}" for algo in ("sha1", "md5")
                       if isinstance(info.get(algo), str)), None)
        files.append((int(match.group(1) or 0), name,
                      RemoteFile(url=f"{base}/{name}", name=name, checksum=digest,
                                 size=int(size) if isinstance(size, int) else None)))
    if not files:
        raise SourceError(f"{base}/dumpstatus.json: no pages-articles multistream files listed")
    return [f for _, _, f in sorted(files)]


__all__ = ["RENDERER", "WikipediaSource", "parse_dumpstatus", "wikitext_to_text"]
