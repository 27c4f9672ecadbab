"""PhilPapers: the real PhilPapers OAI-PMH ``oai_dc`` record (embedded in
samples/philpapers/share_test_oai.py) wrapped in a two-page ``ListRecords`` response as
the OAI-PMH 2.0 specification describes it (section 3.5, flow control: a
``<resumptionToken>`` ends an incomplete list, an empty one the last page; section 2.5.1:
``<header status="deleted">``), served from loopback with the real paper PDF
(samples/philpapers/1706.03762.pdf) as the record's archive file, and walked by the real
downloader. The second page holds variants of the real record derived at test time: a
one-page paper (page 13 of the real PDF), an archive file that is not a PDF, one that is
gone, and a deleted record."""

from __future__ import annotations

import io
import pickle
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError
from pile.sources import make_source
from pile.sources.download import Downloader
from pile.sources.philpapers import PhilPapersSource, parse_oai_page

SAMPLES = "samples/philpapers"
TOKEN = "oai_dc|philpapers|100|2017-01-29T15:25:15Z"  # opaque to harvesters (OAI-PMH 3.5)
OAI_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
            '<responseDate>2024-05-01T10:00:00Z</responseDate>\n'
            '<request verb="ListRecords">https://philarchive.org/oai.pl</request>\n<ListRecords>\n')
OAI_TAIL = "</ListRecords>\n</OAI-PMH>\n"


def real_record(shared_data: Path) -> str:
    code = (shared_data / SAMPLES / "share_test_oai.py").read_text("utf-8")
    return re.search(r"etree\.fromstring\('''(.*?)'''\)", code, re.S).group(1).strip()


def pages(shared_data: Path) -> tuple[bytes, bytes]:
    record = real_record(shared_data)
    assert "oai:philpapers.org/rec/SILGGG" in record
    variants = [record.replace("/rec/SILGGG", f"/rec/{key}") for key in ("SHORT", "NOTPDF", "GONE")]
    deleted = ("<record><header status=\"deleted\"><identifier>oai:philpapers.org/rec/OLDREC"
               "</identifier><datestamp>2020-01-01T00:00:00Z</datestamp></header></record>")
    first = (OAI_HEAD + record + f'\n<resumptionToken completeListSize="5" cursor="0">{TOKEN}'
             "</resumptionToken>\n" + OAI_TAIL)
    second = (OAI_HEAD + "\n".join(variants) + "\n" + deleted +
              '\n<resumptionToken completeListSize="5" cursor="1"/>\n' + OAI_TAIL)
    return first.encode("utf-8"), second.encode("utf-8")


def one_page_pdf(paper: bytes) -> bytes:
    """Page 13 of the real paper alone (a figure page: under 1,000 characters of text)."""
    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_page(pypdf.PdfReader(io.BytesIO(paper)).pages[12])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class Archive:
    """PhilArchive on loopback: ``/oai.pl`` answers by its query (the first page for
    ``metadataPrefix``, the second for the right resumption token, badResumptionToken
    otherwise), ``/archive/<KEY>`` serves the papers, anything else is 404."""

    def __init__(self, first: bytes, second: bytes, papers: dict[str, bytes]) -> None:
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.hits.append(self.path)
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                body, status, kind = b"", 404, "text/plain"
                if parts.path == "/oai.pl" and query.get("verb") == ["ListRecords"]:
                    status, kind = 200, "text/xml"
                    if query.get("metadataPrefix") == ["oai_dc"]:
                        body = first
                    elif query.get("resumptionToken") == [TOKEN]:
                        body = second
                    else:
                        body = (OAI_HEAD.replace("<ListRecords>\n", "") +
                                '<error code="badResumptionToken">bad</error>\n</OAI-PMH>\n').encode()
                elif parts.path.startswith("/archive/") and parts.path[9:] in papers:
                    body, status, kind = papers[parts.path[9:]], 200, "application/pdf"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def harvested(shared_data: Path, tmp_path_factory) -> Iterator[tuple[PhilPapersSource, list, Archive]]:
    paper = (shared_data / SAMPLES / "1706.03762.pdf").read_bytes()
    first, second = pages(shared_data)
    server = Archive(first, second, {"SILGGG": paper, "SHORT": one_page_pdf(paper),
                                     "NOTPDF": b"<html><body>Please log in</body></html>"})
    raw = tmp_path_factory.mktemp("raw")
    src = make_source(SourceConfig(name="philpapers", kind="philpapers", accept_terms=True), raw)
    dl = Downloader(rewrites={"https://philarchive.org/": server.url + "/"}, progress=False,
                    retries=0, delays={})
    results = dl.fetch(src)
    items = [item for path in src.inputs() for item in src.read(path)]
    yield src, results, items, server
    server.close()


def test_the_harvest_follows_the_resumption_token_and_fetches_each_paper(harvested) -> None:
    src, results, items, server = harvested
    assert [(r.name, r.status) for r in results] == [
        ("oai/00001.xml", "downloaded"), ("archive/SILGGG.pdf", "downloaded"),
        ("oai/00002.xml", "downloaded"), ("archive/SHORT.pdf", "downloaded"),
        ("archive/NOTPDF.pdf", "downloaded"), ("archive/GONE.pdf", "failed")]
    assert "/robots.txt" in server.hits  # PhilArchive's robots.txt is asked first
    assert sum(1 for h in server.hits if "resumptionToken=" in h) == 1
    # every record accounted for: one paper kept, the rest dropped with their reasons
    outcome = [(i.id, "doc") if isinstance(i, Document) else (i.doc.id, i.reason) for i in items]
    assert outcome == [("philpapers/SILGGG", "doc"), ("philpapers/SHORT", "too_short"),
                       ("philpapers/NOTPDF", "not_pdf"), ("philpapers/GONE", "not_found"),
                       ("philpapers/OLDREC", "deleted")]
    doc = items[0]
    assert doc.meta["pile_set_name"] == "PhilPapers"
    assert doc.meta["authors"] == ["Silvestri, Paolo", "Heritier, Paolo"]
    assert doc.meta["title"].startswith("Good government, Governance and Human Complexity")
    assert doc.meta["url"] == "https://philarchive.org/archive/SILGGG"
    # a second harvest fetches nothing again (the pages and papers are on disk)
    hits = len(server.hits)
    again = Downloader(rewrites={"https://philarchive.org/": server.url + "/"}, progress=False,
                       retries=0, delays={}).fetch(src)
    assert {r.status for r in again if r.name != "archive/GONE.pdf"} == {"cached"}
    assert sorted(server.hits[hits:]) == ["/archive/GONE", "/robots.txt"]  # the failure is retried


