"""arXiv source: the real SciPy 1.0 source tree (main file found, every \\input resolved,
LaTeX markup gone), the same tree as e-print / tarball / bulk tar built in tmp_path, and
unsafe or broken sources."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.arxiv import ArxivSource, find_main, latex_to_text, resolve_inputs
from pile.stage import Dropped

TREE = "samples/arxiv/scipy-1.0"
TITLE = "SciPy 1.0—Fundamental Algorithms for Scientific Computing in Python"
# one sentence from each \input file of the body (after conversion)
FROM_INPUTS = {
    "subpackages.tex": "The SciPy library is organized as a collection of subpackages.",
    "ckdtree.tex": "The scipy.spatial.ckdtree module, which implements a space-partitioning",
    "scipy-optimize.tex": "The scipy.optimize subpackage provides functions for the numerical",
    "poly.tex": "Historically, SciPy relied heavily on the venerable FITPACK",
    "consortium.tex": "Aditya Vijaykumar",
}


def source(tmp_path: Path, paths: tuple[str, ...] = (), **options) -> ArxivSource:
    cfg = SourceConfig(name="arxiv", kind="arxiv", paths=paths, options=options)
    return make_source(cfg, tmp_path)


def ids(items: list) -> list[tuple[str, str]]:
    return [(i.id, "doc") if isinstance(i, Document) else (i.doc.id, i.reason) for i in items]


@pytest.fixture(scope="module")
def folder_doc(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Document:
    tmp = tmp_path_factory.mktemp("arxiv")
    src = source(tmp, paths=(str(shared_data / TREE),))
    inputs = src.inputs()
    assert [p.name for p in inputs] == ["paper.tex"]  # the main file, not the \input-ed ones
    items = list(src.read(inputs[0]))
    assert len(items) == 1 and isinstance(items[0], Document), items
    return items[0]


def _tree_bytes(shared_data: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((shared_data / TREE).iterdir())}


def _tar(members: dict[str, bytes], gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_folder_paper(folder_doc: Document) -> None:
    doc = folder_doc
    assert doc.id == "arxiv/scipy-1.0/paper"
    assert doc.meta["pile_set_name"] == "ArXiv" and doc.meta["main_file"] == "paper.tex"
    assert doc.meta["inputs_resolved"] == 6 and "inputs_missing" not in doc.meta
    assert doc.text.startswith(TITLE + "\n\nAbstract\n\nSciPy is an open source scientific computing")
    assert "\nIntroduction\n" in doc.text and "\nBackground\n" in doc.text


@pytest.mark.parametrize("markup", ["\\begin", "\\end{", "\\cite", "\\input", "\\section",
                                    "\\documentclass", "\\texttt", "\\label", "<cit.>", "\\ref"])
def test_no_latex_markup_left(folder_doc: Document, markup: str) -> None:
    assert markup not in folder_doc.text


@pytest.mark.parametrize("name", sorted(FROM_INPUTS))
def test_input_files_text_is_present(folder_doc: Document, name: str) -> None:
    assert FROM_INPUTS[name] in folder_doc.text


def test_math_and_references(folder_doc: Document) -> None:
    assert "$k$-dimensional trees" in folder_doc.text  # inline math kept as LaTeX source
    assert "(Figure [fig:asvbench])" in folder_doc.text  # cross-reference as its label
    assert "@article" not in folder_doc.text  # the .bib is not text


def test_tarball_eprint_and_bulk_forms(shared_data: Path, tmp_path: Path, folder_doc: Document) -> None:
    tree = _tree_bytes(shared_data)
    tarball = tmp_path / "1907.10121.tar.gz"
    tarball.write_bytes(_tar(tree))
    single = (b"\\documentclass{article}\n\\title{One file}\n\\begin{document}\n"
              + tree["ckdtree.tex"] + b"\n\\end{document}\n")
    eprint = tmp_path / "1234.56789.gz"
    eprint.write_bytes(gzip.compress(single))
    bulk = tmp_path / "arXiv_src_1907_001.tar"
    bulk.write_bytes(_tar({"1907/1907.10121.gz": gzip.compress(_tar(tree, gz=False)),
                           "1907/1907.00001.gz": gzip.compress(single),
                           "1907/1907.00002.pdf": b"%PDF-1.4 not latex"}, gz=False))
    src = source(tmp_path)
    from_tarball = list(src.read(tarball))
    assert ids(from_tarball) == [("arxiv/1907.10121", "doc")]
    assert from_tarball[0].text == folder_doc.text
    one = list(src.read(eprint))
    assert ids(one) == [("arxiv/1234.56789", "doc")]
    assert one[0].text.startswith("One file\n\nThe scipy.spatial.ckdtree module")
    assert ids(list(src.read(bulk))) == [("arxiv/1907.10121", "doc"), ("arxiv/1907.00001", "doc"),
                                         ("arxiv/1907.00002", "no_tex_source")]


def test_bulk_tar_member_ranges_give_the_papers_of_a_whole_read(shared_data: Path, tmp_path: Path) -> None:
    tree = _tree_bytes(shared_data)
    single = (b"\\documentclass{article}\n\\begin{document}\n" + tree["ckdtree.tex"] + b"\n\\end{document}\n")
    members = {}
    for i in range(12):  # twelve papers, each a gzip'd tree or one file, and a PDF
        members[f"1907/1907.{i:05d}.gz"] = gzip.compress(_tar(tree, gz=False) if i % 2 else single)
    members["1907/1907.99999.pdf"] = b"%PDF-1.4 not latex"
    bulk = tmp_path / "arXiv_src_1907_001.tar"
    bulk.write_bytes(_tar(members, gz=False))
    src = source(tmp_path)
    whole = [(i.id, i.text) if isinstance(i, Document) else (i.doc.id, i.reason) for i in src.read(bulk)]
    spans = src.spans(bulk, bulk.stat().st_size // 4)
    assert spans is not None and len(spans) in (4, 5)
    parts = [[(i.id, i.text) if isinstance(i, Document) else (i.doc.id, i.reason)
              for i in src.read_span(bulk, span)] for span in spans]
    assert [x for part in parts for x in part] == whole and len(whole) == 13
    assert sum(bool(part) for part in parts) >= 3
    paper = tmp_path / "1907.10121.tar"  # one paper's own tarball: one document, never split
    paper.write_bytes(_tar(tree, gz=False))
    assert src.spans(paper, 100) is None


def test_inputs_never_leave_the_tree_and_cycles_stop() -> None:
    tree = {"main.tex": b"\\documentclass{article}\\begin{document}\\input{/etc/passwd} "
                        b"\\input{../../secret} \\include{sub/a} \\input{missing}\\end{document}",
            "sub/a.tex": b"A text \\input{sub/b}", "sub/b.tex": b"B text \\input{sub/a}",
            "other.tex": b"no documentclass here"}
    assert find_main(tree) == "main.tex"
    source_text, stats = resolve_inputs(tree, "main.tex")
    assert "A text" in source_text and "B text" in source_text
    assert stats == {"resolved": 2, "missing": 1, "refused": 3}
    assert "passwd" not in source_text and "secret" not in source_text


def test_unsafe_tarball_member_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "1.tar.gz"
    path.write_bytes(_tar({"../evil.tex": b"\\documentclass{article}"}))
    with pytest.raises(SourceError, match=r"\.\."):
        list(source(tmp_path).read(path))


def test_truncated_archives_fail_the_file(shared_data: Path, tmp_path: Path) -> None:
    tree = _tree_bytes(shared_data)
    tarball = tmp_path / "2.tar.gz"
    data = _tar(tree)
    tarball.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError):
        list(source(tmp_path).read(tarball))
    eprint = tmp_path / "3.gz"
    data = gzip.compress(tree["paper.tex"])
    eprint.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="damaged gzip"):
        list(source(tmp_path).read(eprint))


def test_latin1_source_no_main_and_pdf(tmp_path: Path) -> None:
    latin = tmp_path / "4.gz"
    latin.write_bytes(gzip.compress(b"\\documentclass{article}\\begin{document}Caf\xe9 "
                                    b"na\xefve\\end{document}"))
    doc = next(iter(source(tmp_path).read(latin)))
    assert isinstance(doc, Document) and doc.text == "Café naïve\n"
    nomain = tmp_path / "5.tar.gz"
    nomain.write_bytes(_tar({"part.tex": b"only a fragment"}))
    pdf = tmp_path / "6.gz"
    pdf.write_bytes(gzip.compress(b"%PDF-1.5\n..."))
    assert ids([*source(tmp_path).read(nomain), *source(tmp_path).read(pdf)]) == [
        ("arxiv/5", "no_tex_source"), ("arxiv/6", "no_tex_source")]


def test_too_large_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "7.gz"
    path.write_bytes(gzip.compress(b"\\documentclass{article}\\begin{document}" + b"x " * 5000
                                   + b"\\end{document}"))
    item = next(iter(source(tmp_path, max_chars=1000).read(path)))
    assert isinstance(item, Dropped) and item.reason == "too_large"


@pytest.mark.parametrize("latex, text", [
    ("\\section{Intro}Hello \\emph{world}~\\cite{x}.", "Intro\n\nHello world."),
    ("\\begin{equation}E=mc^2\\label{eq:1}\\end{equation}", "$$ E=mc^2 $$"),
    ("\\begin{figure}\\includegraphics{a.png}\\caption{A cap.}\\end{figure}", "A cap."),
    ("\\begin{thebibliography}{9}\\bibitem{a} Ref.\\end{thebibliography}Done", "Done"),
    ("See \\href{http://x.org}{the site} and \\url{http://y.org}.", "See the site and http://y.org."),
])
def test_latex_to_text_table(latex: str, text: str) -> None:
    assert latex_to_text(latex) == text


def test_listing_and_options(tmp_path: Path) -> None:
    files = source(tmp_path, ids=["1907.10121", "hep-th/9901001"]).list_files()
    assert [(f.url, f.name) for f in files] == [
        ("https://arxiv.org/e-print/1907.10121", "1907.10121.gz"),
        ("https://arxiv.org/e-print/hep-th/9901001", "hep-th9901001.gz")]
    with pytest.raises(ConfigError, match=r"options\.ids.*requester pays"):
        source(tmp_path).list_files()
    with pytest.raises(ConfigError, match=r"options\.ids"):
        source(tmp_path, ids="1907.10121")
    with pytest.raises(ConfigError, match=r"options\.max_chars"):
        source(tmp_path, max_chars=0)


def test_pickle_round_trip(tmp_path: Path) -> None:
    src = pickle.loads(pickle.dumps(source(tmp_path, ids=["1907.10121"])))
    path = tmp_path / "8.gz"
    path.write_bytes(gzip.compress(b"\\documentclass{article}\\begin{document}Hi.\\end{document}"))
    assert [d.text for d in src.read(path)] == ["Hi.\n"]
