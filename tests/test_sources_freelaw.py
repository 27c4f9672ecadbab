"""FreeLaw: CourtListener opinions dumps written at test time in each of the four CSV
dialects the bulk files used, following the format freelawproject/courtlistener documents
for its bulk data (``scripts/make_bulk_data.sh``: PostgreSQL ``COPY search_opinion ... TO
STDOUT WITH (FORMAT csv, HEADER, [FORCE_QUOTE *], [QUOTE '`'], [ESCAPE '\\'])``, then
bzip2), filled with real text: a PubMed abstract, Enron message bodies, PMC paragraphs
and a LaTeX paragraph of the SciPy paper (backslashes, backticks, quotes, many lines)."""

from __future__ import annotations

import bz2
import csv
import html
import io
import mailbox
import pickle
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.download import Downloader
from pile.sources.freelaw import FreeLawSource, dialect_for

COLUMNS = ["id", "date_created", "date_modified", "author_str", "type", "sha1", "download_url",
           "plain_text", "html", "html_lawbox", "html_columbia", "html_anon_2020", "xml_harvard",
           "html_with_citations", "extracted_by_ocr", "cluster_id"]
# The writer settings each dump era used (what COPY's options produce).
WRITERS = {
    "plain": {"quotechar": '"', "doublequote": True, "quoting": csv.QUOTE_MINIMAL},
    "quote_all": {"quotechar": '"', "doublequote": True, "quoting": csv.QUOTE_ALL},
    "backtick": {"quotechar": "`", "doublequote": True, "quoting": csv.QUOTE_ALL},
    "backslash": {"quotechar": "`", "doublequote": False, "escapechar": "\\",
                  "quoting": csv.QUOTE_ALL},
}
DATES = {"plain": "2023-06-30", "quote_all": "2023-09-30", "backtick": "2024-08-31",
         "backslash": "2025-10-31"}
UNABLE = "Unable to extract the content from this file. Please try reading the original."


def source(tmp_path: Path, **kwargs) -> FreeLawSource:
    options = kwargs.pop("options", {})
    return make_source(SourceConfig(name="freelaw", kind="freelaw", options=options, **kwargs),
                       tmp_path / "raw")


@pytest.fixture(scope="module")
def texts(shared_data: Path) -> dict[str, object]:
    root = shared_data / "samples"
    article = ET.parse(root / "pubmed/pubmed-29768149.xml").getroot()
    abstract = "\n\n".join("".join(e.itertext()).strip() for e in article.iter("AbstractText"))
    box = mailbox.mbox(root / "enron/enron.allen-p.inbox.mbox", create=False)
    bodies = [m.get_payload() for m in box if not m.is_multipart()]
    box.close()
    quoted = next(b for b in bodies if '"' in b and "\n" in b.strip())
    pmc = ET.parse(root / "pmc/pone.0046493.nxml").getroot()
    paras = [" ".join("".join(p.itertext()).split()) for p in pmc.iter("p")]
    paras = [p for p in paras if len(p) > 200][:4]
    tex = (root / "arxiv/scipy-1.0/paper.tex").read_text("utf-8").split("\n\n")
    latex = next(p for p in tex if "``rogue''" in p).strip("\n")
    return {"abstract": abstract, "enron": quoted, "paras": paras, "latex": latex}


def records(t: dict) -> list[dict[str, str]]:
    """Five opinions: plain text only; html + plain; three editions (the rules differ);
    the extraction placeholder; nothing at all."""
    p = t["paras"]
    rows = [
        {"id": "101", "plain_text": t["abstract"]},
        {"id": "102", "plain_text": t["enron"], "html": f"<p>{html.escape(p[0])}</p>\n<p>{html.escape(p[1])}</p>"},
        {"id": "103", "plain_text": t["latex"], "html_lawbox": f"<p>{html.escape(p[2])}</p>",
         "html_with_citations": f"<div>\n<p>{html.escape(p[3])}</p>\n</div>"},
        {"id": "104", "plain_text": UNABLE},
        {"id": "105"},
    ]
    out = []
    for row in rows:
        full = {c: "" for c in COLUMNS}
        full.update(row, date_created="2019-01-0%s 00:00:00+00" % row["id"][-1], type="010combined",
                    cluster_id=str(int(row["id"]) + 9000), author_str='Judge "X" \\ `Y`')
        out.append(full)
    return out


