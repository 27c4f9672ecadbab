"""Part B sources end to end over HTTP: each source's real default listing, rewritten
onto a loopback server that serves the real samples (and listings / packages built from
them), downloaded by the real `Downloader`, then extracted."""

from __future__ import annotations

import gzip
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.sources import make_source
from pile.sources.download import Downloader


class Server:
    """A loopback HTTP server over an in-memory table ``path -> bytes`` (404 otherwise)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve(False)

            def do_GET(self) -> None:
                self._serve(True)

            def _serve(self, body: bool) -> None:
                path = self.path.split("?", 1)[0]
                outer.hits.append(path)
                data = outer.files.get(path)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", f'"{len(data)}"')
                self.end_headers()
                if body:
                    self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.close()


def _tar(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _run(server: Server, tmp_path: Path, kind: str, upstream: str, rounds: int = 1,
         **options) -> tuple[list, list]:
    """Download `kind`'s default listing (rewritten onto the server) and extract it."""
    src = make_source(SourceConfig(name=kind, kind=kind, options=options), tmp_path / "raw")
    downloader = Downloader(rewrites={upstream: server.url + "/"}, progress=False, retries=0,
                            backoff=0.01, workers=4)
    results = []
    for _ in range(rounds):  # two-step listings grow once their listing file is present
        results = downloader.fetch(src)
    items = [item for path in src.inputs() for item in src.read(path)]
    return results, items


def _ids(items: list) -> list[tuple[str, str]]:
    return [(i.id, "doc") if isinstance(i, Document) else (i.doc.id, i.reason) for i in items]


def test_commoncrawl(shared_data: Path, tmp_path: Path, server: Server) -> None:
    warc = "crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/warc/whirlwind.warc.gz"
    server.files["/crawl-data/CC-MAIN-2024-22/warc.paths.gz"] = gzip.compress(warc.encode() + b"\n")
    server.files["/" + warc] = (shared_data / "samples/commoncrawl/whirlwind.warc.gz").read_bytes()
    results, items = _run(server, tmp_path, "commoncrawl", "https://data.commoncrawl.org/", rounds=2,
                          extractor="trafilatura")
    assert [r.status for r in results] == ["cached", "downloaded"]
    assert _ids(items) == [("commoncrawl/2aabeff2-67f5-4608-8466-e87c6296e2b6", "doc")]
    assert "Escopete ye un municipio" in items[0].text


def test_pubmed_abstracts(shared_data: Path, tmp_path: Path, server: Server) -> None:
    """Each baseline file is verified against the ``.md5`` NCBI publishes beside it (the
    OpenSSL ``MD5(<name>)= <hex>`` line NCBI writes), listed and fetched first."""
    import hashlib

    data = gzip.compress((shared_data / "samples/pubmed/pubmed-29768149.xml").read_bytes(), mtime=0)
    server.files["/pubmed/baseline/pubmed25n0001.xml.gz"] = data
    server.files["/pubmed/baseline/pubmed25n0001.xml.gz.md5"] = (
        f"MD5(pubmed25n0001.xml.gz)= {hashlib.md5(data).hexdigest()}\n".encode())
    results, items = _run(server, tmp_path, "pubmed_abstracts", "https://ftp.ncbi.nlm.nih.gov/",
                          first=1, last=1)
    assert [(r.name, r.status) for r in results] == [
        ("_listing/pubmed25n0001.xml.gz.md5", "downloaded"), ("pubmed25n0001.xml.gz", "downloaded")]
    assert _ids(items) == [("pubmed_abstracts/29768149", "doc")]  # the .md5 is not an input
    assert "BACKGROUND: In patients with mild asthma" in items[0].text
    # an upstream file that does not match its published md5 fails, with its reason
    (tmp_path / "raw/pubmed_abstracts/pubmed25n0001.xml.gz").unlink()
    server.files["/pubmed/baseline/pubmed25n0001.xml.gz"] = data[:-8] + bytes(8)
    results, items = _run(server, tmp_path, "pubmed_abstracts", "https://ftp.ncbi.nlm.nih.gov/",
                          first=1, last=1)
    assert [(r.name, r.status) for r in results] == [("pubmed25n0001.xml.gz", "failed")]
    assert "md5 mismatch" in results[0].error and items == []
    from pile.sources.download import load_failures

    failures = load_failures(tmp_path / "raw/pubmed_abstracts")
    assert failures["pubmed25n0001.xml.gz"]["reason"] == "checksum_mismatch"


