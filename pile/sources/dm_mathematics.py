"""DeepMind Mathematics (the Pile's "DM Mathematics" component).

Upstream: DeepMind's ``mathematics_dataset-v1.0.tar.gz`` (Saxton et al. 2019, "Analysing
Mathematical Reasoning Abilities of Neural Models"), 2,333,082,954 bytes, verified
against its published sha256. Inside, ``mathematics_dataset-v1.0/<split>/<module>.txt``
holds one question per line followed by its answer on the next line. The Pile used the
``train-easy``, ``train-medium`` and ``train-hard`` splits; ``interpolate`` and
``extrapolate`` are the test sets and are skipped.

Each module file is cut into documents of at most ``chunk_chars`` characters
(8,194 by default), by one of two named rules (``chunking``):

- ``pile_8194``: fixed slices of exactly ``chunk_chars`` characters, cut mid-line,
  which is most likely what the released Pile did (its DM Mathematics documents are
  8,194-character slices that start and end inside a line).
- ``qa_pairs_v1`` (the default): slices end only after an answer, so every question
  stays with its answer. A mid-line cut leaves a question without its answer at one
  end of a document and a dangling answer at the other, and can split a number in
  two; keeping pairs costs nothing (the chunk sizes stay within a line of the limit).
  A single pair longer than the limit is a document of its own.

Inputs are recognised from their bytes: the tarball (streamed member by member, never
extracted) or one module ``.txt`` file (a local copy under ``<split>/<module>.txt``).
Ids are ``<source>/<split>/<module>:<chunk>``. A member that is not UTF-8 is dropped
(``invalid_utf8``); a question with no answer line at the end of a file is dropped
(``unpaired_question``); a truncated or corrupt tarball fails with `SourceError` after
the documents read before the damage.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, ClassVar, Iterator

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError
from pile.sources.archive import MemberRanges, archive_format, iter_archive
from pile.sources.base import RemoteFile, Source
from pile.sources.xmlsafe import open_compressed
from pile.stage import Dropped

DATASET_URL = "https://storage.googleapis.com/mathematics-dataset/mathematics_dataset-v1.0.tar.gz"
DATASET_SHA256 = "def638343403cb9ed60437d6b684c859dd23b72779f5cc5661b0a31e67c58576"
DATASET_SIZE = 2_333_082_954
TRAIN_SPLITS = ("train-easy", "train-medium", "train-hard")
CHUNKINGS = ("qa_pairs_v1", "pile_8194")


def chunk_pile_8194(lines: Iterator[str], size: int) -> Iterator[str]:
    """Concatenate `lines` and cut the text into slices of exactly `size` characters
    (the last one shorter), wherever the cut falls."""
    buf: list[str] = []
    held = 0
    for line in lines:
        buf.append(line)
        held += len(line)
        if held >= size:
            text = "".join(buf)
            start = 0
            while len(text) - start >= size:
                yield text[start:start + size]
                start += size
            rest = text[start:]
            buf, held = ([rest], len(rest)) if rest else ([], 0)
    if held:
        yield "".join(buf)


def chunk_qa_pairs(pairs: Iterator[str], size: int) -> Iterator[str]:
    """Join question+answer blocks into chunks of at most `size` characters, cutting only
    between pairs (a pair longer than `size` is a chunk of its own)."""
    buf: list[str] = []
    held = 0
    for pair in pairs:
        if buf and held + len(pair) > size:
            yield "".join(buf)
            buf, held = [], 0
        buf.append(pair)
        held += len(pair)
    if buf:
        yield "".join(buf)


def _lines(fh: IO[bytes]) -> Iterator[str]:
    """Strict UTF-8 lines with ``\\n`` endings (a last line without one gets it)."""
    for raw in fh:
        line = raw.decode("utf-8").replace("\r\n", "\n")
        yield line if line.endswith("\n") else line + "\n"


class _Pairs:
    """Question+answer blocks of a line stream; remembers a trailing unpaired question."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.unpaired: str | None = None

    def __iter__(self) -> Iterator[str]:
        question: str | None = None
        for line in self.lines:
            if question is None:
                question = line
            else:
                yield question + line
                question = None
        self.unpaired = question


