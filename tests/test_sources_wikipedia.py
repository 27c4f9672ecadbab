"""Wikipedia: the real dump fragments, served over loopback HTTP, downloaded and extracted."""

from __future__ import annotations

import bz2
import gzip
import pickle
import re
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
from pile.sources.download import Downloader, download_records
from pile.sources.wikipedia import WikipediaSource, wikitext_to_text
from pile.stage import Dropped

DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
TABLES = "enwiki-table-markup.xml.bz2"
MARKUP_RE = re.compile(r"\{\{|\}\}|\[\[|\]\]|<ref|\{\||^\|-|^\|\}", re.MULTILINE)


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(shared_data: Path) -> Iterator[str]:
    """The sample folder, read-only, behind a loopback HTTP server."""
    folder = shared_data / "samples" / "wikipedia"
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def extracted(served: str, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[WikipediaSource, list[Document], list[Dropped]]:
    raw = tmp_path_factory.mktemp("raw")
    cfg = SourceConfig(name="wikipedia", kind="wikipedia",
                       urls=(f"{served}/{DUMP}", f"{served}/{TABLES}"))
    source = make_source(cfg, raw)
    results = Downloader(progress=False, delays={}).fetch(source)
    assert [r.status for r in results] == ["downloaded", "downloaded"]
    docs: list[Document] = []
    drops: list[Dropped] = []
    for path in source.inputs():
        for item in source.read(path):
            (drops if isinstance(item, Dropped) else docs).append(item)
    return source, docs, drops


def test_download_records_sha256(extracted, shared_data: Path) -> None:
    source, _, _ = extracted
    import hashlib

    records = {r["name"]: r for r in download_records(source.raw_dir)}
    for name in (DUMP, TABLES):
        data = (shared_data / "samples" / "wikipedia" / name).read_bytes()
        assert records[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert records[name]["size"] == len(data)


def test_articles_are_plain_text(extracted) -> None:
    _, docs, _ = extracted
    assert len(docs) == 106 + 5
    for doc in docs:
        assert not MARKUP_RE.search(doc.text), (doc.id, MARKUP_RE.search(doc.text))
        assert "__TOC__" not in doc.text and "<!--" not in doc.text
        title = doc.meta["title"]
        assert doc.text.startswith(f"{title}\n\n") and len(doc.text) > len(title) + 50
        assert doc.meta["pile_set_name"] == "Wikipedia (en)"
        assert re.fullmatch(r"wikipedia/\d+", doc.id)
    # Page ids are unique within a dump; the two samples share one page (id 316).
    assert len({d.id for d in docs}) == len(docs) - 1
    assert sum(d.id == "wikipedia/316" for d in docs) == 2


def test_redirects_and_other_namespaces_are_dropped(extracted) -> None:
    _, docs, drops = extracted
    reasons = {d.doc.meta["title"]: d.reason for d in drops}
    assert reasons["AccessibleComputing"] == "redirect"
    assert sum(r == "redirect" for r in reasons.values()) == 99
    assert [t for t, r in reasons.items() if r == "non_article_namespace"] == \
        ["Wikipedia:Adding Wikipedia articles to Nupedia"]
    titles = {d.meta["title"] for d in docs}
    assert not titles & set(reasons)
    assert len(docs) + len(drops) == 206 + 5  # every page accounted for


def test_known_article_content(extracted) -> None:
    _, docs, _ = extracted
    by_title = {d.meta["title"]: d.text for d in docs}
    anarchism = by_title["Anarchism"]
    assert "Anarchism is a political philosophy that advocates self-governed societies" in anarchism
    assert "\n\nEtymology and terminology\n\n" in anarchism  # headings kept as lines
    assert "Category:" not in anarchism and "thumb|" not in anarchism
    vote = by_title["Constructive vote of no confidence"]
    assert "is a variation on the motion of no confidence which allows a parliament" in vote
    # The result table of the German votes is gone, with its cell styles.
    assert "background:#FFF8DC" not in vote and "FFDEAD" not in vote


@pytest.mark.parametrize("wikitext, expected", [
    ("'''Bold''' and ''italic'' text.", "Bold and italic text."),
    ("See [[Paris|the capital]] and [[Lyon]].", "See the capital and Lyon."),
    ("[[Bus]]es run.", "Buses run."),
    ("Text{{citation needed|date=May 2020}} goes on.", "Text goes on."),
    ("A {{convert|5|km|mi}} walk.", "A 5 km walk."),
    ("{{nowrap|kept words}} here.", "kept words here."),
    ("Claim.<ref name=a>{{cite web|url=http://x|title=T}}</ref> Next.<ref name=a/>",
     "Claim. Next."),
    ("[[File:Map.png|thumb|A [[map]] caption]]Prose.", "Prose."),
    ("Prose.\n[[Category:Things]]\n[[de:Dinge]]", "Prose."),
    ("See [[:Category:Things|the list]].", "See the list."),
    ("Visit [http://example.com the site] now.", "Visit the site now."),
    ("Intro.\n{| class=wikitable\n|-\n| cell || cell2\n|}\nAfter.", "Intro.\nAfter."),
    ("A<!-- hidden -->B __NOTOC__", "AB"),
    ("x &amp; y&nbsp;z", "x & y\u00a0z"),
    ("<nowiki>[[not a link]]</nowiki> ok", "not a link ok"),
    ("Line one<br/>line two", "Line one\nline two"),
    ("Intro.\n\n== History ==\nOld times.\n\n== References ==\n{{reflist}}\n\n== External links ==\n"
     "* {{official|http://x}}\n", "Intro.\n\nHistory\n\nOld times."),
    ("Broken {{template never closed and [[link never closed", "Broken"),
    ("Stray <ref>unclosed citation", "Stray unclosed citation"),
    ("Math <math>x^2</math> gone.", "Math gone."),
])
def test_wikitext_rendering(wikitext: str, expected: str) -> None:
    out = wikitext_to_text(wikitext)
    if expected == "Broken":
        assert out.startswith("Broken") and not MARKUP_RE.search(out)
    else:
        assert out == expected


def _page(page_id: int, title: str, text: str, ns: int = 0, redirect: bool = False) -> str:
    red = f'<redirect title="{title}x" />' if redirect else ""
    return (f"<page><title>{title}</title><ns>{ns}</ns><id>{page_id}</id>{red}"
            f'<revision><id>1</id><text xml:space="preserve">{text}</text></revision></page>')


def test_drop_reasons_on_derived_dump(tmp_path: Path) -> None:
    pages = [
        _page(1, "Good", "A real article body with enough words."),
        _page(2, "Talk:Good", "chatter", ns=1),
        _page(3, "Old name", "#REDIRECT [[Good]]", redirect=True),
        _page(4, "Sneaky", "#redirect [[Good]]"),  # no <redirect/> element, still a redirect
        _page(5, "Huge", "x" * 200),
        _page(6, "Only markup", "{{Infobox}}[[Category:Empty]]"),
    ]
    xml = ('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">' + "".join(pages)
           + "</mediawiki>")
    path = tmp_path / "derived.xml.gz"
    path.write_bytes(gzip.compress(xml.encode()))
    source = WikipediaSource(SourceConfig(name="wiki", kind="wikipedia",
                                          options={"max_page_chars": 100}), tmp_path)
    out = list(source.read(path))
    assert [(o.doc.id, o.reason) if isinstance(o, Dropped) else (o.id, "kept") for o in out] == [
        ("wiki/1", "kept"), ("wiki/2", "non_article_namespace"), ("wiki/3", "redirect"),
        ("wiki/4", "redirect"), ("wiki/5", "too_large"), ("wiki/6", "empty_after_markup")]
    assert out[0].text == "Good\n\nA real article body with enough words."


def test_truncated_dump_fails_that_file(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / "samples" / "wikipedia" / DUMP).read_bytes()
    cut = tmp_path / "cut.xml.bz2"
    cut.write_bytes(data[: len(data) // 3])
    source = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia"), tmp_path)
    seen = 0
    with pytest.raises(SourceError, match="truncated") as err:
        for _ in source.read(cut):
            seen += 1
    assert "cut.xml.bz2" in str(err.value) and 0 < seen < 206


@pytest.mark.parametrize("options, url", [
    ({}, "https://dumps.wikimedia.org/enwiki/latest/enwiki-latest-pages-articles-multistream.xml.bz2"),
    ({"language": "de", "dump_date": "20240601"},
     "https://dumps.wikimedia.org/dewiki/20240601/dewiki-20240601-pages-articles-multistream.xml.bz2"),
    ({"dump_date": 20200301},
     "https://dumps.wikimedia.org/enwiki/20200301/enwiki-20200301-pages-articles-multistream.xml.bz2"),
])
def test_default_upstream_urls(tmp_path: Path, options: dict, url: str) -> None:
    source = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia", options=options),
                             tmp_path)
    [sums] = source.list_files()  # first the dump's md5sums.txt ...
    folder, _, name = url.rpartition("/")
    assert sums.url == folder + "/" + name.replace("pages-articles-multistream.xml.bz2",
                                                   "md5sums.txt")
    assert sums.name.startswith("_listing/")
    (tmp_path / "wikipedia" / sums.name).parent.mkdir(parents=True)
    (tmp_path / "wikipedia" / sums.name).write_text(f"{'ab' * 16}  {name}\n")
    [_, remote] = source.list_files()  # ... then the dump with that md5
    assert remote.url == url and remote.name == name and remote.checksum == f"md5:{'ab' * 16}"


def test_default_listing_is_verified_against_the_published_md5sums(
        shared_data: Path, tmp_path: Path, http_folder) -> None:
    """Wikimedia's ``<wiki>-<date>-md5sums.txt`` (GNU md5sum lines for every file of the
    dump) is fetched first; the dump must match its line, or it fails as a mismatch."""
    import hashlib

    data = (shared_data / "samples" / "wikipedia" / DUMP).read_bytes()
    folder = tmp_path / "up" / "enwiki" / "20240601"
    folder.mkdir(parents=True)
    dump = "enwiki-20240601-pages-articles-multistream.xml.bz2"
    (folder / dump).write_bytes(data)
    sums = (f"{hashlib.md5(b'index').hexdigest()}  enwiki-20240601-pages-articles-multistream-index.txt.bz2\n"
            f"{hashlib.md5(data).hexdigest()}  {dump}\n")
    (folder / "enwiki-20240601-md5sums.txt").write_text(sums)
    server = http_folder(tmp_path / "up")
    source = make_source(SourceConfig(name="wikipedia", kind="wikipedia",  # no real mirror
                                      options={"dump_date": "20240601"},
                                      mirrors=(server.url + "/no-mirror",)), tmp_path / "raw")
    dl = Downloader(rewrites={"https://dumps.wikimedia.org/": server.url + "/"}, progress=False,
                    delays={}, retries=0)
    results = dl.fetch(source)
    assert [(r.name, r.status) for r in results] == [
        ("_listing/enwiki-20240601-md5sums.txt", "downloaded"), (dump, "downloaded")]
    assert [p.name for p in source.inputs()] == [dump]
    assert sum(isinstance(i, Document) for i in source.read(source.inputs()[0])) > 100
    # the same dump against a wrong published md5: refused, reason counted
    (tmp_path / "raw" / "wikipedia" / dump).unlink()
    (tmp_path / "raw" / "wikipedia" / "_listing" / "enwiki-20240601-md5sums.txt").write_text(
        f"{'0' * 32}  {dump}\n")
    [failed] = [r for r in dl.fetch(source) if r.name == dump]
    assert failed.status == "failed" and "md5 mismatch" in failed.error
    from pile.sources.download import load_failures

    assert load_failures(source.raw_dir)[dump]["reason"] == "checksum_mismatch"


@pytest.mark.parametrize("options, field", [
    ({"language": "EN!"}, "options.language"),
    ({"dump_date": "June"}, "options.dump_date"),
    ({"max_page_chars": 0}, "options.max_page_chars"),
    ({"max_page_chars": True}, "options.max_page_chars"),
    ({"langauge": "en"}, "options.langauge"),
])
def test_bad_options_are_config_errors(tmp_path: Path, options: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"sources.wikipedia.{field}")):
        WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia", options=options), tmp_path)


def test_source_pickles(tmp_path: Path, shared_data: Path) -> None:
    source = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia"), tmp_path)
    clone = pickle.loads(pickle.dumps(source))
    path = shared_data / "samples" / "wikipedia" / TABLES
    assert [d.text for d in clone.read(path)] == [d.text for d in source.read(path)]
    assert source.describe()["license"].startswith("CC BY-SA")


def test_multistream_concatenation_is_read_whole(shared_data: Path, tmp_path: Path) -> None:
    """Real multistream dumps are many bz2 streams back to back; all are read."""
    xml = bz2.decompress((shared_data / "samples" / "wikipedia" / TABLES).read_bytes())
    cut = xml.index(b"<page>", xml.index(b"<page>") + 1)
    path = tmp_path / "multi.xml.bz2"
    path.write_bytes(bz2.compress(xml[:cut]) + bz2.compress(xml[cut:]))
    source = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia"), tmp_path)
    assert sum(isinstance(d, Document) for d in source.read(path)) == 5


def _multistream(xml: bytes, pages_per_stream: int) -> tuple[bytes, list[int]]:
    """A multistream dump as Wikimedia writes one (meta.wikimedia.org/wiki/Data_dumps/
    Dump_format; the offsets of its -multistream-index.txt): the header up to
    ``</siteinfo>`` as the first bz2 stream, then `pages_per_stream` pages per stream
    (Wikimedia: 100), then the closing tag as the last. Returns it and the streams' offsets."""
    head_end = xml.index(b"</siteinfo>") + len(b"</siteinfo>\n")
    tail_start = xml.rindex(b"</mediawiki>")
    starts = [m.start() for m in re.finditer(rb"  <page>", xml)]
    cuts = [head_end] + starts[pages_per_stream::pages_per_stream] + [tail_start]
    pieces = [xml[:head_end]] + [xml[a:b] for a, b in zip(cuts, cuts[1:])] + [xml[tail_start:]]
    out, offsets = b"", []
    for piece in pieces:
        offsets.append(len(out))
        out += bz2.compress(piece, 9)
    return out, offsets


def _items(out) -> list[tuple[str, str, str]]:
    return [("drop", o.doc.id, o.reason) if isinstance(o, Dropped) else ("doc", o.id, o.text) for o in out]


@pytest.fixture(scope="module")
def multistream(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """The real dump fragment (206 pages) rewritten as a multistream dump of 10 pages a stream."""
    xml = bz2.decompress((shared_data / "samples" / "wikipedia" / DUMP).read_bytes())
    data, offsets = _multistream(xml, 10)
    path = tmp_path_factory.mktemp("multi") / "enwiki-multistream.xml.bz2"
    path.write_bytes(data)
    return path, offsets


@pytest.fixture(scope="module")
def multistream_whole(multistream, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
                      ) -> list[tuple[str, str, str]]:
    """The multistream dump read whole: the same items as the real single-stream dump."""
    source = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia"), tmp_path_factory.mktemp("w"))
    whole = _items(source.read(multistream[0]))
    assert whole == _items(source.read(shared_data / "samples" / "wikipedia" / DUMP))
    return whole


@pytest.mark.parametrize("target", [40_000, 150_000, 700_000])
def test_multistream_ranges_give_the_documents_of_a_whole_read(multistream, multistream_whole,
                                                              tmp_path: Path, target: int) -> None:
    path, offsets = multistream
    assert len(offsets) == 2 + 21  # header, 20 streams of 10 pages and one of 6, footer
    source = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia"), tmp_path)
    whole = multistream_whole
    spans = source.spans(path, target)
    assert spans is not None and len(spans) == -(-path.stat().st_size // target) > 1
    parts = [_items(source.read_span(path, span)) for span in spans]
    assert [item for part in parts for item in part] == whole
    assert len(whole) == 206 and sum(kind == "doc" for kind, _, _ in whole) > 100
    if target == 40_000:  # ranges that own no stream start give nothing
        assert sum(not part for part in parts) > 0 and sum(bool(part) for part in parts) > 5


def test_multistream_ranges_split_units_in_the_plan(multistream, tmp_path: Path) -> None:
    from pile.phases.plan import plan_source

    path, _ = multistream
    source = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia"), tmp_path)
    plan = plan_source(source, [path], unit_bytes=300_000, min_units=1)
    units, selected = plan.units, plan.files
    assert selected == [path] and len(units) == 6
    assert [u.span for u in units][0][0] == 0 and all(u.files == (str(path),) for u in units)


def test_single_stream_and_small_dumps_are_read_whole(shared_data: Path, tmp_path: Path) -> None:
    source = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia"), tmp_path)
    single = shared_data / "samples" / "wikipedia" / DUMP  # one bz2 stream for the whole file
    assert source.spans(single, 100_000) is None
    gz = tmp_path / "dump.xml.gz"
    gz.write_bytes(gzip.compress(bz2.decompress(single.read_bytes())))
    assert source.spans(gz, 100_000) is None


def test_truncated_multistream_fails_its_last_range(multistream, tmp_path: Path) -> None:
    path, offsets = multistream
    data = path.read_bytes()
    cut = tmp_path / "cut-multistream.xml.bz2"
    cut.write_bytes(data[: offsets[15] + 500])  # the file ends inside the 15th page stream
    source = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia"), tmp_path)
    spans = source.spans(cut, 200_000)
    assert spans is not None and len(spans) >= 2
    whole_until = _items(source.read_span(cut, spans[0]))
    assert len(whole_until) > 0
    with pytest.raises(SourceError, match=r"truncated .*starts at byte") as err:
        for span in spans[1:]:
            list(source.read_span(cut, span))
    assert "cut-multistream.xml.bz2" in str(err.value)
    # Bytes after a stream that do not start another: the range's reader says where.
    bad = tmp_path / "bad-multistream.xml.bz2"
    bad.write_bytes(data[: offsets[3]] + b"garbage!" + data[offsets[3]:])
    with pytest.raises(SourceError, match=f"no bzip2 stream starts at byte {offsets[3]}"):
        list(source.read_span(bad, (0, 1 << 62)))


def test_default_mirror_is_tried_after_upstream(tmp_path: Path) -> None:
    from pile.sources.download import mirror_url, source_mirrors

    source = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia"), tmp_path)
    [remote] = source.list_files()
    [mirror] = source_mirrors(source)
    assert mirror_url(remote.url, mirror) == (
        "https://ftp.acc.umu.se/mirror/wikimedia.org/dumps/enwiki/latest/"
        "enwiki-latest-md5sums.txt")
    configured = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia",
                                              mirrors=("https://m.example/",)), tmp_path)
    assert source_mirrors(configured) == ("https://m.example/",)
    explicit = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia",
                                            urls=("http://127.0.0.1:9/x.bz2",)), tmp_path)
    assert source_mirrors(explicit) == ()  # explicit urls: no implicit network fallback


