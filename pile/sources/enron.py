"""Enron Emails: the CMU maildir release, one message body per document.

Upstream: ``https://www.cs.cmu.edu/~enron/enron_mail_20150507.tar.gz``, the FERC
release as cleaned by CMU (W. Cohen): ``maildir/<user>/<folder>/<n>.``, one RFC 822
message per file. The Pile kept each message's body: the headers (``Message-ID``,
``X-From``, ``X-Folder``...) are dropped, while the quoted replies and forwarded
messages inside a body are part of what people wrote and stay.

Accepted inputs, recognised from their bytes:

- the tarball (streamed member by member with `pile.sources.archive.iter_archive`,
  never extracted): ids ``<source>/<user>/<folder>/<n>.`` (the path under ``maildir/``);
- mbox files (a maildir folder packed with Python's ``mailbox``: ``From `` separator
  lines, ``>From `` escapes undone): ids ``<source>/<mbox name>/<index>``;
- single message files (a maildir tree given as local ``paths``): ids are the path
  relative to the configured root.

A message is parsed with the standard library's `email` package; transfer encodings
(quoted-printable, base64) are decoded, the declared charset is honoured (with a
cp1252 fallback), and for multipart messages the ``text/plain`` parts are joined.
Messages larger than ``max_message_bytes`` are dropped (``too_large``) without being
read whole; an empty body is dropped (``empty_body``).
"""

from __future__ import annotations

import email
import email.message
import email.policy
import logging
import re
from pathlib import Path
from typing import IO, Any, ClassVar, Iterator

from pile.document import Document
from pile.errors import ConfigError
from pile.sources.archive import MemberRanges, archive_format, iter_archive
from pile.config import DEFAULT_MAX_RECORD_BYTES
from pile.sources.base import RemoteFile, Source, bounded_lines
from pile.sources.xmlsafe import open_compressed
from pile.stage import Dropped

log = logging.getLogger(__name__)

CMU_URL = "https://www.cs.cmu.edu/~enron/enron_mail_20150507.tar.gz"
_ESCAPED_FROM_RE = re.compile(rb"^>(>*From )", re.MULTILINE)
_BLANKS_RE = re.compile(r"\n{3,}")


def _decode(payload: bytes, charset: str | None) -> str:
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("cp1252", errors="replace")


def message_body(raw: bytes) -> str:
    """The body of one RFC 822 message as text, headers dropped, quoted text kept.

    Args:
        raw: the message's bytes (headers, blank line, body).

    Returns:
        The decoded body with ``\\n`` line ends and no surrounding blank lines.
    """
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    parts: list[str] = []
    for part in msg.walk() if msg.is_multipart() else [msg]:
        if part.is_multipart():
            continue
        if part.get_content_maintype() != "text" or part.get_content_subtype() not in ("plain", ""):
            if msg.is_multipart():
                continue  # attachments and HTML alternatives
        payload = part.get_payload(decode=True)
        if payload is None:
            payload = str(part.get_payload()).encode("utf-8", "surrogateescape")
        parts.append(_decode(payload, part.get_content_charset()))
    text = "\n\n".join(parts).replace("\r\n", "\n").replace("\r", "\n")
    return _BLANKS_RE.sub("\n\n", text).strip()


