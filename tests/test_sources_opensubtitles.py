"""OpenSubtitles: the real OPUS v2018 raw member, zipped at test time in OPUS's path layout
(``OpenSubtitles/raw/en/<year>/<imdb id>/<file>.xml``), read as a stream of zip members and
fetched through the real downloader from loopback."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import lxml.etree
import pytest

from pile.config import SourceConfig
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.download import Downloader
from pile.sources.opensubtitles import OpenSubtitlesSource

SAMPLE = "samples/opensubtitles/opus_v2018_raw_en_3991985.xml"
# The sample's own <meta> gives the year; the IMDb folder is a stand-in (the sample's
# origin does not name the film), the layout is OPUS's.
IMDB = "24184"


def source(tmp_path: Path, **kwargs) -> OpenSubtitlesSource:
    return make_source(SourceConfig(name="opensubtitles", kind="opensubtitles", **kwargs),
                       tmp_path / "raw")


def sample_facts(data: bytes) -> tuple[str, list[str]]:
    """(year from <meta>, each <s>'s whole text), read with lxml, not the source's parser."""
    root = lxml.etree.fromstring(data)
    return root.findtext("meta/source/year"), ["".join(s.itertext()) for s in root.iter("s")]


def member(year: str, name: str = "3991985") -> str:
    return f"OpenSubtitles/raw/en/{year}/{IMDB}/{name}.xml"


def opus_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture()
def xml(shared_data: Path) -> bytes:
    return (shared_data / SAMPLE).read_bytes()


def test_one_document_per_subtitle_file_in_the_readable_layout(tmp_path: Path, xml: bytes) -> None:
    year, sentences = sample_facts(xml)
    other = xml.replace(b'<document id="3991985">', b'<document id="3991986">')
    archive = opus_zip(tmp_path / "en.zip", {member(year): xml, member(year, "3991986"): other})
    src = source(tmp_path, paths=(str(archive),))
    docs = [d for p in src.inputs() for d in src.read(p)]
    assert [d.id for d in docs] == [f"opensubtitles/OpenSubtitles/raw/en/{year}/{IMDB}/{n}"
                                    for n in ("3991985", "3991986")]
    expected = [" ".join(s.split()) for s in sentences if s.split()]
    assert docs[0].text.split("\n") == expected
    assert len(expected) == len(sentences)  # every <s> of the sample has text
    assert docs[0].meta == {"pile_set_name": "OpenSubtitles", "year": int(year), "imdb_id": IMDB,
                            "language": "en", "opus_path": member(year),
                            "subtitle_id": "3991985"}
    assert docs[1].meta["subtitle_id"] == "3991986" and docs[1].text == docs[0].text
    assert "<" not in docs[0].text and "00:01:46" not in docs[0].text  # no tags, no times
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["en.zip"]  # nothing unpacked


def test_pile_layout_is_the_pile_scripts_join(tmp_path: Path, xml: bytes) -> None:
    year, sentences = sample_facts(xml)
    archive = opus_zip(tmp_path / "en.zip", {member(year): xml})
    src = source(tmp_path, paths=(str(archive),), options={"layout": "pile_v1"})
    (doc,) = src.read(archive)
    # sdtblck/Opensubtitles_dataset: every <s>'s text joined by " ", empty lines removed
    assert doc.text == "\n".join(line for line in " ".join(sentences).split("\n") if line)
    assert any(line.strip() == "" for line in doc.text.split("\n"))  # its indentation lines


def test_damaged_members_fail_alone(tmp_path: Path, xml: bytes) -> None:
    year, sentences = sample_facts(xml)
    cut = xml[: len(xml) // 2]
    empty = b'<?xml version="1.0" encoding="utf-8"?>\n<document id="9"><s id="1"> </s></document>'
    archive = opus_zip(tmp_path / "en.zip", {
        member(year, "1"): xml, member(year, "2"): cut, member(year, "3"): empty,
        "OpenSubtitles/raw/en/README": b"OPUS release notes", member(year, "4"): xml,
        member(year, "5"): xml}, compression=zipfile.ZIP_STORED)
    # flip bytes inside member 5's stored data: its CRC no longer matches
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(member(year, "5"))
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    pos = start + xml.index(b"Dead as a herring")
    data[pos:pos + 4] = b"DEAD"
    archive.write_bytes(bytes(data))
    src = source(tmp_path, paths=(str(archive),))
    out = list(src.read(archive))
    kept = [o for o in out if not hasattr(o, "reason")]
    reasons = {o.doc.id.rsplit("/", 1)[-1]: o.reason for o in out if hasattr(o, "reason")}
    assert [d.id.rsplit("/", 1)[-1] for d in kept] == ["1", "4"]
    assert reasons == {"2": "malformed_xml", "3": "no_text", "README": "not_subtitle",
                       "5": "corrupt_member"}
    assert all(d.text.count("\n") + 1 == len(sentences) for d in kept)


def test_a_truncated_zip_fails_the_file(tmp_path: Path, xml: bytes) -> None:
    archive = opus_zip(tmp_path / "en.zip", {member("1933"): xml})
    cut = tmp_path / "cut.zip"
    cut.write_bytes(archive.read_bytes()[:-200])  # the central directory is gone
    with pytest.raises(SourceError, match="cut.zip"):
        list(source(tmp_path, paths=(str(cut),)).read(cut))


def test_download_through_the_real_downloader(tmp_path: Path, xml: bytes, http_folder) -> None:
    year, _ = sample_facts(xml)
    served = tmp_path / "served" / "OPUS-OpenSubtitles" / "v2018" / "raw"
    served.mkdir(parents=True)
    opus_zip(served / "en.zip", {member(year): xml})
    server = http_folder(tmp_path / "served")
    src = source(tmp_path)
    dl = Downloader(rewrites={"https://object.pouta.csc.fi/": server.url + "/"}, progress=False,
                    retries=0, delays={})
    (result,) = dl.fetch(src)
    assert result.ok and server.hits == ["/OPUS-OpenSubtitles/v2018/raw/en.zip"]
    (doc,) = [d for p in src.inputs() for d in src.read(p)]
    assert doc.meta["year"] == int(year)


def test_options_are_checked_and_the_source_pickles(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="options.layout"):
        source(tmp_path, options={"layout": "srt"})
    src = source(tmp_path, options={"language": "fr"})
    assert src.list_files()[0].url.endswith("/v2018/raw/fr.zip")
    again = pickle.loads(pickle.dumps(src))
    assert again.options == src.options and again.describe()["license"]
