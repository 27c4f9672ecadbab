"""Downloads are stored under their URL path (issue 11, defect 4), for every kind.

Each kind gets its real upstream URL shape in ``urls``; a loopback ``http.server`` serves
real sample files (from ../shared/data, packed at test time into the upstream's
container) under those paths, the real `Downloader` fetches them through a rewrite
rule, and the source must then read at least one document from what was stored.
"""

from __future__ import annotations

import bz2
import gzip
import io
import mailbox
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError
from pile.sources import make_source
from pile.sources.base import url_name
from pile.sources.download import Downloader

S = "samples"


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _seven_zip(members: dict[str, bytes], tmp: Path) -> bytes:
    import py7zr

    out = tmp / "packed.7z"
    with py7zr.SevenZipFile(out, "w") as szf:
        for name, data in members.items():
            szf.writestr(data, name)
    return out.read_bytes()


def _maildir_tar(mbox: Path) -> bytes:
    msgs = {f"maildir/allen-p/inbox/{i + 1}.": m.as_bytes()
            for i, m in enumerate(mailbox.mbox(str(mbox))) if i < 3}
    return _tar_gz(msgs)


def _posts_only(xml: bytes) -> bytes:
    return xml


# kind -> (real upstream URL, options, how to build the served bytes from shared/data)
CASES: dict[str, tuple[str, dict, Callable[[Path, Path], bytes]]] = {
    "ubuntu_irc": ("https://irclogs.ubuntu.com/2025/11/26/%23ubuntu.txt", {},
                   lambda d, t: (d / S / "ubuntu_irc/2025-11-26_ubuntu.txt").read_bytes()),
    "wikipedia": ("https://dumps.wikimedia.org/enwiki/20240601/enwiki-20240601-pages-articles1.xml-p1p41242.bz2",
                  {}, lambda d, t: (d / S / "wikipedia/enwiki-table-markup.xml.bz2").read_bytes()),
    "stackexchange": ("https://archive.org/download/stackexchange/cstheory.meta.stackexchange.com.7z", {},
                      lambda d, t: _seven_zip({"Posts.xml": (d / S / "stackexchange/cstheory.meta.stackexchange.com/Posts.xml").read_bytes()}, t)),
    "pubmed_abstracts": ("https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/pubmed25n0001.xml.gz", {},
               lambda d, t: gzip.compress((d / S / "pubmed/pubmed-29768149.xml").read_bytes())),
    "pubmed_central": ("https://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_bulk/oa_comm/xml/oa_comm_xml.PMC003xxxxxx.baseline.2024-06-18.tar.gz",
            {}, lambda d, t: _tar_gz({"PMC003xxxxxx/PMC3183049.xml": (d / S / "pmc/1471-2180-11-174.nxml").read_bytes()})),
    "uspto": ("https://bulkdata.uspto.gov/data/patent/grant/redbook/fulltext/2016/ipg160607.zip", {},
              lambda d, t: _zip({"ipg160607.xml": (d / S / "uspto/US09358892-20160607-grant-v4.5.xml").read_bytes()})),
    "arxiv": ("https://arxiv.org/e-print/1907.10121", {},
              lambda d, t: _tar_gz({p.name: p.read_bytes() for p in sorted((d / S / "arxiv/scipy-1.0").iterdir())})),
    "commoncrawl": ("https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/wet/"
                    "CC-MAIN-20240517233122-20240518023122-00000.warc.wet.gz", {"format": "wet"},
                    lambda d, t: (d / S / "commoncrawl/whirlwind.warc.wet.gz").read_bytes()),
    "enron": ("https://www.cs.cmu.edu/~enron/enron_mail_20150507.tar.gz", {},
              lambda d, t: _maildir_tar(d / S / "enron/enron.allen-p.inbox.mbox")),
    "europarl": ("https://www.statmt.org/europarl/v7/europarl.tgz", {},
                 lambda d, t: _tar_gz({"txt/en/ep-00-01-17.txt": (d / S / "europarl/en/ep-00-01-17.txt").read_bytes()})),
    "gutenberg": ("https://www.gutenberg.org/cache/epub/3261/pg3261.txt", {},
                  lambda d, t: (d / S / "gutenberg/3261.txt").read_bytes()),
}


