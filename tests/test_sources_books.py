"""Book collections: the real Project Gutenberg EPUB 3 of Frankenstein (pg84), read in spine
order, and the real Gutenberg plain-text books; damaged variants are derived in tmp_path.
Expectations are read from the EPUB itself with lxml and zipfile."""

from __future__ import annotations

import pickle
import shutil
import zipfile
from pathlib import Path

import lxml.etree
import lxml.html
import pytest

from pile.config import SourceConfig
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.books import BooksSource
from pile.sources.download import Downloader

EPUB = "samples/books/pg84-frankenstein.epub"
OPF_NS = {"opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}


def source(tmp_path: Path, paths: list[Path], **kwargs) -> BooksSource:
    return make_source(SourceConfig(name="books", kind="books",
                                    paths=tuple(str(p) for p in paths), **kwargs), tmp_path / "raw")


def flat(text: str) -> str:
    return " ".join(text.split())


def spine_documents(epub: Path) -> tuple[lxml.etree._Element, list[lxml.html.HtmlElement]]:
    """The OPF root and the spine's XHTML documents, in reading order."""
    with zipfile.ZipFile(epub) as zf:
        opf = lxml.etree.fromstring(zf.read("OEBPS/content.opf"))
        hrefs = {i.get("id"): i.get("href") for i in opf.iterfind(".//opf:item", OPF_NS)}
        docs = [lxml.html.document_fromstring(zf.read("OEBPS/" + hrefs[r.get("idref")]))
                for r in opf.iterfind(".//opf:itemref", OPF_NS)]
    return opf, docs


def test_the_epub_reads_as_the_book_in_spine_order(shared_data: Path, tmp_path: Path) -> None:
    epub = shared_data / EPUB
    (doc,) = source(tmp_path, [epub]).read(epub)
    opf, docs = spine_documents(epub)
    # the first heading of the title page (after the PG header) starts the document
    title_page = docs[1]
    assert doc.text.startswith(flat(title_page.xpath("//h1")[0].text_content()))
    # it ends with the last paragraph of the last chapter (before PG's footer)
    last_chapter = docs[-2]
    assert flat(doc.text).endswith(flat(last_chapter.xpath("//p")[-1].text_content()))
    # every chapter the table of contents names is there, in its order
    toc = next(d for d in docs if d.xpath("//h2") and flat(d.xpath("//h2")[0].text_content()) == "CONTENTS")
    entries = [flat(a.text_content()) for a in toc.xpath("//a")]
    assert len(entries) > 20
    positions = [doc.text.find(f"\n{e}\n") for e in entries]
    assert -1 not in positions and positions == sorted(positions)
    # no navigation, licence or Gutenberg text is left
    assert "CONTENTS" not in doc.text and "Project Gutenberg" not in doc.text
    assert "*** START" not in doc.text and "Literary Archive Foundation" not in doc.text
    assert doc.meta["skipped_items"] == {"toc": 1}
    meta = opf.find("opf:metadata", OPF_NS)
    assert doc.meta["title"] == meta.findtext("dc:title", namespaces=OPF_NS)
    assert doc.meta["author"] == meta.findtext("dc:creator", namespaces=OPF_NS)
    assert doc.meta["language"] == meta.findtext("dc:language", namespaces=OPF_NS)
    assert doc.meta["identifier"] == meta.findtext("dc:identifier", namespaces=OPF_NS)
    assert doc.id == "books/pg84-frankenstein" and doc.meta["pile_set_name"] == "Books3"
    # a paragraph is one line (the XHTML's source wrapping is gone), unless it has <br>s
    paragraphs = [p for p in doc.text.split("\n\n") if len(p) > 300]
    with_breaks = {flat(p.text_content()) for d in docs for p in d.xpath("//p[br]")}
    multiline = [p for p in paragraphs if "\n" in p]
    assert len(paragraphs) > 500 and multiline  # a poem quoted in chapter 10
    assert all(flat(p) in with_breaks for p in multiline)


def test_a_reordered_spine_is_followed(shared_data: Path, tmp_path: Path) -> None:
    epub = shared_data / EPUB
    moved = tmp_path / "moved.epub"
    with zipfile.ZipFile(epub) as src, zipfile.ZipFile(moved, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "OEBPS/content.opf":
                # letters 1 and 2 swap places in the reading order
                data = data.replace(b'idref="item4"', b'idref="@@"').replace(
                    b'idref="item5"', b'idref="item4"').replace(b'idref="@@"', b'idref="item5"')
            dst.writestr(info, data)
    (doc,) = source(tmp_path, [moved]).read(moved)
    assert 0 < doc.text.find("\nLetter 2\n") < doc.text.find("\nLetter 1\n")


def test_damaged_books_fail_alone(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "books"
    folder.mkdir()
    good = folder / "good.epub"
    shutil.copyfile(shared_data / EPUB, good)
    data = (shared_data / EPUB).read_bytes()
    (folder / "cut.epub").write_bytes(data[: len(data) // 2])
    with zipfile.ZipFile(shared_data / EPUB) as src, \
            zipfile.ZipFile(folder / "nocontainer.epub", "w") as dst:
        for info in src.infolist():
            if info.filename != "META-INF/container.xml":
                dst.writestr(info, src.read(info))
    # a chapter whose stored bytes are damaged: its CRC fails when it is read
    crc = folder / "crc.epub"
    with zipfile.ZipFile(shared_data / EPUB) as src, zipfile.ZipFile(crc, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), zipfile.ZIP_STORED)
    raw = bytearray(crc.read_bytes())
    with zipfile.ZipFile(crc) as zf:
        info = zf.getinfo("OEBPS/110231777846946344_84-h-7.htm.html")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + 2000:start + 2004] = b"XXXX"
    crc.write_bytes(bytes(raw))
    src = source(tmp_path, [folder])
    errors: dict[str, str] = {}
    docs = []
    for path in src.inputs():
        try:
            docs.extend(src.read(path))
        except SourceError as exc:
            errors[path.name] = str(exc)
    assert [d.id for d in docs] == ["books/good"]
    assert sorted(errors) == ["crc.epub", "cut.epub", "nocontainer.epub"]
    assert "84-h-7" in errors["crc.epub"] and "container.xml" in errors["nocontainer.epub"]


def test_plain_text_books_lose_their_gutenberg_header(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "samples/gutenberg"
    books = sorted(p for p in folder.iterdir() if p.suffix == ".txt")
    src = source(tmp_path, [folder])
    assert src.inputs() == books  # the .rdf catalogue record is not a book
    pg = make_source(SourceConfig(name="gutenberg", kind="gutenberg", paths=(str(folder),)),
                     tmp_path / "raw")
    pg_docs = {Path(p).name: [d for d in pg.read(p)] for p in books}
    for book in books:
        (doc,) = src.read(book)
        (ref,) = pg_docs[book.name]
        assert flat(doc.text) == flat(ref.text)  # stripped as the gutenberg kind does
        assert doc.meta["title"] == book.stem and doc.meta["gutenberg_header"] in ("modern", "etext")


def test_nothing_is_downloaded_and_the_source_pickles(shared_data: Path, tmp_path: Path) -> None:
    epub = shared_data / EPUB
    src = source(tmp_path, [epub])
    assert src.list_files() == [] and Downloader(progress=False).fetch(src) == []
    with pytest.raises(ConfigError, match="cannot be downloaded"):
        make_source(SourceConfig(name="b", kind="books", urls=("https://the-eye.eu/books3.tar",)),
                    tmp_path)
    assert "taken down" in src.describe()["license"]
    again = pickle.loads(pickle.dumps(src))
    assert [d.text for d in again.read(epub)] == [d.text for d in src.read(epub)]
    named = source(tmp_path, [epub], pile_set_name="BookCorpus2")
    assert next(iter(named.read(epub))).meta["pile_set_name"] == "BookCorpus2"


def test_epub3_navigation_and_licence_sections_are_dropped(shared_data: Path, tmp_path: Path) -> None:
    """An EPUB 3 nav document and epub:type sections (as Standard Ebooks writes them),
    added at test time to the real book: none of their text is left."""
    epub = shared_data / EPUB
    derived = tmp_path / "se.epub"
    nav = (b'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml" '
           b'xmlns:epub="http://www.idpf.org/2007/ops"><body><nav epub:type="toc"><ol>'
           b'<li><a href="110231777846946344_84-h-2.htm.html">NAVLETTER</a></li></ol></nav>'
           b'</body></html>')
    colophon = (b'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml" '
                b'xmlns:epub="http://www.idpf.org/2007/ops"><body><section epub:type="colophon">'
                b'<p>COLOPHONTEXT set in Linux Libertine.</p></section><section epub:type="imprint">'
                b'<p>IMPRINTTEXT released under CC0.</p></section><p>After the colophon.</p></body></html>')
    with zipfile.ZipFile(epub) as src, zipfile.ZipFile(derived, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "OEBPS/content.opf":
                data = data.replace(b"<manifest>", b'<manifest><item href="nav.xhtml" id="nav" '
                                    b'media-type="application/xhtml+xml" properties="nav"/>'
                                    b'<item href="colophon.xhtml" id="colophon" '
                                    b'media-type="application/xhtml+xml"/>')
                data = data.replace(b'<spine toc="ncx">', b'<spine toc="ncx"><itemref idref="nav"/>')
                data = data.replace(b'<itemref idref="pg-footer" linear="yes"/>',
                                    b'<itemref idref="colophon"/><itemref idref="pg-footer" linear="yes"/>')
            dst.writestr(info, data)
        dst.writestr("OEBPS/nav.xhtml", nav)
        dst.writestr("OEBPS/colophon.xhtml", colophon)
    (doc,) = source(tmp_path, [derived]).read(derived)
    (plain,) = source(tmp_path, [epub]).read(epub)
    assert "NAVLETTER" not in doc.text and "COLOPHONTEXT" not in doc.text
    assert "IMPRINTTEXT" not in doc.text
    assert doc.text == plain.text + "\n\nAfter the colophon."
    assert doc.meta["skipped_items"] == {"navigation": 1, "toc": 1}
