"""Safe, streaming reading of upstream archives: tar (plain, gz, bz2, xz), zip and 7z.

Upstream dumps arrive as archives (arXiv source tarballs, Stack Exchange ``.7z`` files,
the Enron maildir ``.tar.gz``, PMC packages). This module reads them member by member
without loading an archive whole, and refuses the classic archive attacks before a byte
is written or handed to a parser (the checks ``tarfile``'s ``data`` filter, PEP 706,
applies to extraction, applied here to reading too, and to zip and 7z alike):

- a member name that is absolute (``/etc/passwd``, ``C:\\x``) or has a ``..`` component;
- a symbolic or hard link whose target leaves the archive's root.

Every failure -- those refusals, a truncated or corrupt archive, a bad compressed
stream -- raises `pile.errors.SourceError` naming the archive and, when known, the
member, so the runner fails that one file and goes on.

7z archives are read with py7zr, which pushes decompressed bytes into writer objects;
`iter_archive` turns that push into a pull with a producer thread and a small bounded
queue, so a 100 GB ``Posts.xml`` inside a ``.7z`` streams in constant memory.
"""

from __future__ import annotations

import abc
import bz2
import gzip
import io
import logging
import lzma
import posixpath
import queue
import re
import shutil
import stat
import tarfile
import threading
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from zstandard import ZstdError

from pile.errors import SourceError
from pile.sources.base import even_spans

log = logging.getLogger(__name__)

# Exceptions that a truncated or corrupt compressed stream raises from `read()` (a
# corrupt .zst raises ZstdError, which is no OSError).
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    EOFError, OSError, zlib.error, lzma.LZMAError, tarfile.TarError, zipfile.BadZipFile,
    ValueError, ZstdError,
)

_MAGIC = {
    b"\x1f\x8b": "gz",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zst",
    b"7z\xbc\xaf\x27\x1c": "7z",
    b"PK\x03\x04": "zip",
    b"PK\x05\x06": "zip",  # an empty zip
}

_DRIVE_RE = re.compile(r"^[A-Za-z]:")


def describe_error(exc: BaseException) -> str:
    """A one-line reason for a decoding failure (``EOFError`` means truncated input)."""
    if isinstance(exc, EOFError):
        return "truncated: the compressed data ends before its end-of-stream marker"
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    if "unexpected end" in text or "ended before" in text:
        return f"truncated: {text}"
    return text


class GuardedReader(io.BufferedIOBase):
    """A binary reader whose decoding errors surface as `SourceError` naming the input.

    Decompressors report a truncated file as ``EOFError`` or ``OSError`` in the middle of
    a parse; wrapping them here means every caller (XML parsers, email parsers, line
    readers) gets the same one-line `SourceError` with the file and member named.
    """

    def __init__(self, raw: IO[bytes], label: str, on_close: Callable[[], None] | None = None
                 ) -> None:
        super().__init__()
        self._raw = raw
        self.label = label
        self.name = label
        self._on_close = on_close

    def _fail(self, exc: BaseException) -> SourceError:
        return SourceError(f"{self.label}: {describe_error(exc)}")

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._raw.read(-1 if size is None else size)
        except SourceError:
            raise
        except DECODE_ERRORS as exc:
            raise self._fail(exc) from exc

    def read1(self, size: int = -1) -> bytes:
        try:
            reader = getattr(self._raw, "read1", None)
            if reader is None:
                return self._raw.read(size if size >= 0 else io.DEFAULT_BUFFER_SIZE)
            return reader(size)
        except SourceError:
            raise
        except DECODE_ERRORS as exc:
            raise self._fail(exc) from exc

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        try:
            return self._raw.readline(-1 if size is None else size)
        except SourceError:
            raise
        except DECODE_ERRORS as exc:
            raise self._fail(exc) from exc

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                if self._on_close is not None:
                    self._on_close()
        super().close()


def refuse_empty(path: Path | str, what: str) -> None:
    """A 0-byte compressed file or archive is an upstream file that never arrived (a
    failed transfer, a full disk), not an empty corpus: fail it with that reason.

    Raises:
        SourceError: `path` is empty.
    """
    try:
        empty = Path(path).stat().st_size == 0
    except OSError as exc:
        raise SourceError(f"{path}: cannot open ({exc.strerror or exc})") from None
    if empty:
        raise SourceError(f"{path}: empty file (0 bytes), expected {what} data")


