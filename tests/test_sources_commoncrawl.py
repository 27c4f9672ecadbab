"""Common Crawl source: the real WARC/WET/WAT samples, a WARC written in tmp_path with
warcio (a page built from real book text plus navigation boilerplate, a 404, an image),
truncated and non-WARC files, the two-step crawl listing."""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.commoncrawl import CommonCrawlSource

CC = "samples/commoncrawl"
PAGE_UUID = "2aabeff2-67f5-4608-8466-e87c6296e2b6"
WET_UUID = "ba729a40-ff84-4085-8d48-0a5b2ee0c42d"
ARTICLE = "Escopete ye un municipio d'a provincia de Guadalachara"


def source(tmp_path: Path, **options) -> CommonCrawlSource:
    return make_source(SourceConfig(name="commoncrawl", kind="commoncrawl", options=options), tmp_path)


def ids(items: list) -> list[tuple[str, str]]:
    return [(i.id, "doc") if isinstance(i, Document) else (i.doc.id, i.reason) for i in items]


def test_wet_conversion_record_is_taken_as_is(shared_data: Path, tmp_path: Path) -> None:
    items = list(source(tmp_path).read(shared_data / CC / "whirlwind.warc.wet.gz"))
    assert ids(items) == [(f"commoncrawl/{WET_UUID}", "doc")]  # warcinfo is not a document
    doc = items[0]
    assert doc.meta["pile_set_name"] == "Pile-CC"
    assert doc.meta["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert doc.meta["cc_language"] == "spa" and doc.meta["date"].startswith("2024-")
    assert ARTICLE in doc.text


def test_warc_response_with_trafilatura(shared_data: Path, tmp_path: Path) -> None:
    items = list(source(tmp_path, extractor="trafilatura").read(shared_data / CC / "whirlwind.warc.gz"))
    # request, metadata and warcinfo records are skipped: one response, one document
    assert ids(items) == [(f"commoncrawl/{PAGE_UUID}", "doc")]
    text = items[0].text
    assert ARTICLE in text and "<" not in text
    assert "Menú principal" not in text and "Creyar cuenta" not in text  # navigation gone


@pytest.mark.parametrize("name", ["justext_v1", "justext"])
@pytest.mark.parametrize("stoplist", ["English", "none"])
def test_warc_response_with_justext_stub_page(shared_data: Path, tmp_path: Path, name: str,
                                              stoplist: str) -> None:
    # jusText (Pile-CC's extractor, kept by name) keeps no paragraph of this two-sentence
    # stub page, even language-independently: dropped with its reason, not silently.
    items = list(source(tmp_path, extractor=name, stoplist=stoplist).read(shared_data / CC / "whirlwind.warc.gz"))
    assert ids(items) == [(f"commoncrawl/{PAGE_UUID}", "no_main_text")]
    assert items[0].doc.meta["url"] == "https://an.wikipedia.org/wiki/Escopete"


def test_default_extractor_resiliparse_keeps_the_article(shared_data: Path, tmp_path: Path) -> None:
    items = list(source(tmp_path).read(shared_data / CC / "whirlwind.warc.gz"))
    assert ids(items) == [(f"commoncrawl/{PAGE_UUID}", "doc")]
    text = items[0].text
    assert ARTICLE in text and "<" not in text
    assert "Menú principal" not in text  # navigation gone
    [example] = list(source(tmp_path, extractor="resiliparse_v1").read(shared_data / CC / "warcio-example.warc.gz"))
    assert "This domain is established to be used for illustrative examples" in example.text


def test_revisit_and_request_records_are_skipped(shared_data: Path, tmp_path: Path) -> None:
    items = list(source(tmp_path, extractor="trafilatura").read(shared_data / CC / "warcio-example.warc.gz"))
    assert ids(items) == [("commoncrawl/a9c51e3e-0221-11e7-bf66-0242ac120005", "doc")]
    assert "This domain is established to be used for illustrative examples" in items[0].text
    assert list(source(tmp_path).read(shared_data / CC / "whirlwind.warc.wat.gz")) == []


def _record(writer: WARCWriter, uri: str, status: str, ctype: str, body: bytes, kind: str = "response"):
    http = StatusAndHeaders(status, [("Content-Type", ctype)], protocol="HTTP/1.1")
    record = writer.create_warc_record(uri, kind, payload=io.BytesIO(body), http_headers=http)
    writer.write_record(record)
    return record.rec_headers.get_header("WARC-Record-ID")[10:-1]


def _book_page(shared_data: Path) -> bytes:
    text = (shared_data / "samples/gutenberg/3261.txt").read_text("ascii").replace("\r\n", "\n")
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if len(p) > 300][5:12]
    nav = "".join(f'<li><a href="/{w}">{w}</a></li>' for w in ("Home", "About", "Contact", "Login"))
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    html = (f"<html><head><title>News from Nowhere</title></head><body><ul class=nav>{nav}</ul>"
            f"<div class=content>{body}</div><div class=footer><a href=/tos>Terms</a> | "
            f"<a href=/privacy>Privacy</a></div></body></html>")
    return html.encode("utf-8"), paragraphs