@pytest.fixture()
def www(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A loopback http.server serving the folder ``www/<host>/<path>`` (real files)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _publish(root: Path, url: str, data: bytes) -> None:
    """Place `data` where http.server answers `url` (it percent-decodes the path)."""
    rest = url.split("://", 1)[1]
    host, _, path = rest.partition("/")
    target = root / host / Path(*[seg for seg in _unquote(path).split("/") if seg])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _unquote(path: str) -> str:
    from urllib.parse import unquote

    return unquote(path)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_kind_reads_what_its_real_url_shape_stored(kind, www, tmp_path, shared_data):
    url, options, build = CASES[kind]
    root, base = www
    _publish(root, url, build(shared_data, tmp_path))
    src = make_source(SourceConfig(name=kind, kind=kind, urls=(url,), options=options), tmp_path / "raw")
    host = url.split("://", 1)[1].split("/", 1)[0]
    dl = Downloader(rewrites={f"https://{host}/": f"{base}/{host}/"}, progress=False,
                    backoff=0.0, delays={}, timeout=10.0)
    results = dl.fetch(src)
    assert [r.ok for r in results] == [True], [str(r) for r in results]
    stored = src.raw_dir / (url_name(url) + (".gz" if kind == "arxiv" else ""))
    assert results[0].path == stored and stored.is_file()
    docs = [d for p in src.inputs() for d in src.read(p) if isinstance(d, Document)]
    assert docs, f"{kind}: nothing read from {stored.relative_to(src.raw_dir)}"


def test_ubuntu_irc_log_is_stored_under_its_decoded_url_path(www, tmp_path, shared_data):
    url = "https://irclogs.ubuntu.com/2025/11/26/%23ubuntu.txt"
    assert url_name(url) == "2025/11/26/#ubuntu.txt"
    root, base = www
    _publish(root, url, (shared_data / S / "ubuntu_irc/2025-11-26_ubuntu.txt").read_bytes())
    src = make_source(SourceConfig(name="irc", kind="ubuntu_irc", urls=(url,)), tmp_path / "raw")
    Downloader(rewrites={"https://irclogs.ubuntu.com/": f"{base}/irclogs.ubuntu.com/"},
               progress=False, backoff=0.0, delays={}).fetch(src)
    assert (tmp_path / "raw/irc/2025/11/26/#ubuntu.txt").is_file()
    [doc] = [d for p in src.inputs() for d in src.read(p)]
    assert isinstance(doc, Document) and doc.id == "irc/ubuntu/2025-11-26"


def test_two_days_of_one_channel_no_longer_share_a_file():
    days = [f"https://irclogs.ubuntu.com/2025/11/{d}/%23ubuntu.txt" for d in (25, 26)]
    assert len({url_name(u) for u in days}) == 2


@pytest.mark.parametrize("urls", [
    ("https://a.example/x/data.gz", "https://b.example/x/data.gz"),      # same path, two hosts
    ("https://a.example/x/data.gz?v=1", "https://a.example/x/data.gz?v=2"),  # only the query differs
    ("https://a.example/x/%64ata.gz", "https://a.example/x/data.gz"),    # one is percent-encoded
    ("https://a.example/x", "https://a.example/x/y.gz"),                  # a file where a folder goes
])
def test_urls_mapping_to_one_name_are_a_config_error_naming_both(urls, tmp_path):
    src = make_source(SourceConfig(name="s", kind="wikipedia", urls=urls), tmp_path / "raw")
    with pytest.raises(ConfigError) as info:
        src.list_files()
    assert urls[0] in str(info.value) and urls[1] in str(info.value)
    with pytest.raises(ConfigError):
        src.check_inputs()  # what a build calls before any work
    with pytest.raises(ConfigError):
        Downloader(progress=False).fetch(src)


@pytest.mark.parametrize("url, name", [
    ("https://x.org/a/b/c.txt", "a/b/c.txt"),
    ("https://x.org/a/%2e%2e/%2E%2E/etc/passwd", "a/%2E%2E/%2E%2E/etc/passwd"),
    ("https://x.org/../../etc/passwd", "%2E%2E/%2E%2E/etc/passwd"),
    ("https://x.org/a%2Fb.txt", "a%2Fb.txt"),
    ("https://x.org/caf%C3%A9.txt", "café.txt"),
    ("https://x.org/bad%FF%00.txt", "bad%FF%00.txt"),
    ("https://x.org/dir/", "dir/index.html"),
    ("https://x.org", "index.html"),
    ("https://x.org/a//./b.txt?x=1#frag", "a/b.txt"),
])
def test_url_names_are_decoded_and_safe(url, name):
    assert url_name(url) == name
    assert not any(part == ".." for part in url_name(url).split("/"))