def iter_mbox(stream: IO[bytes], limit: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[bytes | int]:
    """Split an mbox stream into messages, streaming (``From `` lines separate them).

    The ``From `` separator line is dropped and one level of ``>From `` quoting is
    undone, as the mboxo/mboxrd writers (Python's ``mailbox``) escaped it.

    Yields:
        each message's bytes, or its size (an int) for a message over `limit` bytes,
        whose lines were counted and discarded instead of kept.
    """
    current: list[bytes] = []
    size = 0
    started = False

    def finish() -> bytes | int:
        return size if size > limit else _ESCAPED_FROM_RE.sub(rb"\1", b"".join(current))

    for _lineno, line in bounded_lines(stream, limit):
        if isinstance(line, bytes) and line.startswith(b"From "):
            if started:
                yield finish()
            current, size = [], 0
            started = True
            continue
        if started:
            size += line if isinstance(line, int) else len(line)
            if size > limit:
                current = []
            elif isinstance(line, bytes):
                current.append(line)
    if started:
        yield finish()


class EnronSource(MemberRanges, Source):
    """The Enron e-mail corpus (CMU maildir tarball, mbox files or loose messages).

    Options:
        max_message_bytes: larger messages are dropped (``too_large``) unread; the
            build's ``run.max_record_bytes`` applies when it is smaller.
    """

    kind: ClassVar[str] = "enron"
    pile_set_name: ClassVar[str] = "Enron Emails"
    license: ClassVar[str] = ("public record released by FERC; redistributed by CMU for "
                              "research use")
    upstream: ClassVar[str] = "www.cs.cmu.edu/~enron enron_mail_20150507.tar.gz (maildir)"
    options_schema: ClassVar[dict[str, Any]] = {"max_message_bytes": 10_000_000}

    def __init__(self, cfg: Any, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        limit = self.options["max_message_bytes"]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigError(f"sources.{self.name}.options.max_message_bytes: expected a "
                              f"positive integer, got {limit!r}")

    def list_files(self) -> list[RemoteFile]:
        if self.cfg.urls:
            return super().list_files()
        return [RemoteFile(url=CMU_URL, name="enron_mail_20150507.tar.gz")]

    @property
    def max_record_bytes(self) -> int:
        return min(self.options["max_message_bytes"], super().max_record_bytes)

    def read_members(self, path: Path, span: tuple[int, int] | None) -> Iterator[Document | Dropped]:
        """Message bodies from a maildir tarball, an mbox file or one message file."""
        if archive_format(path) is not None:
            for member, fh in iter_archive(path, span):
                key = member[len("maildir/"):] if member.startswith("maildir/") else member
                yield self._message(key, fh)
            return
        with open_compressed(path) as fh:
            head = fh.read(5)
            stream = _Prefixed(head, fh)
            if head.startswith(b"From "):
                stem = path.name
                for suffix in (".gz", ".bz2", ".xz", ".zst", ".mbox"):
                    stem = stem.removesuffix(suffix)
                for index, raw in enumerate(iter_mbox(stream, self.max_record_bytes)):
                    yield (self.dropped(f"{stem}/{index}", "too_large", record_bytes=raw)
                           if isinstance(raw, int) else self._from_bytes(f"{stem}/{index}", raw))
            else:
                yield self._message(self.key_for(path), stream)  # type: ignore[arg-type]

    def _message(self, key: str, fh: IO[bytes]) -> Document | Dropped:
        raw = self.read_record(fh, key)
        return raw if isinstance(raw, Dropped) else self._from_bytes(key, raw)

    def _from_bytes(self, key: str, raw: bytes) -> Document | Dropped:
        body = message_body(raw)
        user = key.split("/", 1)[0]
        if not body:
            return self.dropped(key, "empty_body", user=user)
        return self.document(key, body, user=user)


class _Prefixed:
    """A binary line reader over `first` (bytes already read) followed by `rest`."""

    def __init__(self, first: bytes, rest: IO[bytes]) -> None:
        self._first = first
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        head, self._first = self._first, b""
        if size is None or size < 0:
            return head + self._rest.read()
        if len(head) >= size:
            self._first = head[size:]
            return head[:size]
        return head + self._rest.read(size - len(head))

    def readline(self, size: int = -1) -> bytes:
        if not self._first:
            return self._rest.readline(size)
        head = self._first
        cut = head.find(b"\n") + 1
        if size is not None and size >= 0 and (not cut or cut > size) and len(head) >= size:
            self._first = head[size:]
            return head[:size]
        if cut:
            self._first = head[cut:]
            return head[:cut]
        self._first = b""
        more = -1 if size is None or size < 0 else size - len(head)
        return head + self._rest.readline(more)

    def __iter__(self) -> Iterator[bytes]:
        if self._first:
            first, self._first = self._first, b""
            line = first + (b"" if first.endswith(b"\n") else self._rest.readline())
            yield line
        yield from self._rest


__all__ = ["CMU_URL", "EnronSource", "iter_mbox", "message_body"]