def write_dump(path: Path, rows: list[dict[str, str]], dialect: str) -> Path:
    buf = io.StringIO()
    buf.write(",".join(COLUMNS) + "\n")  # COPY writes the header unquoted
    writer = csv.writer(buf, lineterminator="\n", **WRITERS[dialect])
    for row in rows:
        writer.writerow([row[c] for c in COLUMNS])
    path.write_bytes(bz2.compress(buf.getvalue().encode("utf-8")))
    return path


def outcome(items: list) -> list[tuple[str, str]]:
    return [(i.id, i.meta["text_field"]) if isinstance(i, Document) else (i.doc.id, i.reason)
            for i in items]


@pytest.mark.parametrize("dialect", list(WRITERS))
def test_every_dialect_reads_the_same_opinions(dialect: str, texts: dict, tmp_path: Path) -> None:
    rows = records(texts)
    path = write_dump(tmp_path / f"opinions-{DATES[dialect]}.csv.bz2", rows, dialect)
    data = bz2.decompress(path.read_bytes())
    assert b"\\cite" in data and b"rogue''" in data and b'"' in data  # the hard characters
    with bz2.open(path, "rb") as fh:
        fh.readline()
        assert dialect_for(fh.read(1), path.name) == ("plain" if dialect in ("plain", "quote_all")
                                                      else dialect)
    items = list(source(tmp_path).read(path))
    assert outcome(items) == [("freelaw/101", "plain_text"), ("freelaw/102", "html"),
                              ("freelaw/103", "html_with_citations"),
                              ("freelaw/104", "unable_to_extract"), ("freelaw/105", "no_text")]
    p = texts["paras"]
    assert items[0].text == texts["abstract"].strip()
    assert items[1].text == f"{p[0]}\n\n{p[1]}"
    assert items[2].text == p[3]
    assert items[0].meta["pile_set_name"] == "FreeLaw" and items[0].meta["cluster_id"] == "9101"
    assert items[0].meta["author_str"] == 'Judge "X" \\ `Y`'
    # The Pile's rule takes the last non-empty of plain_text, html, html_lawbox.
    pile = list(source(tmp_path, options={"text_rule": "pile_v1"}).read(path))
    assert outcome(pile)[:3] == [("freelaw/101", "plain_text"), ("freelaw/102", "html"),
                                 ("freelaw/103", "html_lawbox")]
    assert pile[2].text == p[2]
    # plain text with backslashes, backticks and line breaks survives every dialect
    latex_only = [{**rows[2], "html_lawbox": "", "html_with_citations": ""}]
    one = write_dump(tmp_path / f"one-{DATES[dialect]}.csv.bz2", latex_only, dialect)
    [doc] = list(source(tmp_path, options={"dialect": dialect}).read(one))
    assert doc.text == texts["latex"].strip() and doc.text.count("\n") >= 5


def test_a_wrong_dialect_or_damaged_dump_fails_the_file(texts: dict, tmp_path: Path) -> None:
    rows = records(texts)
    path = write_dump(tmp_path / "opinions-2025-10-31.csv.bz2", rows, "backslash")
    # read as the backtick dialect, the \` escapes end the fields early: refused, not guessed
    with pytest.raises(SourceError, match="malformed backtick CSV"):
        list(source(tmp_path, options={"dialect": "backtick"}).read(path))
    whole = path.read_bytes()
    cut = tmp_path / "opinions-2025-09-30.csv.bz2"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SourceError, match="opinions-2025-09-30.csv.bz2"):
        list(source(tmp_path).read(cut))
    bad = tmp_path / "opinions-2025-08-31.csv.bz2"
    bad.write_bytes(bz2.compress(bz2.decompress(whole).replace(b"SciPy", b"Sci\xffPy", 1)))
    got = []
    with pytest.raises(SourceError, match="invalid UTF-8 in the records after opinion"):
        for item in source(tmp_path).read(bad):
            got.append(item.id)
    assert got == ["freelaw/101"][: len(got)]  # what came before the bad bytes is kept
    empty = tmp_path / "opinions-2025-07-31.csv.bz2"
    empty.write_bytes(bz2.compress(b"not,a,dump\n1,2,3\n"))
    with pytest.raises(SourceError, match="no header row with an id column"):
        list(source(tmp_path).read(empty))