def test_pubmed_central(shared_data: Path, tmp_path: Path, server: Server) -> None:
    package = "oa_comm_xml.PMC002xxxxxx.baseline.2025-06-26.tar.gz"
    server.files["/pub/pmc/oa_bulk/oa_comm/xml/"] = f'<a href="{package}">{package}</a>'.encode()
    server.files[f"/pub/pmc/oa_bulk/oa_comm/xml/{package}"] = _tar(
        {f"PMC002xxxxxx/{p.stem}.xml": p.read_bytes()
         for p in sorted((shared_data / "samples/pmc").glob("*.nxml"))})
    results, items = _run(server, tmp_path, "pubmed_central", "https://ftp.ncbi.nlm.nih.gov/", rounds=2)
    assert [r.status for r in results] == ["cached", "downloaded"]
    assert sorted(i.id for i in items) == ["pubmed_central/PMC2599765", "pubmed_central/PMC3166277",
                                           "pubmed_central/PMC3460867"]


def test_uspto(shared_data: Path, tmp_path: Path, server: Server) -> None:
    weekly = b"".join((shared_data / "samples/uspto" / n).read_bytes() for n in (
        "US09358892-20160607-grant-v4.5.xml", "US06334226-20020101-grant-v2.5.xml"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ipg160607.xml", weekly)
    server.files["/data/patent/grant/redbook/fulltext/2016/ipg160607.zip"] = buf.getvalue()
    results, items = _run(server, tmp_path, "uspto", "https://bulkdata.uspto.gov/", years=[2016])
    by_status = {r.name: r.status for r in results}
    assert by_status["2016/ipg160607.zip"] == "downloaded"
    assert len(results) == 52 and list(by_status.values()).count("failed") == 51  # 404s recorded
    assert _ids(items) == [("uspto/US09358892B1", "doc"), ("uspto/US06334226B1", "doc")]
    assert items[0].text.startswith("1. Field")


def test_arxiv(shared_data: Path, tmp_path: Path, server: Server) -> None:
    tree = {p.name: p.read_bytes() for p in sorted((shared_data / "samples/arxiv/scipy-1.0").iterdir())}
    server.files["/e-print/1907.10121"] = gzip.compress(_tar(tree, mode="w"))  # arXiv's e-print form
    results, items = _run(server, tmp_path, "arxiv", "https://arxiv.org/", ids=["1907.10121"])
    assert [r.status for r in results] == ["downloaded"]
    assert _ids(items) == [("arxiv/1907.10121", "doc")]
    assert "The scipy.spatial.ckdtree module" in items[0].text and "\\begin" not in items[0].text


def test_gutenberg(shared_data: Path, tmp_path: Path, server: Server) -> None:
    server.files["/cache/epub/3261/pg3261.txt"] = (shared_data / "samples/gutenberg/3261.txt").read_bytes()
    results, items = _run(server, tmp_path, "gutenberg", "https://www.gutenberg.org/", ebooks=[3261])
    assert [r.status for r in results] == ["downloaded"]
    assert _ids(items) == [("gutenberg/3261", "doc")] and "START OF" not in items[0].text


def test_europarl(shared_data: Path, tmp_path: Path, server: Server) -> None:
    server.files["/europarl/v7/europarl.tgz"] = _tar(
        {f"txt/en/{p.name}": p.read_bytes() for p in sorted((shared_data / "samples/europarl/en").iterdir())})
    results, items = _run(server, tmp_path, "europarl", "https://www.statmt.org/")
    assert [r.status for r in results] == ["downloaded"]
    assert _ids(items) == [("europarl/en/ep-00-01-17", "doc"), ("europarl/en/ep-00-02-03", "doc")]
    assert all("<SPEAKER" not in i.text for i in items)


def test_ubuntu_irc(shared_data: Path, tmp_path: Path, server: Server) -> None:
    server.files["/2025/11/26/%23ubuntu.txt"] = (shared_data / "samples/ubuntu_irc/2025-11-26_ubuntu.txt").read_bytes()
    results, items = _run(server, tmp_path, "ubuntu_irc", "https://irclogs.ubuntu.com/",
                          start="2025-11-25", end="2025-11-26")
    assert [r.status for r in results] == ["failed", "downloaded"]  # the 25th is not served
    assert _ids(items) == [("ubuntu_irc/ubuntu/2025-11-26", "doc")]
    assert not any(line.startswith("===") for line in items[0].text.splitlines())