DUMPSTATUS = {"jobs": {"articlesmultistreamdump": {"status": "done", "files": {
    "enwiki-20240601-pages-articles-multistream10.xml-p4045403p5399366.bz2": {
        "size": 30, "md5": "c" * 32, "sha1": "D" * 40},
    "enwiki-20240601-pages-articles-multistream-index10.txt-p4045403p5399366.bz2": {"size": 3},
    "enwiki-20240601-pages-articles-multistream2.xml-p41243p151573.bz2": {"size": 20},
    "enwiki-20240601-pages-articles-multistream1.xml-p1p41242.bz2": {"size": 10},
}}, "articlesmultistreamdumprecombine": {"status": "done", "files": {
    "enwiki-20240601-pages-articles-multistream.xml.bz2": {"size": 60}}}}}


def test_parts_are_listed_from_dumpstatus(tmp_path: Path) -> None:
    import json

    (tmp_path / "wikipedia").mkdir()
    (tmp_path / "wikipedia" / ".dumpstatus.json").write_text(json.dumps(DUMPSTATUS))
    source = WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia",
                                          options={"parts": True, "dump_date": "20240601"}),
                             tmp_path)
    files = source.list_files()
    assert [(f.name.split("multistream")[1].split(".")[0], f.size, f.checksum) for f in files] == [
        ("1", 10, None), ("2", 20, None), ("10", 30, "sha1:" + "d" * 40)]
    assert files[0].url == ("https://dumps.wikimedia.org/enwiki/20240601/"
                            "enwiki-20240601-pages-articles-multistream1.xml-p1p41242.bz2")


def test_parts_need_a_dump_date_and_a_finished_job(tmp_path: Path) -> None:
    from pile.sources.wikipedia import parse_dumpstatus

    with pytest.raises(ConfigError, match="options.parts: .*set dump_date"):
        WikipediaSource(SourceConfig(name="wikipedia", kind="wikipedia",
                                     options={"parts": True}), tmp_path)
    running = {"jobs": {"articlesmultistreamdump": {"status": "in-progress", "files": {}}}}
    with pytest.raises(SourceError, match="not done yet"):
        parse_dumpstatus(running, "https://dumps.wikimedia.org/enwiki/20240601")
    with pytest.raises(SourceError, match="no pages-articles multistream files"):
        parse_dumpstatus({"jobs": {}}, "https://dumps.wikimedia.org/enwiki/20240601")