def test_a_long_opinion_is_not_cut_by_the_csv_field_limit(texts: dict, tmp_path: Path) -> None:
    long_text = "\n\n".join([texts["abstract"]] * (200_000 // len(texts["abstract"]) + 1))
    assert len(long_text) > 131072  # the csv module's default field limit
    row = {**records(texts)[0], "plain_text": long_text}
    path = write_dump(tmp_path / "opinions-2024-12-31.csv.bz2", [row], "backtick")
    [doc] = list(source(tmp_path).read(path))
    assert doc.text == long_text.strip()


def test_download_from_loopback(texts: dict, tmp_path: Path, http_folder) -> None:
    served = tmp_path / "served" / "bulk-data"
    served.mkdir(parents=True)
    write_dump(served / "opinions-2024-08-31.csv.bz2", records(texts), "backtick")
    server = http_folder(tmp_path / "served")
    src = source(tmp_path, options={"date": "2024-08-31"})
    dl = Downloader(rewrites={"https://com-courtlistener-storage.s3-us-west-2.amazonaws.com/":
                              server.url + "/"}, progress=False, retries=0, delays={})
    [result] = dl.fetch(src)
    assert result.status == "downloaded" and result.name == "opinions-2024-08-31.csv.bz2"
    items = [i for p in src.inputs() for i in src.read(p)]
    assert [i.id for i in items if isinstance(i, Document)] == ["freelaw/101", "freelaw/102",
                                                                "freelaw/103"]


def test_options_and_pickle(tmp_path: Path) -> None:
    for options, field in [({"date": "2024-8-1"}, "date"), ({"dialect": "tsv"}, "dialect"),
                           ({"text_rule": "best"}, "text_rule")]:
        with pytest.raises(ConfigError, match=rf"options\.{field}"):
            source(tmp_path, options=options)
    src = pickle.loads(pickle.dumps(source(tmp_path)))
    assert src.list_files()[0].url.endswith("/bulk-data/opinions-2025-10-31.csv.bz2")


# The clusters and dockets dumps as CourtListener's bulk data has them (the columns the
# join reads, among others), written at test time in the same dialect as the opinions.
CLUSTER_COLUMNS = ["id", "date_created", "case_name", "docket_id", "judges"]
DOCKET_COLUMNS = ["id", "date_created", "court_id", "case_name", "docket_number"]


def write_table(path: Path, columns: list[str], rows: list[dict[str, str]], dialect: str) -> Path:
    buf = io.StringIO()
    buf.write(",".join(columns) + "\n")
    writer = csv.writer(buf, lineterminator="\n", **WRITERS[dialect])
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    path.write_bytes(bz2.compress(buf.getvalue().encode("utf-8")))
    return path


def court_dumps(folder: Path, date: str, dialect: str, texts: dict) -> None:
    # opinions 101..103 are in clusters 9101..9103; 9103's docket is missing, 104's cluster too
    clusters = [{"id": "9101", "docket_id": "501", "case_name": 'Smith v. "Jones"\nII',
                 "judges": texts["enron"][:200]},
                {"id": "9102", "docket_id": "502", "case_name": "In re `Doe` \\ Roe"},
                {"id": "9103", "docket_id": "599"},
                {"id": "bad", "docket_id": "501"}]
    dockets = [{"id": "501", "court_id": "scotus", "case_name": texts["latex"][:300]},
               {"id": "502", "court_id": "ca9", "docket_number": "12-345"}]
    write_table(folder / f"opinion-clusters-{date}.csv.bz2", CLUSTER_COLUMNS, clusters, dialect)
    write_table(folder / f"dockets-{date}.csv.bz2", DOCKET_COLUMNS, dockets, dialect)


@pytest.mark.parametrize("dialect", list(WRITERS))
def test_courts_are_joined_from_the_clusters_and_dockets_dumps(dialect: str, texts: dict,
                                                               tmp_path: Path) -> None:
    date = DATES[dialect]
    folder = tmp_path / "dumps"
    folder.mkdir()
    write_dump(folder / f"opinions-{date}.csv.bz2", records(texts), dialect)
    court_dumps(folder, date, dialect, texts)
    src = source(tmp_path, paths=(str(folder),), options={"courts": True, "date": date})
    assert [p.name for p in src.inputs()] == [f"opinions-{date}.csv.bz2"]  # not the join's dumps
    docs = [i for p in src.inputs() for i in src.read(p) if isinstance(i, Document)]
    assert [(d.id, d.meta.get("court_id"), d.meta.get("docket_id")) for d in docs] == [
        ("freelaw/101", "scotus", "501"), ("freelaw/102", "ca9", "502"), ("freelaw/103", None, None)]
    [index] = list((tmp_path / "raw" / "freelaw").glob(".courts-*.sqlite"))
    built = index.stat().st_mtime_ns
    again = [i for p in src.inputs() for i in src.read(p) if isinstance(i, Document)]
    assert [d.meta.get("court_id") for d in again] == ["scotus", "ca9", None]
    assert index.stat().st_mtime_ns == built  # built once, then only looked up
    # without courts: the same files read as before, no court
    plain = source(tmp_path, paths=(str(folder / f"opinions-{date}.csv.bz2"),))
    assert all("court_id" not in d.meta for d in plain.read(plain.inputs()[0])
               if isinstance(d, Document))


def test_a_missing_or_damaged_join_dump_fails_the_opinions_file(texts: dict, tmp_path: Path) -> None:
    folder = tmp_path / "dumps"
    folder.mkdir()
    opinions = write_dump(folder / "opinions-2024-08-31.csv.bz2", records(texts), "backtick")
    src = source(tmp_path, paths=(str(opinions),), options={"courts": True})
    with pytest.raises(SourceError, match="no clusters dump"):
        list(src.read(opinions))
    court_dumps(folder, "2024-08-31", "backtick", texts)
    dockets = folder / "dockets-2024-08-31.csv.bz2"
    dockets.write_bytes(bz2.compress(bz2.decompress(dockets.read_bytes()).replace(b"ca9", b"c\xff9")))
    src = source(tmp_path, paths=(str(folder),), options={"courts": True})
    with pytest.raises(SourceError, match="dockets-2024-08-31.csv.bz2: the dockets dump"):
        list(src.read(opinions))
    assert not list((tmp_path / "raw" / "freelaw").glob(".courts-*"))  # no half-built index


def test_courts_download_from_loopback(texts: dict, tmp_path: Path, http_folder) -> None:
    served = tmp_path / "served" / "bulk-data"
    served.mkdir(parents=True)
    write_dump(served / "opinions-2025-10-31.csv.bz2", records(texts), "backslash")
    court_dumps(served, "2025-10-31", "backslash", texts)
    server = http_folder(tmp_path / "served")
    src = source(tmp_path, options={"courts": True})
    dl = Downloader(rewrites={"https://com-courtlistener-storage.s3-us-west-2.amazonaws.com/":
                              server.url + "/"}, progress=False, retries=0, delays={})
    assert [(r.name, r.status) for r in dl.fetch(src)] == [
        ("opinions-2025-10-31.csv.bz2", "downloaded"),
        ("opinion-clusters-2025-10-31.csv.bz2", "downloaded"),
        ("dockets-2025-10-31.csv.bz2", "downloaded")]
    docs = [i for p in src.inputs() for i in src.read(p) if isinstance(i, Document)]
    assert [d.meta.get("court_id") for d in docs] == ["scotus", "ca9", None]
