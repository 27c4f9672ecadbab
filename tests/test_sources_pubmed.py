"""PubMed Abstracts source: title + structured abstract from the real citation, baseline
files derived in tmp_path (gzip, several citations, one without abstract), bad XML."""

from __future__ import annotations

import gzip
import pickle
import re
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.pubmed import PubmedAbstractsSource

SAMPLE = "samples/pubmed/pubmed-29768149.xml"
TITLE = "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."


def source(tmp_path: Path, **options) -> PubmedAbstractsSource:
    return make_source(SourceConfig(name="pubmed_abstracts", kind="pubmed_abstracts",
                                    options=options), tmp_path)


def ids(items: list) -> list[tuple[str, str]]:
    return [(i.id, "doc") if isinstance(i, Document) else (i.doc.id, i.reason) for i in items]


def test_real_citation(shared_data: Path, tmp_path: Path) -> None:
    items = list(source(tmp_path).read(shared_data / SAMPLE))
    assert ids(items) == [("pubmed_abstracts/29768149", "doc")]
    doc = items[0]
    assert doc.meta["pile_set_name"] == "PubMed Abstracts"
    assert doc.meta["pmid"] == "29768149" and doc.meta["language"] == "eng"
    assert doc.meta["title"] == TITLE and doc.meta["year"] == "2018"
    paragraphs = doc.text.rstrip("\n").split("\n\n")
    assert paragraphs[0] == TITLE
    assert [p.split(":", 1)[0] for p in paragraphs[1:]] == ["BACKGROUND", "METHODS", "RESULTS",
                                                            "CONCLUSIONS"]
    assert paragraphs[1].startswith("BACKGROUND: In patients with mild asthma, as-needed use")
    assert "β" in doc.text and "<" not in doc.text
    # references and MeSH terms are not part of the abstract
    assert "Asthma / drug therapy" not in doc.text and "29768146" not in doc.text


def _set(shared_data: Path, extra: int = 0) -> bytes:
    """A baseline-like file: the real citation three times with other PMIDs, the second
    without its abstract, the third with an unlabelled abstract (then `extra` copies)."""
    data = (shared_data / SAMPLE).read_text("utf-8")
    start, end = data.index("<PubmedArticle>"), data.index("</PubmedArticle>") + len("</PubmedArticle>")
    article = data[start:end]
    first = article.replace(">29768149<", ">1001<", 1)
    second = re.sub(r"<Abstract>.*?</Abstract>", "", article.replace(">29768149<", ">1002<", 1),
                    flags=re.DOTALL)
    third = re.sub(r'<AbstractText Label="[A-Z]+"[^>]*>', "<AbstractText>",
                   article.replace(">29768149<", ">1003<", 1))
    copies = "".join(article.replace(">29768149<", f">{2000 + i}<", 1) for i in range(extra))
    return (data[:start] + first + second + third + copies + data[end:]).encode("utf-8")


def test_baseline_gz_with_several_citations(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "pubmed25n0001.xml.gz"
    path.write_bytes(gzip.compress(_set(shared_data)))
    items = list(source(tmp_path).read(path))
    assert ids(items) == [("pubmed_abstracts/1001", "doc"), ("pubmed_abstracts/1002", "no_abstract"),
                          ("pubmed_abstracts/1003", "doc")]
    assert items[1].doc.meta["title"] == TITLE
    assert "\n\nIn patients with mild asthma" in items[2].text and "BACKGROUND:" not in items[2].text


def test_truncated_gz_keeps_earlier_citations_then_fails(shared_data: Path, tmp_path: Path) -> None:
    data = gzip.compress(_set(shared_data, extra=40))  # larger than the parser's read buffer
    path = tmp_path / "pubmed25n0002.xml.gz"
    path.write_bytes(data[: len(data) * 3 // 4])
    got = []
    with pytest.raises(SourceError, match="pubmed25n0002"):
        for item in source(tmp_path).read(path):
            got.append(item)
    assert ids(got)[:1] == [("pubmed_abstracts/1001", "doc")]


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[: len(d) // 2], "malformed XML"),
    (lambda d: d.replace(b"Mild Asthma", b"Mild \xff\xfe Asthma"), "malformed XML|invalid|decode"),
    (lambda d: d.replace(b"<PubmedArticleSet>", b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
                         b"<PubmedArticleSet>").replace(b"Mild Asthma", b"&b;"), "entity"),
    (lambda d: d.replace(b"<PubmedArticleSet>", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                         b"<PubmedArticleSet>").replace(b"Mild Asthma", b"&e;"), "entity"),
])
def test_broken_and_hostile_xml_fails_the_file(shared_data: Path, tmp_path: Path, mutate, message) -> None:
    data = (shared_data / SAMPLE).read_bytes()
    if b"<!DOCTYPE" in mutate(b"<PubmedArticleSet>"):
        data = re.sub(rb"<!DOCTYPE[^>]*>", b"", data, count=1)
    path = tmp_path / "bad.xml"
    path.write_bytes(mutate(data))
    with pytest.raises(SourceError, match=message):
        list(source(tmp_path).read(path))


def test_listing_and_options(tmp_path: Path) -> None:
    # First the md5 files NCBI publishes beside the baseline files ...
    files = source(tmp_path, release=25, first=1, last=2).list_files()
    base = "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/"
    assert [(f.url, f.name) for f in files] == [
        (base + "pubmed25n0001.xml.gz.md5", "_listing/pubmed25n0001.xml.gz.md5"),
        (base + "pubmed25n0002.xml.gz.md5", "_listing/pubmed25n0002.xml.gz.md5")]
    # ... then, once one is on disk, its file with that md5 (GNU md5sum lines read too)
    listing = tmp_path / "pubmed_abstracts" / "_listing"
    listing.mkdir(parents=True)
    (listing / "pubmed25n0002.xml.gz.md5").write_text("0123456789ABCDEF0123456789abcdef  pubmed25n0002.xml.gz\n")
    files = source(tmp_path, release=25, first=1, last=2).list_files()
    assert [(f.name, f.checksum) for f in files] == [
        ("_listing/pubmed25n0001.xml.gz.md5", None),
        ("pubmed25n0002.xml.gz", "md5:0123456789abcdef0123456789abcdef")]
    assert len(source(tmp_path).list_files()) == 1274
    for options, field in [({"release": 0}, "release"), ({"first": "1"}, "first"),
                           ({"first": 5, "last": 2}, "first")]:
        with pytest.raises(ConfigError, match=rf"options\.{field}"):
            source(tmp_path, **options)


def test_pickle_round_trip(shared_data: Path, tmp_path: Path) -> None:
    src = pickle.loads(pickle.dumps(source(tmp_path)))
    assert ids(list(src.read(shared_data / SAMPLE))) == [("pubmed_abstracts/29768149", "doc")]