def test_derived_warc_jusText_positive_and_drops(shared_data: Path, tmp_path: Path) -> None:
    html, paragraphs = _book_page(shared_data)
    path = tmp_path / "derived.warc.gz"
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        page = _record(writer, "http://example.org/book", "200 OK", "text/html; charset=utf-8", html)
        missing = _record(writer, "http://example.org/404", "404 Not Found", "text/html", b"<p>gone</p>")
        image = _record(writer, "http://example.org/a.png", "200 OK", "image/png", b"\x89PNG....")
        big = _record(writer, "http://example.org/big", "200 OK", "text/html", html * 3)
    items = list(source(tmp_path, max_html_bytes=len(html) + 10).read(path))
    assert ids(items) == [(f"commoncrawl/{page}", "doc"), (f"commoncrawl/{missing}", "http_status"),
                          (f"commoncrawl/{image}", "not_html"), (f"commoncrawl/{big}", "too_large")]
    text = items[0].text
    for paragraph in paragraphs:
        assert paragraph in text
    for boilerplate in ("Home", "Contact", "Privacy", "Terms"):
        assert boilerplate not in text
    assert items[1].doc.meta["status"] == "404"


def test_invalid_utf8_wet_record_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bad.warc.wet.gz"
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        record = writer.create_warc_record("http://x.org/", "conversion",
                                           payload=io.BytesIO(b"caf\xe9 \xff text"),
                                           warc_content_type="text/plain")
        writer.write_record(record)
    items = list(source(tmp_path).read(path))
    assert [i.reason for i in items] == ["invalid_utf8"]


def test_truncated_and_non_warc_files_fail(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / CC / "whirlwind.warc.gz").read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(SourceError, match="cut.warc.gz"):
        list(source(tmp_path).read(cut))
    # two complete pages, then a third cut short: the complete ones come out, the cut one never
    wet = (shared_data / CC / "whirlwind.warc.wet.gz").read_bytes()
    three = tmp_path / "three.warc.wet.gz"
    three.write_bytes(wet * 2 + wet[: len(wet) - 200])
    got = []
    with pytest.raises(SourceError, match="truncated"):
        for item in source(tmp_path).read(three):
            got.append(item)
    assert ids(got) == [(f"commoncrawl/{WET_UUID}", "doc")] * 2
    assert all(item.text == got[0].text for item in got)
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(gzip.compress(b"<html>not a warc</html>"))
    with pytest.raises(SourceError, match="junk.warc.gz"):
        list(source(tmp_path).read(junk))
    with pytest.raises(SourceError, match="cannot open"):
        list(source(tmp_path).read(tmp_path / "missing.warc.gz"))


def test_two_step_listing(tmp_path: Path) -> None:
    src = source(tmp_path, crawl="CC-MAIN-2024-22", first=1, segments=2)
    first = src.list_files()
    assert [(f.url, f.name) for f in first] == [
        ("https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-22/warc.paths.gz",
         "_listing/CC-MAIN-2024-22-warc.paths.gz")]
    listing = tmp_path / "commoncrawl" / first[0].name
    listing.parent.mkdir(parents=True)
    paths = [f"crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/warc/CC-MAIN-{i}.warc.gz"
             for i in range(4)]
    listing.write_bytes(gzip.compress(("\n".join(paths) + "\n").encode()))
    second = src.list_files()
    assert [f.name for f in second[1:]] == paths[1:3]
    assert second[1].url == "https://data.commoncrawl.org/" + paths[1]
    assert src.inputs() == []  # the listing is not an input
    wet = source(tmp_path, format="wet").list_files()
    assert wet[0].url.endswith("/CC-MAIN-2024-22/wet.paths.gz")