def test_golden_text_of_the_real_paper(harvested) -> None:
    text = harvested[2][0].text
    paragraphs = text.split("\n\n")
    # real sentences, whole (lines joined, ligatures expanded)
    assert ("The dominant sequence transduction models are based on complex recurrent or "
            "convolutional neural networks that include an encoder and a decoder.") in text
    assert "requiring significantly less time to train" in text
    # a word split at a line end is rejoined; a compound split there keeps its hyphen
    assert "dot-product (multiplicative) attention" in text
    assert "WMT 2014 English-to-German translation task" in text
    assert "transduc- tion" not in text and "multi-plicative" not in text
    # the paragraph that page 1 cuts goes on after page 2's break, footnotes after it
    assert ("have been firmly established as state of the art approaches in sequence modeling "
            "and transduction problems such as language modeling and machine translation "
            "[35, 2, 5].") in text
    assert text.index("[35, 2, 5]") < text.index("Equal contribution")
    # section numbers stay with their titles; no page-number lines, no arXiv side stamp
    assert "1 Introduction" in paragraphs and "3.2 Attention" in paragraphs
    assert not [p for p in paragraphs if re.fullmatch(r"\d{1,2}", p)]
    assert "arXiv:1706.03762v5" not in text and "\n7\n1\n0\n2" not in text
    assert len(paragraphs) > 150 and len(text) > 30_000


def test_terms_must_be_accepted(tmp_path: Path) -> None:
    src = make_source(SourceConfig(name="philpapers", kind="philpapers"), tmp_path)
    [refused] = Downloader(progress=False).fetch(src)
    assert refused.status == "failed" and "accept_terms" in refused.error
    assert not (tmp_path / "philpapers").exists()  # nothing fetched, not even page 1
    row = src.describe()
    assert "ai-train=no" in row["terms"] and row["terms"].endswith("[not accepted]")
    assert "philarchive.org/oai.pl" in row["upstream"]


def test_oai_errors_and_options(shared_data: Path, tmp_path: Path) -> None:
    from pile.errors import SourceError

    bad = tmp_path / "bad.xml"
    bad.write_text(OAI_HEAD.replace("<ListRecords>\n", "")
                   + '<error code="badArgument">nope</error></OAI-PMH>')
    with pytest.raises(SourceError, match="OAI-PMH error badArgument"):
        parse_oai_page(bad, 1 << 20)
    empty = tmp_path / "empty.xml"
    empty.write_text(OAI_HEAD.replace("<ListRecords>\n", "")
                     + '<error code="noRecordsMatch">none</error></OAI-PMH>')
    assert parse_oai_page(empty, 1 << 20).records == []
    first, _ = pages(shared_data)
    (tmp_path / "ok.xml").write_bytes(first)
    page = parse_oai_page(tmp_path / "ok.xml", 1 << 20)
    assert page.token == TOKEN and [r.key for r in page.records] == ["SILGGG"]
    for options, name in [({"from_date": "2020"}, "from_date"), ({"max_pages": -1}, "max_pages"),
                          ({"set": 3}, "set")]:
        with pytest.raises(ConfigError, match=rf"options\.{name}"):
            make_source(SourceConfig(name="p", kind="philpapers", options=options), tmp_path)
    src = make_source(SourceConfig(name="p", kind="philpapers", accept_terms=True,
                                   options={"set": "phil", "from_date": "2020-01-01"}), tmp_path)
    assert src.first_url() == ("https://philarchive.org/oai.pl?verb=ListRecords&"
                               "metadataPrefix=oai_dc&set=phil&from=2020-01-01")
    clone = pickle.loads(pickle.dumps(src))
    assert clone.list_files() == src.list_files()


def test_a_damaged_or_oversized_paper_is_one_dropped_record(shared_data: Path, tmp_path: Path) -> None:
    """A truncated PDF (the real paper cut in half) or a paper over max_record_bytes costs
    its record, counted with the reason; the page's other records are still read."""
    first, _ = pages(shared_data)
    paper = (shared_data / SAMPLES / "1706.03762.pdf").read_bytes()
    for limit, data, reason in [(None, paper[: len(paper) // 2], "pdf_error"),
                                (1 << 20, paper, "too_large")]:
        src = make_source(SourceConfig(name="philpapers", kind="philpapers", accept_terms=True,
                                       max_record_bytes=limit), tmp_path / reason)
        (src.raw_dir / "oai").mkdir(parents=True)
        (src.raw_dir / "archive").mkdir()
        (src.raw_dir / "oai" / "00001.xml").write_bytes(first)
        (src.raw_dir / "archive" / "SILGGG.pdf").write_bytes(data)
        [dropped] = [i for p in src.inputs() for i in src.read(p)]
        assert not isinstance(dropped, Document) and dropped.reason == reason
