"""arXiv papers from their LaTeX sources (the Pile's "ArXiv" component).

The Pile (Gao et al. 2020, appendix: ArXiv) took the arXiv source files (bulk S3
tarballs), converted each paper's LaTeX with pandoc and kept the text. pandoc is not
available here, so this module converts with pylatexenc (Faure 2019) configured to give
text close to pandoc's: section titles as plain paragraphs, inline math kept as LaTeX
source (``$\\alpha_1$``), display math as ``$$ ... $$`` (no ``\\begin{equation}``),
citations removed, cross-references as ``[label]``, figures and tables reduced to their
captions, the bibliography dropped.

Steps for one paper:

1. its files: a source tarball (``.tar``/``.tar.gz``, read with
   `pile.sources.archive.iter_archive`, which refuses absolute, ``..`` and escaping-link
   members), a single gzipped ``.tex`` (arXiv's e-print for one-file papers), a bulk
   ``arXiv_src_YYMM_NNN.tar`` holding one ``.gz`` per paper, or a folder (a ``.tex`` file
   whose folder holds the rest of the tree);
2. the main file: the ``.tex`` with an uncommented ``\\documentclass`` (or
   ``\\documentstyle``) and ``\\begin{document}``; several candidates -> the largest;
3. ``\\input``/``\\include``/``\\subfile`` resolved recursively inside the paper's own
   tree only (absolute or ``..`` paths are not followed; cycles and depth > 16 stop);
4. the title and a preamble abstract are put before the body (``\\begin{document}`` to
   ``\\end{document}``), then everything is converted to text.

Papers with no LaTeX (PDF-only submissions) are dropped with ``no_tex_source``; a paper
pylatexenc cannot convert with ``latex_error``; a paper over ``max_chars`` after
includes with ``too_large``. Ids are ``<source>/<arXiv id>`` (from the file or member
name) or, for folders, ``<source>/<folder>/<main file stem>``.
"""

from __future__ import annotations

import gzip
import io
import logging
import posixpath
import re
import tempfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.config import DEFAULT_MAX_RECORD_BYTES
from pile.sources.base import RecordTooLarge, RemoteFile, Source, read_capped
from pile.stage import Dropped

log = logging.getLogger(__name__)

EPRINT = "https://arxiv.org/e-print/{id}"
TEX_SUFFIXES = (".tex", ".ltx", ".latex")
MAX_DEPTH = 16

_COMMENT_RE = re.compile(r"(?<!\\)%[^\n]*")
_MAIN_RE = re.compile(r"\\document(?:class|style)\b")
_BEGIN_DOC_RE = re.compile(r"\\begin\s*\{document\}")
_END_DOC_RE = re.compile(r"\\end\s*\{document\}")
_INPUT_RE = re.compile(r"\\(?:input|include|subfile)\s*(?:\{([^{}]*)\}|(?<=input)\s+([^\s{}\\%]+))")
_TITLE_RE = re.compile(r"\\title\s*(?:\[[^\]]*\])?\s*\{")
_ABSTRACT_RE = re.compile(r"\\begin\s*\{abstract\}(.*?)\\end\s*\{abstract\}", re.DOTALL)
_BLANKS_RE = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")
_TRAILING_RE = re.compile(r"[ \t]+\n")
_SPACE_PUNCT_RE = re.compile(r"[ \t]+([.,;:])(?=\s|$)")
_ARXIV_NAME_RE = re.compile(r"^(.*?)(?:\.tar\.gz|\.tgz|\.tar|\.gz|\.tex|\.pdf)?$", re.IGNORECASE)


# -- the paper's files -------------------------------------------------------------------

