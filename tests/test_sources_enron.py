"""Enron: the real messages as a CMU-style maildir tarball over loopback HTTP, and as mbox."""

from __future__ import annotations

import io
import mailbox
import pickle
import re
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.download import Downloader
from pile.sources.enron import CMU_URL, EnronSource, iter_mbox, message_body
from pile.stage import Dropped

HEADER_LINE_RE = re.compile(r"^(Message-ID|X-From|X-To|X-Folder|X-FileName|X-Origin|"
                            r"Mime-Version|Content-Transfer-Encoding):", re.MULTILINE | re.IGNORECASE)


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def mboxes(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "samples" / "enron").glob("*.mbox"))


def _maildir_messages(mboxes: list[Path]) -> list[tuple[str, bytes]]:
    """(maildir path, raw message) pairs, split by the standard library's `mailbox`."""
    out = []
    for path in mboxes:
        _, user, folder = path.name.removesuffix(".mbox").split(".", 2)
        box = mailbox.mbox(path, create=False)
        for i, key in enumerate(box.iterkeys(), start=1):
            # The packing script escaped body lines starting with "From "; the maildir
            # files it read did not have the escape.
            raw = re.sub(rb"(?m)^>(>*From )", rb"\1", box.get_bytes(key))
            out.append((f"maildir/{user}/{folder}/{i}.", raw))
        box.close()
    return out