def sniff(path: Path) -> str:
    """The container or compression format of a file from its first bytes.

    Returns:
        one of ``gz``, ``bz2``, ``xz``, ``zst``, ``7z``, ``zip``, ``tar`` or ``plain``.
    """
    with open(path, "rb") as fh:
        head = fh.read(512)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    if _looks_like_tar_header(head):
        return "tar"
    return "plain"


def _looks_like_tar_header(block: bytes) -> bool:
    if len(block) < 512:
        return False
    if block[257:262] == b"ustar":
        return True
    # A v7 tar header has no magic; its checksum field is the test.
    try:
        stored = int(block[148:156].split(b"\0", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return stored == computed


def archive_format(path: Path) -> str | None:
    """``tar``, ``zip`` or ``7z`` when `path` is an archive `iter_archive` reads, else None.

    A gzip/bzip2/xz file is a tar archive only when its decompressed start is a tar
    header, so a single gzipped file (an arXiv ``.gz`` holding one ``.tex``) is None.
    """
    kind = sniff(path)
    if kind in ("zip", "7z", "tar"):
        return kind
    if kind in ("gz", "bz2", "xz"):
        opener = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind]
        try:
            with opener(path, "rb") as fh:
                head = fh.read(512)
        except DECODE_ERRORS:
            return None
        return "tar" if _looks_like_tar_header(head) else None
    return None


# -- member checks ---------------------------------------------------------------------


def check_member_name(archive: Path | str, name: str) -> str:
    """Refuse absolute names and ``..`` components; return the normalised relative name.

    Raises:
        SourceError: the name escapes the extraction root.
    """
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE_RE.match(unified):
        raise SourceError(f"{archive}: member {name!r} has an absolute path; refused")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise SourceError(f"{archive}: member {name!r} has a '..' component; refused")
    return "/".join(parts)


def _check_symlink(archive: Path | str, name: str, target: str) -> str:
    """The normalised in-archive path a symlink at `name` points to, or SourceError."""
    unified = target.replace("\\", "/")
    if unified.startswith("/") or _DRIVE_RE.match(unified):
        raise SourceError(f"{archive}: member {name!r} is a symlink to the absolute path "
                          f"{target!r}; refused")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), unified))
    if resolved == ".." or resolved.startswith("../"):
        raise SourceError(f"{archive}: member {name!r} is a symlink to {target!r}, outside "
                          "the archive; refused")
    return resolved


def _check_hardlink(archive: Path | str, name: str, target: str) -> str:
    unified = target.replace("\\", "/")
    resolved = posixpath.normpath(unified)
    if unified.startswith("/") or _DRIVE_RE.match(unified) or resolved == ".." \
            or resolved.startswith("../"):
        raise SourceError(f"{archive}: member {name!r} is a hard link to {target!r}, outside "
                          "the archive; refused")
    return resolved


@dataclass
class _Member:
    """One archive member: a regular file (with its reader), a link, or something else."""

    name: str
    kind: str  # "file", "symlink", "hardlink", "dir", "other"
    target: str | None = None
    fileobj: IO[bytes] | None = None


class CountingReader(io.RawIOBase):
    """A raw file that counts the bytes consumed and hands them out in small reads, so a
    decompressor's position in the compressed file is known to within 64 KiB. A record
    read through a decompressor over it is owned by the byte range this count is in
    when the record comes out: every unit of a file runs the same reads from its start,
    so each record gets the same count in all of them, and belongs to exactly one range."""

    STEP = 1 << 16

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = min(len(buf), self.STEP)
        data = self._raw.read(n)
        buf[:len(data)] = data
        self.consumed += len(data)
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(self.STEP if size is None or size < 0 else min(size, self.STEP))
        self.consumed += len(data)
        return data

    def close(self) -> None:
        self._raw.close()
        super().close()


# -- tar -------------------------------------------------------------------------------


_OPENERS: dict[str, Callable[[IO[bytes]], IO[bytes]]] = {
    "gz": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    "bz2": lambda raw: bz2.BZ2File(raw, "rb"),
    "xz": lambda raw: lzma.LZMAFile(raw, "rb"),
}