def _decode(data: bytes) -> str:
    """TeX sources are UTF-8 or, for older papers, Latin-1 (inputenc); never fail."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _is_tar(data: bytes) -> bool:
    return len(data) > 262 and data[257:262] == b"ustar"


def _gunzip(data: bytes, label: str, limit: int) -> bytes:
    """Decompress an e-print, never holding more than `limit` bytes of it (a 1 MB
    gzip can expand to gigabytes).

    Raises:
        RecordTooLarge: the decompressed e-print is larger than `limit`.
    """
    try:
        out, size = read_capped(gzip.GzipFile(fileobj=io.BytesIO(data)), limit)
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(f"{label}: damaged gzip data ({exc})") from None
    if out is None:
        raise RecordTooLarge(label, size)
    return out


def _tree_from_tar(data: bytes, label: str, limit: int) -> dict[str, bytes]:
    """Read a tar held in memory through the safe archive reader."""
    with tempfile.NamedTemporaryFile(suffix=".tar") as tmp:
        tmp.write(data)
        tmp.flush()
        return _tree_from_archive(Path(tmp.name), label, limit)


def _tree_from_archive(path: Path, label: str, limit: int = DEFAULT_MAX_RECORD_BYTES
                       ) -> dict[str, bytes]:
    """The LaTeX files of a paper's archive; a file over `limit` is left out (a paper's
    file that large is not LaTeX prose), skipped while streaming."""
    from pile.sources.archive import iter_archive

    tree: dict[str, bytes] = {}
    try:
        for member, fileobj in iter_archive(path):
            if member.lower().endswith(TEX_SUFFIXES + (".bbl", ".sty", ".cls")):
                data, _size = read_capped(fileobj, limit)
                if data is not None:
                    tree[member] = data
    except SourceError as exc:
        raise SourceError(str(exc).replace(str(path), label, 1)) from None
    return tree


def tree_from_bytes(data: bytes, name: str, label: str, limit: int = DEFAULT_MAX_RECORD_BYTES
                    ) -> dict[str, bytes] | None:
    """The files of one paper given as an e-print blob (gzip of a tar or of one ``.tex``,
    a tar, or a bare ``.tex``); None for a PDF or other non-LaTeX submission.

    Raises:
        RecordTooLarge: the e-print decompresses to more than `limit` bytes.
    """
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, label, limit)
    if _is_tar(data):
        return _tree_from_tar(data, label, limit)
    if data[:5] == b"%PDF-" or b"\x00" in data[:4096]:
        return None
    return {f"{name}.tex": data}


def find_main(tree: dict[str, bytes]) -> str | None:
    """The main ``.tex`` file of a paper (see the module docstring), or None."""
    candidates = []
    for member, data in tree.items():
        if not member.lower().endswith(TEX_SUFFIXES):
            continue
        text = _COMMENT_RE.sub("", _decode(data))
        if _MAIN_RE.search(text):
            candidates.append((bool(_BEGIN_DOC_RE.search(text)), len(data), member))
    if not candidates:
        return None
    return max(candidates)[2]


def resolve_inputs(tree: dict[str, bytes], main: str) -> tuple[str, dict[str, int]]:
    """The main file with every ``\\input``/``\\include`` replaced by the file's text.

    Paths are resolved relative to the main file's folder (as LaTeX does), with and
    without ``.tex``. Returns the expanded source (comments removed) and counts of
    ``resolved``, ``missing`` and ``refused`` (absolute or escaping) inputs.
    """
    base = posixpath.dirname(main)
    stats = {"resolved": 0, "missing": 0, "refused": 0}

    def expand(member: str, stack: tuple[str, ...]) -> str:
        source = _COMMENT_RE.sub("", _decode(tree[member]))

        def replace(match: re.Match[str]) -> str:
            target = (match.group(1) or match.group(2) or "").strip().strip('"')
            if not target:
                return ""
            if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
                stats["refused"] += 1
                return ""
            joined = posixpath.normpath(posixpath.join(base, target))
            if joined.startswith("../") or joined == "..":
                stats["refused"] += 1
                return ""
            for candidate in (joined, joined + ".tex"):
                if candidate in tree and candidate.lower().endswith(TEX_SUFFIXES + (".bbl",)):
                    if candidate in stack or len(stack) >= MAX_DEPTH:
                        stats["refused"] += 1
                        return ""
                    stats["resolved"] += 1
                    return "\n" + expand(candidate, stack + (candidate,)) + "\n"
            stats["missing"] += 1
            return ""

        return _INPUT_RE.sub(replace, source)

    return expand(main, (main,)), stats


def _braced(text: str, start: int) -> str:
    """The content of the brace group opening just before `start`."""
    depth, i = 1, start
    while i < len(text) and depth:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        depth += ch == "{"
        depth -= ch == "}"
        i += 1
    return text[start:i - 1]


# -- LaTeX to text -----------------------------------------------------------------------

_SECTIONS = ("part", "chapter", "section", "subsection", "subsubsection", "paragraph",
             "subparagraph")
_CITES = ("cite", "citep", "citet", "citealp", "citealt", "citeauthor", "citeyear", "nocite",
          "parencite", "textcite", "autocite", "footcite", "citenum", "Cite", "Citep", "Citet")
_REFS = ("ref", "eqref", "autoref", "cref", "Cref", "pageref", "vref", "nameref", "Autoref")
_DROPPED_MACROS = ("label", "includegraphics", "bibliography", "bibliographystyle", "maketitle",
                   "tableofcontents", "listoffigures", "listoftables", "thispagestyle",
                   "pagestyle", "vspace", "hspace", "newpage", "clearpage", "linenumbers",
                   "acknowledgments")
# How many arguments the dropped macros take (so their arguments are dropped with them).
_DROPPED_ARGS = {"label": "{", "includegraphics": "*[{", "bibliography": "{",
                 "bibliographystyle": "{", "thispagestyle": "{", "pagestyle": "{",
                 "vspace": "*{", "hspace": "*{"}
_MATH_ENVS = ("equation", "align", "gather", "multline", "eqnarray", "displaymath", "flalign",
              "alignat", "math")
_FLOAT_ENVS = ("figure", "table", "wrapfigure", "wraptable", "sidewaysfigure", "sidewaystable")
_DROPPED_ENVS = ("thebibliography", "tikzpicture", "pspicture", "picture", "comment")

_CONVERTER: Any = None


def _converter() -> tuple[Any, Any]:
    """The pylatexenc walker context and text converter (built once per process)."""
    global _CONVERTER
    if _CONVERTER is not None:
        return _CONVERTER
    from pylatexenc import latexwalker, macrospec
    from pylatexenc.latex2text import (EnvironmentTextSpec, LatexNodes2Text, MacroTextSpec,
                                       get_default_latex_context_db)

    walker_db = latexwalker.get_default_latex_context_db()
    walker_db.add_context_category(
        "pile", prepend=True, macros=[macrospec.MacroSpec("href", "{{"), macrospec.MacroSpec("subfile", "{"),
                macrospec.MacroSpec("caption", "*[{"),
                *(macrospec.MacroSpec(name, spec) for name, spec in _DROPPED_ARGS.items()),
                *(macrospec.MacroSpec(name, "*[[{") for name in _CITES),
                *(macrospec.MacroSpec(name, "*{") for name in _REFS)])

    def section(node: Any, l2tobj: Any) -> str:
        title = node.nodeargd.argnlist[-1] if node.nodeargd and node.nodeargd.argnlist else None
        return "\n\n" + (l2tobj.nodelist_to_text([title]).strip() if title else "") + "\n\n"

    def ref(node: Any, l2tobj: Any) -> str:
        arg = node.nodeargd.argnlist[-1] if node.nodeargd and node.nodeargd.argnlist else None
        return "[" + (arg.latex_verbatim().strip("{}") if arg is not None else "") + "]"

    def href(node: Any, l2tobj: Any) -> str:
        args = node.nodeargd.argnlist if node.nodeargd else []
        return l2tobj.nodelist_to_text([args[-1]]) if args and args[-1] is not None else ""

    def display_math(node: Any, l2tobj: Any) -> str:
        body = "".join(n.latex_verbatim() for n in node.nodelist)
        body = re.sub(r"\\(?:label|nonumber|notag)\b(?:\s*\{[^{}]*\})?", "", body).strip()
        return f"\n$$ {body} $$\n" if body else ""

    def float_env(node: Any, l2tobj: Any) -> str:
        captions = [n for n in _walk_nodes(node.nodelist)
                    if n.isNodeType(latexwalker.LatexMacroNode) and n.macroname == "caption"]
        out = []
        for cap in captions:
            args = cap.nodeargd.argnlist if cap.nodeargd else []
            if args and args[-1] is not None:
                out.append(l2tobj.nodelist_to_text([args[-1]]).strip())
        return "\n\n" + "\n\n".join(out) + "\n\n" if out else "\n"

    text_db = get_default_latex_context_db()
    text_db.add_context_category(
        "pile", prepend=True, macros=[*(MacroTextSpec(name, simplify_repl=section) for name in _SECTIONS),
                *(MacroTextSpec(name, discard=True) for name in _CITES + _DROPPED_MACROS),
                *(MacroTextSpec(name, simplify_repl=ref) for name in _REFS),
                MacroTextSpec("href", simplify_repl=href), MacroTextSpec("url", simplify_repl="%s")],
        environments=[*(EnvironmentTextSpec(name, simplify_repl=display_math)
                        for base in _MATH_ENVS for name in (base, base + "*")),
                      *(EnvironmentTextSpec(name, simplify_repl=float_env)
                        for base in _FLOAT_ENVS for name in (base, base + "*")),
                      *(EnvironmentTextSpec(name, discard=True) for name in _DROPPED_ENVS)])
    # Macros pylatexenc has no text rule for (\texttt, package macros...) keep their
    # arguments' text instead of vanishing.
    text_db.set_unknown_macro_spec(MacroTextSpec("", discard=False))
    converter = LatexNodes2Text(latex_context=text_db, math_mode="verbatim",
                                strict_latex_spaces=False)
    _CONVERTER = (walker_db, converter)
    return _CONVERTER


def _walk_nodes(nodes: Any) -> Iterator[Any]:
    for node in nodes or []:
        if node is None:
            continue
        yield node
        if getattr(node, "nodelist", None):
            yield from _walk_nodes(node.nodelist)
        if getattr(node, "nodeargd", None) is not None and node.nodeargd.argnlist:
            yield from _walk_nodes(node.nodeargd.argnlist)


def latex_to_text(source: str) -> str:
    """Convert LaTeX to text with the pylatexenc setup described in the module docstring."""
    from pylatexenc import latexwalker

    walker_db, converter = _converter()
    walker = latexwalker.LatexWalker(source, latex_context=walker_db, tolerant_parsing=True)
    nodes, _, _ = walker.get_latex_nodes()
    # "~" is a non-breaking space in LaTeX: a plain space in the text; a space left in
    # front of punctuation by a removed citation goes too.
    text = converter.nodelist_to_text(nodes).replace("\xa0", " ")
    text = _SPACE_PUNCT_RE.sub(r"\1", text)
    text = _TRAILING_RE.sub("\n", text)
    return _BLANKS_RE.sub("\n\n", text).strip()


def paper_to_text(source: str) -> str:
    """Title, preamble abstract and body of an expanded main file, as text."""
    begin = _BEGIN_DOC_RE.search(source)
    preamble, body = (source[:begin.start()], source[begin.end():]) if begin else ("", source)
    end = _END_DOC_RE.search(body)
    if end:
        body = body[:end.start()]
    head = []
    title = _TITLE_RE.search(preamble)
    if title:
        head.append(_braced(preamble, title.end()))
    abstract = _ABSTRACT_RE.search(preamble)
    if abstract:
        head.append("\\section*{Abstract}\n" + abstract.group(1))
    return latex_to_text("\n\n".join(head + [body]))


# -- the source --------------------------------------------------------------------------

def paper_key(name: str) -> str:
    """An arXiv id from a file or member name (``1907.10121.tar.gz`` -> ``1907.10121``)."""
    base = PurePosixPath(name).name
    match = _ARXIV_NAME_RE.match(base)
    return match.group(1) if match else base


def _bulk_member(name: str) -> bool:
    """A member of arXiv's bulk source tars: ``YYMM/<id>.gz`` (or ``.pdf``)."""
    return name.lower().endswith((".gz", ".pdf")) and re.match(r"^\d{4}/", name) is not None


