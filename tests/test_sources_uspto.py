"""USPTO source: the BACKGROUND section of real v4.5 and v2.5 patents, weekly files built
in tmp_path by concatenating the samples (plain and zipped), and hostile/broken XML."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.uspto import UsptoSource, background, prepare_xml
from pile.stage import Dropped

GRANT45 = "samples/uspto/US09358892-20160607-grant-v4.5.xml"
APP45 = "samples/uspto/US20220159901A1-application-v4.5.xml"
GRANT25 = "samples/uspto/US06334226-20020101-grant-v2.5.xml"


def source(tmp_path: Path, **options) -> UsptoSource:
    return make_source(SourceConfig(name="uspto", kind="uspto", options=options), tmp_path)


def ids(items: list) -> list[tuple[str, str]]:
    return [(i.id, "doc") if isinstance(i, Document) else (i.doc.id, i.reason) for i in items]


GOLDEN = [
    (GRANT45, "uspto/US09358892B1", "us-patent-grant v4.5",
     "1. Field\n\nThe present invention relates to methods and systems for managing a charging",
     "there is a need in the art for a method/system of managing charging",
     ["A method/system is provided for managing pre-charging", "SUMMARY", "BACKGROUND"]),
    (APP45, "uspto/US20220159901A1", "us-patent-application v4.5",
     "It is widely known in the art of agricultural machinery",
     "we can synthesize as follows the drawbacks found in the prior art",
     ["First object of the invention", "This instant invention finds its field",
      "OBJECTS OF THE PRESENT INVENTION", "TECHNICAL FILED"]),
    (GRANT25, "uspto/US06334226B1", "PATDOC v2.5",
     "A faucet support member according to the conventional art is already known",
     "grip the base plate between the bottom surface of the support seat",
     ["TECHNICAL FIELD", "DISCLOSURE OF THE INVENTION", "In accordance with the present invention",
      "The present invention relates to a faucet support member"]),
]


@pytest.mark.parametrize("sample, doc_id, fmt, start, inside, absent", GOLDEN)
def test_documents_start_at_the_background(shared_data: Path, tmp_path: Path, sample: str,
                                           doc_id: str, fmt: str, start: str, inside: str,
                                           absent: list[str]) -> None:
    items = list(source(tmp_path).read(shared_data / sample))
    assert len(items) == 1 and isinstance(items[0], Document)
    doc = items[0]
    assert doc.id == doc_id and doc.meta["format"] == fmt
    assert doc.meta["pile_set_name"] == "USPTO Backgrounds"
    assert doc.text.startswith(start)
    assert inside in doc.text
    for text in absent:
        assert text not in doc.text
    assert "<" not in doc.text and "  " not in doc.text


def _weekly(shared_data: Path, tmp_path: Path) -> bytes:
    """A weekly file as the USPTO publishes them: documents concatenated."""
    return b"".join((shared_data / s).read_bytes() for s in (GRANT45, GRANT25, APP45))


def test_weekly_file_plain_and_zipped(shared_data: Path, tmp_path: Path) -> None:
    weekly = tmp_path / "ipg160607.xml"
    weekly.write_bytes(_weekly(shared_data, tmp_path))
    expected = [("uspto/US09358892B1", "doc"), ("uspto/US06334226B1", "doc"),
                ("uspto/US20220159901A1", "doc")]
    assert ids(list(source(tmp_path).read(weekly))) == expected
    zipped = tmp_path / "ipg160607.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(weekly, "ipg160607.xml")
    assert ids(list(source(tmp_path).read(zipped))) == expected


def test_truncated_weekly_file_keeps_the_complete_patents(shared_data: Path, tmp_path: Path) -> None:
    data = _weekly(shared_data, tmp_path)
    weekly = tmp_path / "ipg.xml"
    weekly.write_bytes(data[: len(data) - 20_000])
    got = ids(list(source(tmp_path).read(weekly)))
    assert got[:2] == [("uspto/US09358892B1", "doc"), ("uspto/US06334226B1", "doc")]
    assert got[2] == ("uspto/ipg.xml#2", "xml_error")


def test_truncated_zip_is_a_source_error(shared_data: Path, tmp_path: Path) -> None:
    zipped = tmp_path / "ipg.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ipg.xml", _weekly(shared_data, tmp_path))
    zipped.write_bytes(zipped.read_bytes()[:30_000])
    with pytest.raises(SourceError):
        list(source(tmp_path).read(zipped))


def test_other_documents_and_missing_background(shared_data: Path, tmp_path: Path) -> None:
    grant = (shared_data / GRANT45).read_bytes()
    no_bg = grant.replace(b">BACKGROUND</heading>", b">INTRODUCTION</heading>")
    seq = b'<?xml version="1.0" encoding="UTF-8"?>\n<sequence-cwu id="SEQLST-0"><p>ACGT</p></sequence-cwu>\n'
    path = tmp_path / "mixed.xml"
    path.write_bytes(no_bg + seq)
    assert ids(list(source(tmp_path).read(path))) == [("uspto/US09358892B1", "no_background"),
                                                       ("uspto/mixed.xml#1", "not_a_patent")]


def test_entity_bombs_and_external_entities_are_not_expanded(shared_data: Path, tmp_path: Path) -> None:
    grant = (shared_data / GRANT45).read_bytes()
    bomb = (b'<!DOCTYPE us-patent-grant [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
            b'<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')
    hostile = grant.replace(b'<!DOCTYPE us-patent-grant SYSTEM "us-patent-grant-v45-2014-04-03.dtd" [ ]>', bomb)
    hostile = hostile.replace(b"1. Field</p>", b"1. Field &c;&c;&xxe;</p>")
    path = tmp_path / "hostile.xml"
    path.write_bytes(hostile)
    # Nothing is expanded: the patent is refused by name, with the declaration that
    # refused it (the other XML kinds fail such a file the same way).
    [drop] = list(source(tmp_path).read(path))
    assert isinstance(drop, Dropped) and drop.reason == "xml_entity_refused"
    assert drop.doc.meta["detail"].startswith("<!ENTITY a ")
    # The drawings' NDATA declarations of the 2002 format are not refused.
    [grant25] = [d for d in source(tmp_path).read(shared_data / GRANT25)]
    assert isinstance(grant25, Document)


def test_dtd_entities_of_v25_are_mapped(shared_data: Path) -> None:
    data = prepare_xml((shared_data / GRANT25).read_bytes())
    assert b"<!DOCTYPE" not in data and b"&ldquo;" not in data
    assert "a \u201cC\u201d ring".encode() in data and "\u201c\u2212\u201d groove".encode() in data


def test_invalid_utf8_patent_is_dropped(shared_data: Path, tmp_path: Path) -> None:
    grant = (shared_data / GRANT45).read_bytes().replace(b"1. Field", b"1. Fi\xffeld")
    path = tmp_path / "bad.xml"
    path.write_bytes(grant)
    assert ids(list(source(tmp_path).read(path))) == [("uspto/bad.xml#0", "xml_error")]


@pytest.mark.parametrize("blocks, expected", [
    ([("heading", "BACKGROUND OF THE INVENTION"), ("heading", "Field of the Invention"), ("p", "a"),
      ("heading", "Description of the Related Art"), ("p", "b"), ("heading", "SUMMARY"), ("p", "c")],
     ["Field of the Invention", "a", "Description of the Related Art", "b"]),
    ([("heading", "PRIOR ART"), ("p", "a"), ("heading", "OBJECTS OF THE PRIOR ART INVENTION"), ("p", "b")],
     ["a"]),
    ([("heading", "FIELD"), ("p", "a"), ("heading", "BACKGROUND"), ("p", "b"),
      ("heading", "Some other heading"), ("p", "c")], ["b"]),
    ([("heading", "DETAILED DESCRIPTION"), ("p", "a")], []),
    ([("p", "no headings at all")], []),
])
def test_background_selection(blocks: list, expected: list) -> None:
    assert background(blocks) == expected


def test_listing_and_options(tmp_path: Path) -> None:
    files = source(tmp_path, years=[2004, 2005]).list_files()
    assert files[0].url == "https://bulkdata.uspto.gov/data/patent/grant/redbook/fulltext/2004/pg040106.zip"
    assert files[-1].url == "https://bulkdata.uspto.gov/data/patent/grant/redbook/fulltext/2005/ipg051227.zip"
    assert len(files) == 52 + 52 and files[0].name == "2004/pg040106.zip"
    aps = source(tmp_path, years=[1976]).list_files()
    assert [f.name for f in aps[:2]] == ["1976/pftaps19760106_wk01.zip", "1976/pftaps19760113_wk02.zip"]
    assert aps[0].url == ("https://bulkdata.uspto.gov/data/patent/grant/redbook/fulltext/1976/"
                          "pftaps19760106_wk01.zip") and len(aps) == 52
    for bad in ([1975], "2020", [True]):
        with pytest.raises(ConfigError, match=r"sources\.uspto\.options\.years"):
            source(tmp_path, years=bad)


def test_pickle_round_trip(shared_data: Path, tmp_path: Path) -> None:
    src = pickle.loads(pickle.dumps(source(tmp_path, min_chars=10)))
    assert ids(list(src.read(shared_data / GRANT25))) == [("uspto/US06334226B1", "doc")]


# --- APS (1976-2001) ------------------------------------------------------------------
# No real APS file is among the samples, so the test input follows the USPTO's "Patent
# Full-Text/APS Green Book" (PatentFullTextAPSDoc_GreenBook.pdf, bulk data folder 1976):
# a file header line, then per patent a PATN line, fixed fields (tag in columns 1-4, data
# from column 6, continuation lines indented five blanks, about 74 columns wide), section
# tags on their own lines; BSUM holds PAC headings and PAR paragraphs. The text is the
# real US 6,334,226 (the v2.5 sample): its BRFSUM written as BSUM, so the APS reader must
# give the same background as the v2.5 reader.


def aps_lines(tag: str, data: str) -> list[str]:
    import textwrap

    wrapped = textwrap.wrap(data, 69) or [""]
    return [f"{tag:<4} {wrapped[0]}"] + [f"     {w}" for w in wrapped[1:]]


def aps_patent(shared_data: Path) -> tuple[str, dict]:
    from lxml import etree

    from pile.sources.uspto import parse_patent

    raw = (shared_data / GRANT25).read_bytes()
    info = parse_patent(raw)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(prepare_xml(raw), parser=parser)
    lines = ["PATN", *aps_lines("WKU", info["number"] + "0"),  # check digit: not verified
             *aps_lines("SRC", "9"), *aps_lines("APN", "0955812"), *aps_lines("TTL", info["title"]),
             *aps_lines("ISD", info["date"]), "INVT", *aps_lines("NAM", "Inventor; Name"),
             "ABST", *aps_lines("PAL", " ".join("".join(root.find("SDOAB").itertext()).split())),
             "BSUM"]
    for el in root.find("SDODE/BRFSUM").iter("H", "PARA"):
        text = " ".join("".join(el.itertext()).split())
        lines += aps_lines("PAC" if el.tag == "H" else "PAR", text)
    lines += ["DETD", *aps_lines("PAR", "The detailed description is not the background."),
              "CLMS", *aps_lines("NUM", "1."), *aps_lines("PAR", "1. A faucet support member.")]
    return "\n".join(lines) + "\n", info


def test_aps_weekly_file_gives_the_same_background_as_the_xml(shared_data: Path, tmp_path: Path) -> None:
    patent, info = aps_patent(shared_data)
    no_background = "\n".join(["PATN", "WKU  039302710", "TTL  A patent without headings",
                               "ISD  19760106", "BSUM", "PAR  This brief summary has no",
                               "     background heading at all."]) + "\n"
    weekly = "HHHHHT APS1      ISSUE  020101\n" + patent + no_background
    txt = tmp_path / "pftaps20020101_wk01.txt"
    txt.write_bytes(weekly.encode("ascii"))
    items = list(source(tmp_path, min_chars=10).read(txt))
    assert ids(items) == [("uspto/US06334226", "doc"), ("uspto/US03930271", "no_background")]
    [xml_doc] = list(source(tmp_path, min_chars=10).read(shared_data / GRANT25))
    assert items[0].text == xml_doc.text  # the same section, whichever format carried it
    assert items[0].meta == {**xml_doc.meta, "patent": "US06334226", "format": "APS"}
    assert "Japanese Laid-open patent No. Sho 63-321435" in items[0].text
    # zipped as the weekly files are; a patent over the record limit is dropped, not held
    zipped = tmp_path / "pftaps20020101_wk01.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("pftaps20020101_wk01.txt", weekly)
    assert ids(list(source(tmp_path, min_chars=10).read(zipped)))[0] == ("uspto/US06334226", "doc")
    small = make_source(SourceConfig(name="uspto", kind="uspto", max_record_bytes=2048,
                                     options={"min_chars": 10}), tmp_path)
    assert [i.reason for i in small.read(txt) if not isinstance(i, Document)][0] == "too_large"


def test_aps_download_from_loopback(shared_data: Path, tmp_path: Path, http_folder) -> None:
    from pile.sources.download import Downloader

    patent, _ = aps_patent(shared_data)
    folder = tmp_path / "up" / "data/patent/grant/redbook/fulltext/2001"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "pftaps20010102_wk01.zip", "w") as zf:
        zf.writestr("pftaps20010102_wk01.txt", "HHHHHT APS1      ISSUE  010102\n" + patent)
    server = http_folder(tmp_path / "up")
    src = make_source(SourceConfig(name="uspto", kind="uspto", options={"years": [2001], "min_chars": 10}),
                      tmp_path / "raw")
    results = Downloader(rewrites={"https://bulkdata.uspto.gov/": server.url + "/"}, progress=False,
                         retries=0, delays={}).fetch(src)
    assert results[0].status == "downloaded" and results[0].name == "2001/pftaps20010102_wk01.zip"
    assert {r.status for r in results[1:]} == {"failed"}  # the other weeks are not served
    assert ids([i for p in src.inputs() for i in src.read(p)]) == [("uspto/US06334226", "doc")]