@pytest.fixture(scope="module")
def upstream(mboxes: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``enron_mail_20150507.tar.gz`` laid out as CMU ships it, from the sample messages."""
    folder = tmp_path_factory.mktemp("cmu")
    with tarfile.open(folder / "enron_mail_20150507.tar.gz", "w:gz") as tf:
        for name, raw in _maildir_messages(mboxes):
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
    return folder


@pytest.fixture(scope="module")
def served(upstream: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(upstream)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def from_tarball(served: str, tmp_path_factory: pytest.TempPathFactory) -> list[Document | Dropped]:
    raw = tmp_path_factory.mktemp("raw")
    # The default listing, rewritten onto the loopback server as `--mirror FROM=TO` does.
    source = make_source(SourceConfig(name="enron", kind="enron"), raw)
    downloader = Downloader(progress=False, delays={},
                            rewrites=[f"https://www.cs.cmu.edu/~enron/={served}/"])
    [result] = downloader.fetch(source)
    assert result.status == "downloaded", result.error
    [path] = source.inputs()
    return list(source.read(path))


def test_one_document_per_message_without_headers(from_tarball, mboxes: list[Path]) -> None:
    expected = _maildir_messages(mboxes)
    docs = [d for d in from_tarball if isinstance(d, Document)]
    assert len(from_tarball) == len(expected) == 96 and len(docs) == 96
    assert [d.id for d in docs] == ["enron/" + name.removeprefix("maildir/") for name, _ in expected]
    for doc in docs:
        assert not HEADER_LINE_RE.search(doc.text), (doc.id, HEADER_LINE_RE.search(doc.text))
        assert "From MAILER-DAEMON" not in doc.text and doc.text == doc.text.strip()
        assert doc.meta["pile_set_name"] == "Enron Emails"
    assert {d.meta["user"] for d in docs} == {"allen-p", "beck-s", "lay-k"}


def test_quoted_replies_are_kept(from_tarball) -> None:
    texts = [d.text for d in from_tarball if isinstance(d, Document)]
    quoted = [t for t in texts if "-----Original Message-----" in t]
    assert len(quoted) >= 5 and sum("\nFrom:" in t for t in quoted) >= 5
    assert any(t.startswith("Wow!  this looks complicated.") for t in quoted)


def test_bodies_match_the_standard_library(from_tarball, mboxes: list[Path]) -> None:
    docs = [d for d in from_tarball if isinstance(d, Document)]
    for doc, (_, raw) in zip(docs, _maildir_messages(mboxes)):
        msg = mailbox.mboxMessage(raw)
        if msg.is_multipart():
            continue
        payload = msg.get_payload(decode=True).decode("utf-8", "replace")
        normalised = re.sub(r"\n{3,}", "\n\n", payload.replace("\r\n", "\n")).strip()
        assert doc.text == normalised, doc.id


def test_mbox_files_give_the_same_bodies(from_tarball, mboxes: list[Path], shared_data: Path,
                                         tmp_path: Path) -> None:
    source = EnronSource(SourceConfig(name="enron", kind="enron",
                                      paths=(str(shared_data / "samples" / "enron"),)), tmp_path)
    inputs = source.inputs()
    assert [p.name for p in inputs] == [p.name for p in mboxes]
    docs = [d for p in inputs for d in source.read(p)]
    assert [d.text for d in docs] == [d.text for d in from_tarball]
    assert docs[0].id == "enron/enron.allen-p.inbox/0"


def test_loose_maildir_files(mboxes: list[Path], tmp_path: Path) -> None:
    root = tmp_path / "maildir"
    for name, raw in _maildir_messages(mboxes)[:5]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    source = EnronSource(SourceConfig(name="enron", kind="enron", paths=(str(root),)), tmp_path)
    docs = [d for p in source.inputs() for d in source.read(p)]
    assert [d.id for d in docs] == [f"enron/allen-p/inbox/{i}." for i in (1, 2, 3, 4, 5)]
    assert all(isinstance(d, Document) and not HEADER_LINE_RE.search(d.text) for d in docs)


MESSAGES = [
    # (raw message, expected body)
    (b"Message-ID: <1@x>\nX-From: A\nSubject: hi\n\nHello\n\n\n\nBye\n", "Hello\n\nBye"),
    (b"Subject: qp\nContent-Type: text/plain; charset=iso-8859-1\n"
     b"Content-Transfer-Encoding: quoted-printable\n\nCaf=E9 =3D 1 soft=\nbreak\n", "Café = 1 softbreak"),
    (b"Subject: b64\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=\n", "hello world"),
    (b"Subject: crlf\r\n\r\nline one\r\nline two\r\n", "line one\nline two"),
    (b'Subject: mp\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="B"\n\n'
     b"--B\nContent-Type: text/plain\n\nplain part\n--B\nContent-Type: text/html\n\n"
     b"<p>html part</p>\n--B--\n", "plain part"),
    (b"Subject: odd charset\nContent-Type: text/plain; charset=ANSI_X3.4-1968\n\nascii body\n",
     "ascii body"),
    (b"Subject: unknown charset\nContent-Type: text/plain; charset=x-nonsense\n\nna\xefve\n",
     "na\u00efve"),
    (b"Subject: quoted\n\nMy reply.\n\n> earlier text\n> more\n", "My reply.\n\n> earlier text\n> more"),
]


@pytest.mark.parametrize("raw, expected", MESSAGES)
def test_message_body(raw: bytes, expected: str) -> None:
    assert message_body(raw) == expected


def test_mbox_splitting_unescapes_from_lines() -> None:
    data = (b"From MAILER-DAEMON Mon Jan  1 00:00:00 2001\nSubject: a\n\n>From here on\n"
            b">>From stays quoted once\n\nFrom MAILER-DAEMON Mon Jan  1 00:00:00 2001\n"
            b"Subject: b\n\nsecond\n")
    messages = list(iter_mbox(io.BytesIO(data)))
    assert len(messages) == 2
    assert message_body(messages[0]) == "From here on\n>From stays quoted once"
    assert message_body(messages[1]) == "second"


def test_drop_reasons(tmp_path: Path) -> None:
    box = tmp_path / "box.mbox"
    box.write_bytes(b"From x\nSubject: empty\n\n\n\nFrom x\nSubject: big\n\n" + b"y" * 500 + b"\n"
                    b"From x\nSubject: ok\n\nfine\n")
    source = EnronSource(SourceConfig(name="enron", kind="enron",
                                      options={"max_message_bytes": 200}), tmp_path)
    out = list(source.read(box))
    assert [(o.doc.id, o.reason) if isinstance(o, Dropped) else (o.id, o.text) for o in out] == [
        ("enron/box/0", "empty_body"), ("enron/box/1", "too_large"), ("enron/box/2", "fine")]


def test_truncated_tarball_fails_that_file(upstream: Path, tmp_path: Path) -> None:
    data = (upstream / "enron_mail_20150507.tar.gz").read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    source = EnronSource(SourceConfig(name="enron", kind="enron"), tmp_path)
    seen = 0
    with pytest.raises(SourceError, match="truncated|unexpected end") as err:
        for _ in source.read(cut):
            seen += 1
    assert "cut.tar.gz" in str(err.value) and 0 < seen < 96


def _items(out) -> list[tuple[str, str]]:
    return [(o.doc.id, o.reason) if isinstance(o, Dropped) else (o.id, o.text) for o in out]


@pytest.mark.parametrize("step", [1024, None])  # the position's granularity: fine, and the default
@pytest.mark.parametrize("suffix", [".tar.gz", ".tar"])
def test_member_ranges_of_the_tarball_give_the_documents_of_a_whole_read(
        mboxes: list[Path], tmp_path: Path, monkeypatch, suffix: str, step: int | None) -> None:
    from pile.sources.archive import CountingReader

    if step:
        monkeypatch.setattr(CountingReader, "STEP", step)
    path = tmp_path / f"enron_mail{suffix}"
    with tarfile.open(path, "w:gz" if suffix == ".tar.gz" else "w") as tf:
        for name, raw in _maildir_messages(mboxes):
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
    source = EnronSource(SourceConfig(name="enron", kind="enron"), tmp_path)
    whole = _items(source.read(path))
    target = path.stat().st_size // 7
    spans = source.spans(path, target)
    assert spans is not None and len(spans) == 8
    parts = [_items(source.read_span(path, span)) for span in spans]
    assert [item for part in parts for item in part] == whole and len(whole) == 96
    if step or suffix == ".tar":  # positions finer than the ranges: every range has messages
        assert all(parts)
    assert source.spans(path, path.stat().st_size) is None  # fits one unit: read whole


def test_truncated_tarball_fails_its_last_range(upstream: Path, tmp_path: Path, monkeypatch) -> None:
    from pile.sources.archive import CountingReader

    monkeypatch.setattr(CountingReader, "STEP", 1024)
    data = (upstream / "enron_mail_20150507.tar.gz").read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    source = EnronSource(SourceConfig(name="enron", kind="enron"), tmp_path)
    spans = source.spans(cut, len(data) // 4)
    assert spans is not None and len(spans) == 3
    assert len(list(source.read_span(cut, spans[0]))) > 0  # before the damage: whole
    with pytest.raises(SourceError, match="truncated|unexpected end") as err:
        list(source.read_span(cut, spans[-1]))
    assert "cut.tar.gz" in str(err.value)


def test_default_upstream(tmp_path: Path) -> None:
    source = EnronSource(SourceConfig(name="enron", kind="enron"), tmp_path)
    [remote] = source.list_files()
    assert remote.url == CMU_URL == "https://www.cs.cmu.edu/~enron/enron_mail_20150507.tar.gz"
    assert remote.name == "enron_mail_20150507.tar.gz"
    clone = pickle.loads(pickle.dumps(source))
    assert clone.list_files() == source.list_files()


@pytest.mark.parametrize("options, field", [
    ({"max_message_bytes": 0}, "options.max_message_bytes"),
    ({"max_message_bytes": "10MB"}, "options.max_message_bytes"),
    ({"headers": True}, "options.headers"),
])
def test_bad_options_are_config_errors(tmp_path: Path, options: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"sources.enron.{field}")):
        EnronSource(SourceConfig(name="enron", kind="enron", options=options), tmp_path)
