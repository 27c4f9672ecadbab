"""PubMed Central source: JATS full text of the three real articles (headings kept;
references, tables and figures gone), OA packages built in tmp_path, bad input."""

from __future__ import annotations

import io
import pickle
import re
import tarfile
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.pmc import PubmedCentralSource

PMC = "samples/pmc"
# file, id, first section heading, a reference title, a table cell, a figure caption
GOLDEN = [
    ("pone.0046493.nxml", "pubmed_central/PMC3460867", "Introduction",
     "Drug-resistant tuberculosis: an insurmountable epidemic?", "Substrate chain length/specific",
     "Chemical structure of inhibitors."),
    ("ehp-116-1694.nxml", "pubmed_central/PMC2599765", "Materials and Methods",
     "Conserved and acquired features of adult neurogenesis", None,
     "Exposure to PBDE-47 depressed circulating concentrations"),
    ("1471-2180-11-174.nxml", "pubmed_central/PMC3166277", "Background",
     "Microbial cell individuality and the underlying sources", "IN56 (WT)",
     "Schematic presentation of two models of holin hole formation."),
]


def source(tmp_path: Path, **options) -> PubmedCentralSource:
    return make_source(SourceConfig(name="pubmed_central", kind="pubmed_central", options=options),
                       tmp_path)


def ids(items: list) -> list[tuple[str, str]]:
    return [(i.id, "doc") if isinstance(i, Document) else (i.doc.id, i.reason) for i in items]


@pytest.mark.parametrize("name, doc_id, heading, ref, cell, caption", GOLDEN)
def test_real_articles(shared_data: Path, tmp_path: Path, name: str, doc_id: str, heading: str,
                       ref: str, cell: str | None, caption: str) -> None:
    items = list(source(tmp_path).read(shared_data / PMC / name))
    assert ids(items) == [(doc_id, "doc")]
    doc = items[0]
    assert doc.meta["pile_set_name"] == "PubMed Central"
    assert doc.meta["pmcid"] == doc_id.split("/")[1] and doc.meta["pmid"]
    paragraphs = doc.text.rstrip("\n").split("\n\n")
    assert paragraphs[0] == doc.meta["title"] and paragraphs[1] == "Abstract"
    assert heading in paragraphs  # section headings are paragraphs of their own
    assert ref not in doc.text  # no reference list
    if cell:
        assert cell not in doc.text  # no table content
    assert caption not in doc.text  # no figures
    assert not re.search(r"</?[a-z][\w:-]*[ >/]", doc.text) and "xlink" not in doc.text  # no tags
    assert paragraphs[-1] not in ("Supplementary Material", "Supporting Information")


def test_inline_citations_keep_their_text(shared_data: Path, tmp_path: Path) -> None:
    doc = next(iter(source(tmp_path).read(shared_data / PMC / "pone.0046493.nxml")))
    assert re.search(r"\[\d+\]", doc.text)
    assert "According to the World Health Organization (2011; http://www.who.int/tb/en/)" in doc.text


def test_without_abstract_option(shared_data: Path, tmp_path: Path) -> None:
    doc = next(iter(source(tmp_path, include_abstract=False).read(shared_data / PMC / "pone.0046493.nxml")))
    assert doc.text.split("\n\n")[1] == "Introduction"


def _package(tmp_path: Path, members: dict[str, bytes], name: str = "oa_comm_xml.PMC003xxxxxx.baseline.2025-06-26.tar.gz") -> Path:
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_oa_package(shared_data: Path, tmp_path: Path) -> None:
    members = {f"PMC003xxxxxx/{g[1].split('/')[1]}.xml": (shared_data / PMC / g[0]).read_bytes()
               for g in GOLDEN}
    members["PMC003xxxxxx/PMC1.xml"] = re.sub(
        rb"<body>.*</body>", b"", (shared_data / PMC / GOLDEN[0][0]).read_bytes(), flags=re.DOTALL
    ).replace(b'<article-id pub-id-type="pmc">3460867', b'<article-id pub-id-type="pmc">1')
    path = _package(tmp_path, members)
    assert ids(list(source(tmp_path).read(path))) == [(g[1], "doc") for g in GOLDEN] + [
        ("pubmed_central/PMC1", "no_body")]