def _tar_members(path: Path, span: tuple[int, int] | None = None) -> Iterator[_Member]:
    try:
        raw: IO[bytes] = open(path, "rb")
    except OSError as exc:
        raise SourceError(f"{path}: cannot open ({exc.strerror})") from None
    # The compressed stream is decoded here, not by tarfile's stream mode: tarfile never
    # reads a gzip trailer, so a corrupted .tar.gz whose damage still inflates would pass
    # unnoticed; `GzipFile` checks the CRC when drained to its end (below).
    kind = sniff(path)
    counter = CountingReader(raw) if span is not None and kind in _OPENERS else None
    stream: IO[bytes] = _OPENERS[kind](counter or raw) if kind in _OPENERS else raw
    try:
        try:
            tf = tarfile.open(fileobj=stream, mode="r|")
        except DECODE_ERRORS as exc:
            raise SourceError(f"{path}: not a readable tar archive ({describe_error(exc)})") from None
        with tf:
            current = "<header>"
            while True:
                try:
                    info = tf.next()
                except SourceError:
                    raise
                except DECODE_ERRORS as exc:
                    raise SourceError(f"{path}: after member {current!r}: "
                                      f"{describe_error(exc)}") from None
                if info is None:
                    try:
                        while stream.read(1 << 20):  # to the end: checksums, trailing damage
                            pass
                    except DECODE_ERRORS as exc:
                        raise SourceError(f"{path}: after member {current!r}: "
                                          f"{describe_error(exc)}") from None
                    break
                current = info.name
                if span is not None:
                    # A member belongs to the range its header is read in: its offset in a
                    # plain tar, the compressed bytes consumed so far in a compressed one.
                    at = counter.consumed if counter is not None else info.offset
                    if at >= span[1]:
                        return  # the next range's first member
                    if at < span[0]:
                        continue  # an earlier range's (tarfile reads past its data)
                name = check_member_name(path, info.name)
                if info.issym():
                    _check_symlink(path, name, info.linkname)
                    yield _Member(name, "symlink", info.linkname)
                elif info.islnk():
                    target = _check_hardlink(path, name, info.linkname)
                    yield _Member(name, "hardlink", target)
                elif info.isdir():
                    yield _Member(name, "dir")
                elif info.isreg():
                    fh = tf.extractfile(info)
                    assert fh is not None  # a regular member always has data
                    yield _Member(name, "file", fileobj=GuardedReader(fh, f"{path}:{name}"))
                else:
                    yield _Member(name, "other")
    finally:
        stream.close()
        raw.close()


# -- zip -------------------------------------------------------------------------------