@pytest.mark.parametrize("options, field", [
    ({"crawl": "2024-22"}, "crawl"), ({"format": "wat"}, "format"), ({"extractor": "bs4"}, "extractor"),
    ({"segments": 0}, "segments"), ({"first": -1}, "first"), ({"stoplist": "Klingon"}, "stoplist"),
])
def test_bad_options(tmp_path: Path, options: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"options\.{field}"):
        source(tmp_path, **options)


def test_pickle_round_trip(shared_data: Path, tmp_path: Path) -> None:
    src = source(tmp_path, stoplist="none")
    list(src.read(shared_data / CC / "whirlwind.warc.gz"))  # builds the stop list
    clone = pickle.loads(pickle.dumps(src))
    assert clone._stoplist is None and clone.options["stoplist"] == "none"
    assert ids(list(clone.read(shared_data / CC / "whirlwind.warc.wet.gz"))) == [
        (f"commoncrawl/{WET_UUID}", "doc")]


def test_plain_warc_cut_inside_a_response_fails_the_file(shared_data: Path, tmp_path: Path) -> None:
    """Issue 11, defect 2: the short record is never kept; the records before it are."""
    plain = gzip.decompress((shared_data / "samples/commoncrawl/whirlwind.warc.gz").read_bytes())
    wet = gzip.decompress((shared_data / "samples/commoncrawl/whirlwind.warc.wet.gz").read_bytes())
    cut = plain.index(b"<html") + 20_000  # inside the page's HTML
    path = tmp_path / "cut.warc"
    path.write_bytes(wet + plain[:cut])  # a complete conversion record, then the cut response
    got = []
    with pytest.raises(SourceError, match=r"truncated: record .* ends \d+ bytes before its Content-Length"):
        for item in source(tmp_path, stoplist="none").read(path):
            got.append(item)
    assert ids(got) == [(f"commoncrawl/{WET_UUID}", "doc")]


def _many_pages_warc(shared_data: Path, path: Path) -> list[str]:
    """A record-gzipped WARC as Common Crawl writes them: the real captures of
    whirlwind.warc.gz, then pages of real book text, a 404 and an image between them."""
    html, _ = _book_page(shared_data)
    text = (shared_data / "samples/gutenberg/3261.txt").read_text("ascii")
    path.write_bytes((shared_data / CC / "whirlwind.warc.gz").read_bytes())
    made = []
    with open(path, "ab") as fh:
        writer = WARCWriter(fh, gzip=True)
        for i in range(40):
            page = html.replace(b"News from Nowhere", text[i * 500:(i + 1) * 500].encode("ascii"))
            made.append(_record(writer, f"http://example.org/{i}", "200 OK", "text/html", page))
            if i % 7 == 3:
                made.append(_record(writer, f"http://example.org/{i}.png", "200 OK", "image/png", b"\x89PNG"))
            if i % 11 == 5:
                made.append(_record(writer, f"http://example.org/{i}/x", "404 Not Found", "text/html", b"<p>no</p>"))
    return made


def test_record_gzipped_warc_read_in_spans_gives_the_whole_file(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "many.warc.gz"
    made = _many_pages_warc(shared_data, path)
    src = source(tmp_path)
    whole = list(src.read(path))
    assert len(whole) >= len(made) and {f"commoncrawl/{m}" for m in made} <= {i for i, _ in ids(whole)}
    for target in (4096, 9000, 30_000):
        spans = src.spans(path, target)
        assert spans and len(spans) > 3 and spans[0][0] == 0
        parts = [list(src.read_span(path, span)) for span in spans]
        assert ids([x for p in parts for x in p]) == ids(whole)  # each record once, in order
        assert [x.text for p in parts for x in p if isinstance(x, Document)] == \
            [x.text for x in whole if isinstance(x, Document)]
        assert sum(1 for p in parts if p) > 3  # the records really are spread over the spans
    # A small file, or a plain (not record-gzipped) WARC, is read whole.
    assert src.spans(path, path.stat().st_size) is None
    plain = tmp_path / "plain.warc"
    plain.write_bytes(gzip.decompress((shared_data / CC / "whirlwind.warc.gz").read_bytes()))
    assert src.spans(plain, 1000) is None


def test_truncated_record_gzipped_warc_fails_in_its_last_span(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "many.warc.gz"
    _many_pages_warc(shared_data, path)
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(path.read_bytes()[:-300])
    src = source(tmp_path)
    spans = src.spans(cut, 9000)
    for span in spans[:-1]:
        list(src.read_span(cut, span))  # the earlier spans end at a record boundary
    with pytest.raises(SourceError, match="truncated"):
        list(src.read_span(cut, spans[-1]))
