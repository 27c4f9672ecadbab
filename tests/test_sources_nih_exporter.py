"""NIH ExPorter: ``RePORTER_PRJABS_C_FY<FY>.zip`` files written at test time in the format
NIH RePORTER's ExPORTER page documents for its abstracts files (one CSV, header
``APPLICATION_ID,ABSTRACT_TEXT``, quoted multi-line abstracts), filled with real text (the
PubMed abstract's sections and PMC paragraphs), with the applicant boilerplate, duplicate
ids and texts, and a cp1252-encoded record as older files have."""

from __future__ import annotations

import csv
import io
import pickle
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.download import Downloader
from pile.sources.nih_exporter import NihExporterSource


def source(tmp_path: Path, **kwargs) -> NihExporterSource:
    options = kwargs.pop("options", {"first_year": 2019, "last_year": 2019})
    return make_source(SourceConfig(name="nih_exporter", kind="nih_exporter", options=options,
                                    **kwargs), tmp_path / "raw")


@pytest.fixture(scope="module")
def texts(shared_data: Path) -> list[str]:
    root = shared_data / "samples"
    article = ET.parse(root / "pubmed/pubmed-29768149.xml").getroot()
    sections = ["".join(e.itertext()).strip() for e in article.iter("AbstractText")]
    paras = []
    for name in ("pone.0046493.nxml", "ehp-116-1694.nxml"):
        paras += ["".join(p.itertext()).strip() for p in ET.parse(root / "pmc" / name).getroot().iter("p")]
    paras = [p for p in paras if len(p) > 300]
    return ["\n\n".join(sections)] + paras[:4]


def latin(paras: list[str]) -> str:
    """A real paragraph that cp1252 can encode and that is not ASCII."""
    for p in paras:
        try:
            p.encode("cp1252")
        except UnicodeEncodeError:
            continue
        if not p.isascii():
            return p
    return paras[0].encode("ascii", "ignore").decode() + " café"  # pragma: no cover


def abstracts_csv(t: list[str], cp1252: str) -> bytes:
    rows = [("9000001", f"DESCRIPTION (provided by applicant): {t[0]}"),
            ("9000002", f"Project Summary/Abstract\n\n{t[1]}"),
            ("9000001", t[2]),                      # same id again: dropped
            ("9000003", f"PROJECT SUMMARY  {t[1]}"),  # same text once cleaned: dropped
            ("9000004", "  "),
            ("9000005", f"ABSTRACT: {t[3]}")]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["APPLICATION_ID", "ABSTRACT_TEXT"])
    writer.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    tail = io.StringIO()
    csv.writer(tail, lineterminator="\r\n").writerow(["9000006", cp1252])
    return data + tail.getvalue().encode("cp1252")


def zipped(data: bytes, fy: int = 2019) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"RePORTER_PRJABS_C_FY{fy}.csv", data)
    return buf.getvalue()


def collapse(text: str) -> str:
    return " ".join(text.split())


def test_dedup_boilerplate_and_encoding_fallback(texts: list[str], tmp_path: Path) -> None:
    odd = latin([texts[2], texts[4]])
    path = tmp_path / "RePORTER_PRJABS_C_FY2019.zip"
    path.write_bytes(zipped(abstracts_csv(texts, odd)))
    items = list(source(tmp_path).read(path))
    got = [(i.id, "doc") if isinstance(i, Document) else (i.doc.id, i.reason) for i in items]
    assert got == [("nih_exporter/9000001", "doc"), ("nih_exporter/9000002", "doc"),
                   ("nih_exporter/9000001#dup3", "duplicate_id"),
                   ("nih_exporter/9000003", "duplicate_text"), ("nih_exporter/9000004", "no_abstract"),
                   ("nih_exporter/9000005", "doc"), ("nih_exporter/9000006", "doc")]
    docs = [i for i in items if isinstance(i, Document)]
    assert [d.text for d in docs] == [collapse(texts[0]), collapse(texts[1]), collapse(texts[3]),
                                      collapse(odd)]
    assert docs[0].meta == {"pile_set_name": "NIH ExPorter", "application_id": "9000001"}
    assert docs[-1].meta["encoding_fallback"] == "cp1252"
    assert all("encoding_fallback" not in d.meta for d in docs[:-1])


def test_damaged_files_fail_with_a_reason(texts: list[str], tmp_path: Path) -> None:
    whole = zipped(abstracts_csv(texts, latin([texts[2], texts[4]])))
    cut = tmp_path / "RePORTER_PRJABS_C_FY2018.zip"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SourceError, match="FY2018"):
        list(source(tmp_path).read(cut))
    wrong = tmp_path / "RePORTER_PRJ_C_FY2019.zip"
    wrong.write_bytes(zipped(b"APPLICATION_ID,ACTIVITY,ADMINISTERING_IC\r\n1,R01,CA\r\n"))
    with pytest.raises(SourceError, match="not an ExPORTER abstracts CSV"):
        list(source(tmp_path).read(wrong))
    unclosed = tmp_path / "RePORTER_PRJABS_C_FY2017.csv"
    unclosed.write_bytes(b'APPLICATION_ID,ABSTRACT_TEXT\r\n1,"never closed\r\n')
    with pytest.raises(SourceError, match="malformed CSV"):
        list(source(tmp_path).read(unclosed))


def test_download_from_loopback(texts: list[str], tmp_path: Path, http_folder) -> None:
    served = tmp_path / "served" / "exporter" / "abstracts" / "download"
    served.mkdir(parents=True)
    (served / "2019").write_bytes(zipped(abstracts_csv(texts, latin([texts[2], texts[4]]))))
    server = http_folder(tmp_path / "served")
    src = source(tmp_path, options={"first_year": 2018, "last_year": 2019})
    dl = Downloader(rewrites={"https://reporter.nih.gov/": server.url + "/"}, progress=False,
                    retries=0, delays={})
    results = dl.fetch(src)
    assert [(r.name, r.status) for r in results] == [("RePORTER_PRJABS_C_FY2018.zip", "failed"),
                                                     ("RePORTER_PRJABS_C_FY2019.zip", "downloaded")]
    items = [i for p in src.inputs() for i in src.read(p)]
    assert sum(isinstance(i, Document) for i in items) == 4


def test_options_and_pickle(tmp_path: Path) -> None:
    for options, field in [({"first_year": 1900}, "first_year"),
                           ({"first_year": 2020, "last_year": 2019}, "first_year"),
                           ({"fallback_encoding": "klingon"}, "fallback_encoding")]:
        with pytest.raises(ConfigError, match=rf"options\.{field}"):
            source(tmp_path, options=options)
    src = pickle.loads(pickle.dumps(source(tmp_path)))
    assert [f.url for f in src.list_files()] == ["https://reporter.nih.gov/exporter/abstracts/download/2019"]