def _zip_members(path: Path, span: tuple[int, int] | None = None) -> Iterator[_Member]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise SourceError(f"{path}: not a readable zip archive ({describe_error(exc)})") from None
    with zf:
        for info in zf.infolist():
            if span is not None and not span[0] <= info.header_offset < span[1]:
                continue  # another range's member: zip members are found by offset
            name = check_member_name(path, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                try:
                    target = zf.read(info).decode("utf-8", "surrogateescape")
                except DECODE_ERRORS as exc:
                    raise SourceError(f"{path}:{name}: {describe_error(exc)}") from None
                _check_symlink(path, name, target)
                yield _Member(name, "symlink", target)
            elif info.is_dir():
                yield _Member(name, "dir")
            else:
                try:
                    fh = zf.open(info)
                except DECODE_ERRORS as exc:
                    raise SourceError(f"{path}:{name}: {describe_error(exc)}") from None
                yield _Member(name, "file", fileobj=GuardedReader(fh, f"{path}:{name}"))


# -- 7z --------------------------------------------------------------------------------

_END = object()
_CHUNK_QUEUE = 16  # bounded: at most this many decompressed chunks wait in memory


class _Cancelled(Exception):
    """Raised inside the py7zr thread when the reader stops early."""


class _QueueWriter:
    """A py7zr writer (the `Py7zIO` protocol) that forwards chunks to the reader thread."""

    def __init__(self, name: str, put: Callable[[Any], None]) -> None:
        self.name = name
        self._put = put
        self._size = 0
        self._put(("member", name))

    def write(self, data: bytes | bytearray) -> int:
        if data:
            self._put(("data", bytes(data)))
            self._size += len(data)
        return len(data)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        pass

    def size(self) -> int:
        return self._size

    def close(self) -> None:
        self._put(("end", self.name))


class _QueueReader(io.RawIOBase):
    """The consumer side of one 7z member: reads chunks off the queue until its end."""

    def __init__(self, get: Callable[[], Any], label: str) -> None:
        super().__init__()
        self._get = get
        self._buf = b""
        self._done = False
        self.label = label

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._buf and not self._done:
            kind, payload = self._get()
            if kind == "data":
                self._buf = payload
            elif kind == "end":
                self._done = True
            else:  # pragma: no cover - the producer protocol never sends anything else here
                raise SourceError(f"{self.label}: unexpected 7z stream event {kind!r}")
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def drain(self) -> None:
        """Skip what the consumer did not read, so the next member can start."""
        while not self._done:
            kind, _ = self._get()
            if kind == "end":
                self._done = True
        self._buf = b""


def _sevenzip_members(path: Path) -> Iterator[_Member]:
    import py7zr
    from py7zr.io import WriterFactory

    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise SourceError(f"{path}: cannot open ({exc.strerror})") from None
    try:
        try:
            # A file object (not a path) keeps py7zr single-threaded, hence in order.
            szf = py7zr.SevenZipFile(fh, mode="r")
        except Exception as exc:  # py7zr raises a zoo of types for a broken header
            raise SourceError(f"{path}: not a readable 7z archive ({describe_error(exc)})") from None
        kinds: dict[str, str] = {}
        links: dict[str, str] = {}  # normalised name -> name in the archive
        for f in szf.files:
            name = check_member_name(path, f.filename)
            kinds[name] = ("dir" if f.is_directory else "symlink" if f.is_symlink
                           else "file" if not f.is_socket else "other")
            if f.is_symlink:
                links[name] = f.filename
        if links:
            # Check every link target before any content is handed out (link targets
            # are stored as the member's data, so they are read first, then rewound).
            from py7zr.io import BytesIOFactory

            store = BytesIOFactory(limit=1 << 16)
            try:
                szf.extract(targets=list(links.values()), factory=store)
            except Exception as exc:  # noqa: BLE001 - py7zr raises many types
                # py7zr itself refuses a link whose target leaves the archive.
                raise SourceError(f"{path}: symlink member(s) {', '.join(sorted(links))} "
                                  f"refused ({describe_error(exc)})") from None
            for name, original in links.items():
                product = store.products.get(original)
                if product is not None:
                    product.seek(0)
                    target = product.read().decode("utf-8", "surrogateescape")
                    _check_symlink(path, name, target)
            szf.reset()
        for name, kind in kinds.items():
            if kind == "dir":
                yield _Member(name, "dir")

        events: queue.Queue[Any] = queue.Queue(maxsize=_CHUNK_QUEUE)
        cancelled = threading.Event()

        def put(item: Any) -> None:
            while True:
                if cancelled.is_set():
                    raise _Cancelled()
                try:
                    events.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        class Factory(WriterFactory):
            def create(self, filename: str) -> _QueueWriter:
                return _QueueWriter(filename, put)

        def produce() -> None:
            try:
                szf.extractall(factory=Factory())
                put(("done", None))
            except _Cancelled:
                pass
            except BaseException as exc:  # noqa: BLE001 - handed to the reader thread
                try:
                    put(("error", exc))
                except _Cancelled:
                    pass

        def get() -> Any:
            kind, payload = events.get()
            if kind == "error":
                raise SourceError(f"{path}: {describe_error(payload)}")
            if kind == "done":
                raise SourceError(f"{path}: 7z stream ended inside a member")
            return kind, payload

        thread = threading.Thread(target=produce, name=f"7z:{path.name}", daemon=True)
        thread.start()
        try:
            while True:
                kind, payload = events.get()
                if kind == "done":
                    break
                if kind == "error":
                    raise SourceError(f"{path}: {describe_error(payload)}")
                if kind != "member":
                    continue
                name = check_member_name(path, payload)
                reader = _QueueReader(get, f"{path}:{name}")
                if kinds.get(name) == "symlink":
                    target = reader.read().decode("utf-8", "surrogateescape")
                    _check_symlink(path, name, target)
                    yield _Member(name, "symlink", target)
                else:
                    yield _Member(name, "file", fileobj=io.BufferedReader(reader, 1 << 16))
                reader.drain()
        finally:
            cancelled.set()
            thread.join(timeout=5)
            szf.close()
    finally:
        fh.close()


# -- public API ------------------------------------------------------------------------


def _members(path: Path, span: tuple[int, int] | None = None) -> Iterator[_Member]:
    path = Path(path)
    refuse_empty(path, "tar, zip or 7z archive")
    try:
        fmt = archive_format(path)
    except OSError as exc:
        raise SourceError(f"{path}: cannot open ({exc.strerror})") from None
    if fmt == "tar":
        return _tar_members(path, span)
    if fmt == "zip":
        return _zip_members(path, span)
    if fmt == "7z":
        if span is not None:
            raise SourceError(f"{path}: a 7z archive is read whole, not in ranges")
        return _sevenzip_members(path)
    raise SourceError(f"{path}: expected a tar, zip or 7z archive, found {sniff(path)} data")


def archive_spans(path: Path, target: int) -> list[tuple[int, int]] | None:
    """Byte ranges of a tar or zip archive larger than `target`, for `iter_archive`'s
    `span` (a source whose members are read independently of each other splits its
    archives this way), or None: read whole. A 7z archive is solid (one compressed
    stream for many members, no member offsets), so it is always read whole."""
    path = Path(path)
    size = path.stat().st_size
    if size <= target or archive_format(path) not in ("tar", "zip"):
        return None
    return even_spans(size, target)


class MemberRanges(abc.ABC):
    """Mixed into a `Source` whose archive members are read independently of each other
    (one message, article, session or module per member): `read` and `read_span` both go
    through the source's `read_members`, and a tar or zip archive larger than a unit
    splits into member ranges (`archive_spans`). `archive_suffixes`, when set, are the
    only names the source reads as archives (others are never split)."""

    archive_suffixes: tuple[str, ...] = ()

    @abc.abstractmethod
    def read_members(self, path: Path, span: tuple[int, int] | None) -> Iterator[Any]:
        """The documents of `path`, of the members in `span` only when it is given."""

    def read(self, path: Path) -> Iterator[Any]:
        yield from self.read_members(Path(path), None)

    def spans(self, path: Path, target: int) -> list[tuple[int, int]] | None:
        if self.archive_suffixes and not Path(path).name.lower().endswith(self.archive_suffixes):
            return None
        return archive_spans(Path(path), target)

    def read_span(self, path: Path, span: tuple[int, int]) -> Iterator[Any]:
        yield from self.read_members(Path(path), span)


def iter_archive(path: Path, span: tuple[int, int] | None = None) -> Iterator[tuple[str, IO[bytes]]]:
    """Stream the regular files of a tar (plain/gz/bz2/xz), zip or 7z archive, in order.

    Each file object is valid until the iterator advances (read it before asking for
    the next member). Directories and links that stay inside the archive are skipped.

    Args:
        path: the archive; its format is recognised from its bytes, not its name.
        span: only the members that start in this byte range (`archive_spans`): the
            member's offset in a zip or plain tar, the compressed bytes consumed when
            its header comes out in a compressed tar (`CountingReader`). The ranges of
            an archive give exactly its members, in order; a compressed tar's range
            still decompresses (without parsing) the members before it.

    Yields:
        (member name, relative and normalised; a readable binary file object).

    Raises:
        SourceError: an absolute or ``..`` member name, a link leaving the archive, or a
            truncated/corrupt archive (also raised from the file object's ``read``).
    """
    for member in _members(Path(path), span):
        if member.kind == "file" and member.fileobj is not None:
            yield member.name, member.fileobj


def safe_extract(path: Path, dest: Path) -> list[Path]:
    """Extract the regular files of an archive under `dest`, refusing anything that escapes.

    Links are never created: a hard link or a symlink to a file already extracted
    becomes a copy of it, other links are skipped. Files are written through a temporary
    name so a failure never leaves a half-written file under its final name.

    Args:
        path: a tar (plain/gz/bz2/xz), zip or 7z archive.
        dest: the destination folder (created).

    Returns:
        The extracted files, in archive order.

    Raises:
        SourceError: as `iter_archive`, checked for every member before it is written.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written: dict[str, Path] = {}
    out: list[Path] = []
    for member in _members(Path(path)):
        target = (root / member.name).resolve()
        if target != root and root not in target.parents:
            raise SourceError(f"{path}: member {member.name!r} would be written outside "
                              f"{dest}; refused")
        if member.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
            continue
        if member.kind in ("symlink", "hardlink"):
            assert member.target is not None
            linked = (member.target if member.kind == "hardlink" else
                      _check_symlink(path, member.name, member.target))
            if linked in written:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(written[linked], target)
                written[member.name] = target
                out.append(target)
            else:
                log.debug("%s: link %s -> %s skipped (target not extracted)", path,
                          member.name, member.target)
            continue
        if member.kind != "file" or member.fileobj is None:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".extracting")
        try:
            with open(tmp, "wb") as fh:
                shutil.copyfileobj(member.fileobj, fh, 1 << 20)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        written[member.name] = target
        out.append(target)
    return out


__all__ = ["CountingReader", "GuardedReader", "MemberRanges", "archive_format", "archive_spans", "check_member_name",
           "describe_error", "iter_archive", "refuse_empty", "safe_extract", "sniff"]