def test_package_member_ranges_give_the_articles_of_a_whole_read(shared_data: Path, tmp_path: Path,
                                                                monkeypatch) -> None:
    from pile.sources.archive import CountingReader

    monkeypatch.setattr(CountingReader, "STEP", 4096)
    members = {f"PMC003xxxxxx/{g[1].split('/')[1]}.xml": (shared_data / PMC / g[0]).read_bytes()
               for g in GOLDEN}
    path = _package(tmp_path, members)
    src = source(tmp_path)
    spans = src.spans(path, path.stat().st_size // 3 + 1)
    assert spans is not None and len(spans) == 3
    parts = [[(d.id, d.text) for d in src.read_span(path, span)] for span in spans]
    assert [d for part in parts for d in part] == [(d.id, d.text) for d in src.read(path)]
    assert sum(bool(part) for part in parts) >= 2
    loose = shared_data / PMC / GOLDEN[0][0]  # one article file: never split
    assert src.spans(loose, 10) is None


def test_unsafe_package_member_is_refused(shared_data: Path, tmp_path: Path) -> None:
    path = _package(tmp_path, {"/etc/PMC1.xml": b"<article/>"})
    with pytest.raises(SourceError, match="absolute"):
        list(source(tmp_path).read(path))


def test_truncated_package_fails_after_complete_articles(shared_data: Path, tmp_path: Path) -> None:
    members = {f"PMC003xxxxxx/{i}.xml": (shared_data / PMC / g[0]).read_bytes()
               for i, g in enumerate(GOLDEN)}
    path = _package(tmp_path, members)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    got = []
    with pytest.raises(SourceError):
        for item in source(tmp_path).read(path):
            got.append(item)
    assert ids(got)[:1] == [(GOLDEN[0][1], "doc")]


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[: len(d) // 2], "malformed XML"),
    (lambda d: re.sub(rb"<!DOCTYPE[^>]*>", b'<!DOCTYPE article [<!ENTITY a "x"><!ENTITY b "&a;&a;">]>', d),
     "entity"),
    (lambda d: re.sub(rb"<!DOCTYPE[^>]*>", b'<!DOCTYPE article [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
                      d).replace(b"<body>", b"<body><p>&e;</p>", 1), "entity"),
    (lambda d: d.replace(b"<body>", b"<body><p>\xff\xfe</p>", 1), "malformed XML|invalid|decode"),
])
def test_broken_and_hostile_articles(shared_data: Path, tmp_path: Path, mutate, message) -> None:
    path = tmp_path / "bad.nxml"
    path.write_bytes(mutate((shared_data / PMC / GOLDEN[2][0]).read_bytes()))
    with pytest.raises(SourceError, match=message):
        list(source(tmp_path).read(path))


def test_two_step_listing(tmp_path: Path) -> None:
    src = source(tmp_path, groups=["oa_comm"])
    first = src.list_files()
    assert [(f.url, f.name) for f in first] == [
        ("https://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_bulk/oa_comm/xml/", "_listing/oa_comm.html")]
    index = tmp_path / "pubmed_central" / "_listing" / "oa_comm.html"
    index.parent.mkdir(parents=True)
    index.write_text('<a href="oa_comm_xml.PMC000xxxxxx.baseline.2025-06-26.tar.gz">x</a>\n'
                     '<a href="oa_comm_xml.PMC000xxxxxx.baseline.2025-06-26.filelist.csv">x</a>\n'
                     '<a href="oa_comm_xml.incr.2025-07-01.tar.gz">x</a>\n'
                     '<a href="oa_comm_xml.PMC001xxxxxx.baseline.2025-06-26.tar.gz">x</a>\n')
    second = src.list_files()
    assert [f.name for f in second[1:]] == ["oa_comm_xml.PMC000xxxxxx.baseline.2025-06-26.tar.gz",
                                            "oa_comm_xml.PMC001xxxxxx.baseline.2025-06-26.tar.gz"]
    assert second[1].url == ("https://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_bulk/oa_comm/xml/"
                             "oa_comm_xml.PMC000xxxxxx.baseline.2025-06-26.tar.gz")
    assert src.inputs() == []  # the index page is not an input


@pytest.mark.parametrize("options, field", [({"groups": []}, "groups"), ({"groups": ["oa_all"]}, "groups"),
                                            ({"include_abstract": "yes"}, "include_abstract")])
def test_bad_options(tmp_path: Path, options: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"options\.{field}"):
        source(tmp_path, **options)


def test_pickle_round_trip(shared_data: Path, tmp_path: Path) -> None:
    src = pickle.loads(pickle.dumps(source(tmp_path)))
    assert ids(list(src.read(shared_data / PMC / GOLDEN[1][0]))) == [(GOLDEN[1][1], "doc")]