class ArxivSource(Source):
    """arXiv LaTeX sources -> one text document per paper."""

    kind = "arxiv"
    pile_set_name = "ArXiv"
    license = "per paper (arXiv non-exclusive licence, CC BY, CC BY-SA, CC0...): see arxiv.org/abs/<id>"
    upstream = "arXiv sources: https://arxiv.org/e-print/<id>, or the bulk s3://arxiv/src (requester pays)"
    options_schema: dict[str, Any] = {
        "ids": [],               # arXiv ids to fetch from arxiv.org/e-print
        "max_chars": 5_000_000,  # papers longer than this after includes are dropped
    }

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        ids = self.options["ids"]
        if not isinstance(ids, (list, tuple)) or not all(isinstance(i, str) and i for i in ids):
            raise ConfigError(f"sources.{self.name}.options.ids: expected a list of arXiv ids "
                              f"(\"1907.10121\", \"hep-th/9901001\"), got {ids!r}")
        if not isinstance(self.options["max_chars"], int) or self.options["max_chars"] <= 0:
            raise ConfigError(f"sources.{self.name}.options.max_chars: expected a positive integer, "
                              f"got {self.options['max_chars']!r}")

    def list_files(self) -> list[RemoteFile]:
        """One e-print per configured id (arxiv.org asks for at most one request every 3 s).

        Raises:
            ConfigError: no ``ids``, ``urls`` or ``paths``: the bulk sources are on a
                requester-pays S3 bucket that plain HTTP cannot read.
        """
        if self.cfg.urls:
            # arxiv.org serves an e-print (gzip) under its bare id (``/e-print/1907.10121``):
            # stored with ``.gz`` so `inputs` and `read` know it for one.
            return [f if f.name.lower().endswith((".gz", ".tar", ".tgz") + TEX_SUFFIXES)
                    else RemoteFile(url=f.url, name=f"{f.name}.gz", checksum=f.checksum, size=f.size)
                    for f in super().list_files()]
        if not self.options["ids"]:
            raise ConfigError(f"sources.{self.name}.options.ids: empty, and the arXiv bulk sources "
                              "(s3://arxiv/src, requester pays) need AWS credentials; give ids, "
                              "urls (a mirror of the arXiv_src_*.tar files) or local paths")
        return [RemoteFile(url=EPRINT.format(id=i), name=f"{i.replace('/', '')}.gz")
                for i in self.options["ids"]]

    def inputs(self) -> list[Path]:
        """Archives as they are; among loose ``.tex`` files, only the main files (each one's
        folder is its paper's tree)."""
        out = []
        for path in super().inputs():
            name = path.name.lower()
            if name.endswith((".tar", ".tar.gz", ".tgz", ".gz")):
                out.append(path)
            elif name.endswith(TEX_SUFFIXES):
                try:
                    head = _COMMENT_RE.sub("", _decode(path.read_bytes()[:262_144]))
                except OSError:
                    out.append(path)  # read() reports it
                    continue
                if _MAIN_RE.search(head):
                    out.append(path)
        return out

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """One paper (folder main file, e-print, source tarball) or a bulk tar -> documents.

        Raises:
            SourceError: unreadable or damaged file, or an unsafe archive member.
        """
        path = Path(path)
        name = path.name.lower()
        if path.is_dir() or name.endswith(TEX_SUFFIXES):
            folder = path if path.is_dir() else path.parent
            tree = self._folder_tree(folder)
            rel = self.key_for(path)
            key = rel.rsplit(".", 1)[0] if "." in PurePosixPath(rel).name else rel
            if "/" not in key:
                key = f"{folder.name}/{key}"
            main = path.relative_to(folder).as_posix() if path.is_file() else None
            yield self._paper(key, tree, main)
            return
        if name.endswith(".gz") and not name.endswith(".tar.gz"):
            key = paper_key(path.name)
            data = self.read_file(path, key)
            if isinstance(data, Dropped):
                yield data
                return
            try:
                tree = tree_from_bytes(data, key, str(path), self.max_record_bytes)
            except RecordTooLarge as exc:
                yield self.dropped(key, "too_large", record_bytes=exc.size)
                return
            yield self._paper(key, tree, None) if tree is not None else self.dropped(key, "no_tex_source")
            return
        from pile.sources.archive import iter_archive

        members = iter_archive(path)
        first = next(members, None)
        if first is None:
            yield self.dropped(paper_key(path.name), "no_tex_source")
            return
        if _bulk_member(first[0]):
            yield from self._bulk(path, first, members)
            return
        tree = _tree_from_archive(path, str(path), self.max_record_bytes)
        yield self._paper(paper_key(path.name), tree, None)

    def spans(self, path: Path, target: int) -> list[tuple[int, int]] | None:
        """Member ranges of a bulk ``arXiv_src_*.tar`` (one paper per member, `archive_spans`);
        a paper's own tarball is one paper, read whole."""
        from pile.sources.archive import archive_spans, iter_archive

        path = Path(path)
        if not path.name.lower().endswith(".tar") or path.stat().st_size <= target:
            return None
        members = iter_archive(path)
        try:
            first = next(members, None)
        except SourceError:
            return None  # read whole: the unit reports the damage
        finally:
            members.close()
        return archive_spans(path, target) if first is not None and _bulk_member(first[0]) else None

    def read_span(self, path: Path, span: tuple[int, int]) -> Iterator[Document | Dropped]:
        """The papers of a bulk tar whose members start in `span` (see `spans`)."""
        from pile.sources.archive import iter_archive

        members = iter_archive(Path(path), span)
        first = next(members, None)
        if first is not None:
            yield from self._bulk(Path(path), first, members)

    def _bulk(self, path: Path, first: tuple[str, Any], members: Iterator[tuple[str, Any]]
              ) -> Iterator[Document | Dropped]:
        """A bulk ``arXiv_src_YYMM_NNN.tar``: one ``YYMM/<id>.gz`` (or ``.pdf``) per paper."""
        pending = [first]
        while pending:
            member, fileobj = pending.pop()
            key = paper_key(member)
            if member.lower().endswith(".gz"):
                data = self.read_record(fileobj, key)
                if isinstance(data, Dropped):
                    yield data
                else:
                    try:
                        tree = tree_from_bytes(data, key, f"{path}:{member}", self.max_record_bytes)
                    except RecordTooLarge as exc:
                        yield self.dropped(key, "too_large", record_bytes=exc.size)
                        tree = {}
                    except SourceError as exc:
                        yield self.dropped(key, "damaged_member", detail=str(exc)[:200])
                        tree = {}
                    if tree is None:
                        yield self.dropped(key, "no_tex_source")
                    elif tree:
                        yield self._paper(key, tree, None)
            elif member.lower().endswith(".pdf"):
                yield self.dropped(key, "no_tex_source")
            nxt = next(members, None)
            if nxt is not None:
                pending.append(nxt)

    def _folder_tree(self, folder: Path) -> dict[str, bytes]:
        tree: dict[str, bytes] = {}
        root = folder.resolve()
        for file in sorted(folder.rglob("*")):
            if not file.is_file() or not file.name.lower().endswith(TEX_SUFFIXES + (".bbl",)):
                continue
            # A symlink leaving the folder is not part of the paper.
            if root not in file.resolve().parents:
                continue
            try:
                if file.stat().st_size <= self.max_record_bytes:
                    tree[file.relative_to(folder).as_posix()] = file.read_bytes()
            except OSError as exc:
                raise SourceError(f"{file}: cannot read ({exc.strerror or exc})") from None
        return tree

    def _paper(self, key: str, tree: dict[str, bytes], main: str | None) -> Document | Dropped:
        main = main if main in tree else find_main(tree)
        if main is None:
            return self.dropped(key, "no_tex_source", files=len(tree))
        source, stats = resolve_inputs(tree, main)
        meta: dict[str, Any] = {"main_file": main, "inputs_resolved": stats["resolved"]}
        if stats["missing"]:
            meta["inputs_missing"] = stats["missing"]
        if stats["refused"]:
            meta["inputs_refused"] = stats["refused"]
        if len(source) > self.options["max_chars"]:
            return self.dropped(key, "too_large", **meta)
        try:
            text = paper_to_text(source)
        except Exception as exc:  # pylatexenc raises (or recurses too deep) on some inputs
            log.debug("latex conversion failed for %s: %s", key, exc)
            return self.dropped(key, "latex_error", detail=f"{type(exc).__name__}: {exc}"[:200], **meta)
        if not text.strip():
            return self.dropped(key, "empty", **meta)
        return self.document(key, text + "\n", **meta)