def split_and_module(member: str) -> tuple[str, str] | None:
    """``mathematics_dataset-v1.0/train-easy/algebra__linear_1d.txt`` ->
    (``train-easy``, ``algebra__linear_1d``); None for anything else."""
    parts = member.replace("\\", "/").split("/")
    if len(parts) < 2 or not parts[-1].endswith(".txt"):
        return None
    return parts[-2], parts[-1][: -len(".txt")]


class DmMathematicsSource(MemberRanges, Source):
    """DeepMind's mathematics_dataset tarball -> chunks of question/answer lines.

    Options:
        chunking: ``qa_pairs_v1`` (default; questions stay with their answers) or
            ``pile_8194`` (the released Pile's mid-line slices).
        chunk_chars: the chunk size in characters.
        splits: which splits to read (the Pile's three training splits by default).
    """

    kind: ClassVar[str] = "dm_mathematics"
    pile_set_name: ClassVar[str] = "DM Mathematics"
    license: ClassVar[str] = "Apache-2.0 (DeepMind mathematics_dataset)"
    upstream: ClassVar[str] = ("storage.googleapis.com/mathematics-dataset/"
                               "mathematics_dataset-v1.0.tar.gz (sha256 verified)")
    options_schema: ClassVar[dict[str, Any]] = {
        "chunking": "qa_pairs_v1",
        "chunk_chars": 8194,
        "splits": list(TRAIN_SPLITS),
    }

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        field = f"sources.{self.name}.options"
        if self.options["chunking"] not in CHUNKINGS:
            raise ConfigError(f"{field}.chunking: expected one of {', '.join(CHUNKINGS)}, "
                              f"got {self.options['chunking']!r}")
        size = self.options["chunk_chars"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ConfigError(f"{field}.chunk_chars: expected a positive integer, got {size!r}")
        splits = self.options["splits"]
        if not isinstance(splits, list) or not splits or \
                not all(isinstance(s, str) and s for s in splits):
            raise ConfigError(f"{field}.splits: expected a non-empty list of split names "
                              f"(such as {', '.join(TRAIN_SPLITS)}), got {splits!r}")

    def list_files(self) -> list[RemoteFile]:
        """The one tarball, with DeepMind's published size and sha256."""
        if self.cfg.urls:
            return super().list_files()
        return [RemoteFile(url=DATASET_URL, name="mathematics_dataset-v1.0.tar.gz",
                           checksum=f"sha256:{DATASET_SHA256}", size=DATASET_SIZE)]

    def read_members(self, path: Path, span: tuple[int, int] | None) -> Iterator[Document | Dropped]:
        """The tarball, or one ``<split>/<module>.txt`` file -> chunk documents.

        Raises:
            SourceError: a truncated or corrupt archive, after the chunks before it.
        """
        if archive_format(path) is not None:
            for member, fh in iter_archive(path, span):
                where = split_and_module(member)
                if where is not None and where[0] in self.options["splits"]:
                    yield from self._module(where[0], where[1], fh)
            return
        key = self.key_for(path)
        where = split_and_module(key) or ("", path.name.split(".", 1)[0])
        with open_compressed(path) as fh:
            yield from self._module(where[0], where[1], fh)

    def _module(self, split: str, module: str, fh: IO[bytes]) -> Iterator[Document | Dropped]:
        key = f"{split}/{module}" if split else module
        meta = {"split": split, "module": module}
        size = self.options["chunk_chars"]
        # Line by line: a training file is hundreds of MB, and memory stays at one chunk.
        # A bad byte drops the rest of that member only; the chunks before it are whole.
        lines = _lines(fh)
        pairs = _Pairs(lines)
        chunks = (chunk_qa_pairs(iter(pairs), size) if self.options["chunking"] == "qa_pairs_v1"
                  else chunk_pile_8194(lines, size))
        index = 0
        try:
            for text in chunks:
                yield self.document(f"{key}:{index}", text, chunk=index, **meta)
                index += 1
        except UnicodeDecodeError as exc:
            yield self.dropped(f"{key}:{index}", "invalid_utf8", error=str(exc)[:200], **meta)
            return
        if pairs.unpaired is not None:
            yield self.dropped(f"{key}:{index}", "unpaired_question", **meta)


__all__ = ["CHUNKINGS", "DATASET_SHA256", "DATASET_URL", "DmMathematicsSource", "chunk_pile_8194",
           "chunk_qa_pairs", "split_and_module"]
