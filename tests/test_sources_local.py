"""The embedded default sources: the Python standard library and the system documentation."""

from __future__ import annotations

import gzip
import pickle
import sysconfig
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.sources import make_source
from pile.sources.local import troff_to_text

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def test_python_source_reads_the_stdlib_in_a_stable_spread_order(tmp_path):
    src = make_source(SourceConfig(name="py", kind="python"), tmp_path)
    inputs = src.inputs()
    assert len(inputs) > 500
    assert all("site-packages" not in p.parts for p in inputs)
    assert inputs == src.inputs()  # deterministic
    assert inputs != sorted(inputs)  # spread, so a size cap samples the whole tree
    doc = next(d for d in src.read(STDLIB / "json" / "__init__.py"))
    assert isinstance(doc, Document)
    assert doc.id == f"py/{STDLIB.name}/json/__init__.py"
    assert doc.meta["pile_set_name"] == "Python stdlib" and "JSON" in doc.text


def test_the_tree_listing_carries_each_files_own_stat_and_plans_as_the_paths_do(tmp_path):
    """A tree source's `listing` is its inputs, in the same order, each with the size and
    mtime `os.stat` gives (the walk's one stat, which the plan takes as it is); a file
    above the size limit is left out; the plan from the listing equals the plan from the
    paths, capped or not."""
    import os

    from pile.phases.plan import plan_source
    from pile.sources import local

    root = tmp_path / "tree"
    (root / "a" / "b").mkdir(parents=True)
    for i, text in enumerate(["alpha " * 400, "beta " * 9000, "gamma\n" * 50, "delta " * 3000]):
        (root / ("a/b" if i % 2 else "a") / f"f{i}.txt").write_text(text)
    (root / "big.txt").write_bytes(b"x" * (local._MAX_FILE_BYTES + 1))
    (root / "a" / "link.txt").symlink_to(root / "a" / "f0.txt")
    src = make_source(SourceConfig(name="docs", kind="python", paths=[str(root)]), tmp_path)
    listing = src.listing()
    assert [Path(f.path) for f in listing] == src.inputs() and len(listing) == 4
    for f in listing:
        st = os.stat(f.path)
        assert (f.size, f.mtime_ns) == (st.st_size, st.st_mtime_ns)
    for cap in (None, 30_000):
        by_listing = plan_source(src, listing, 20_000, cap, min_units=4)
        by_paths = plan_source(src, src.inputs(), 20_000, cap, min_units=4)
        assert by_listing == by_paths and len(by_listing.units) >= 2


def test_source_pickles(tmp_path):
    src = make_source(SourceConfig(name="py", kind="python"), tmp_path)
    clone = pickle.loads(pickle.dumps(src))
    assert clone.inputs()[:5] == src.inputs()[:5]


@pytest.mark.parametrize("troff, expected, absent", [
    ('.TH LS 1\n.SH NAME\nls \\- list directory contents\n', "NAME\n\nls - list directory contents", ".TH"),
    (".SH DESCRIPTION\n.PP\nSort by \\fB\\-\\-sort\\fR.\n", "Sort by --sort.", "\\fB"),
    ('.\\" a comment\n.B bold words\n', "bold words", "comment"),
    (".TP\n\\fB\\-a\\fR, \\fB\\-\\-all\\fR\ndo not ignore\n", "-a, --all\ndo not ignore", ".TP"),
    ("Quote \\(lqit\\(rq and \\(em dash\\(co\n", "Quote \u201cit\u201d and \u2014 dash\u00a9", "\\("),
    (".Sh NAME\n.Nm ssh\n.Nd remote login\n", "NAME\n\nssh\nremote login", ".Nm"),
])
def test_troff_rendering(troff, expected, absent):
    text = troff_to_text(troff)
    assert expected in text
    assert absent not in text


def test_system_docs_renders_real_manual_pages(tmp_path):
    man = sorted(Path("/usr/share/man/man1").glob("*.1.gz"))
    assert man, "this kind of machine ships manual pages"
    root = tmp_path / "man" / "man1"
    root.mkdir(parents=True)
    for p in man[:20]:
        (root / p.name).write_bytes(p.read_bytes())
    (root / "broken.1.gz").write_bytes(gzip.compress(b".TH X 1\n.SH NAME\nx\n")[:-12])
    src = make_source(SourceConfig(name="docs", kind="system_docs", paths=(str(tmp_path / "man"),)), tmp_path)
    files = src.inputs()
    assert len(files) == 21
    docs = []
    errors = []
    for f in files:
        try:
            docs.extend(d for d in src.read(f) if isinstance(d, Document))
        except Exception as exc:  # noqa: BLE001 - the broken file must raise SourceError
            errors.append(type(exc).__name__)
    assert errors == ["SourceError"]
    assert len(docs) == 20
    for d in docs:
        assert d.meta["format"] == "man"
        assert "\\fB" not in d.text and "\\fR" not in d.text and "\n.SH" not in d.text and "NAME" in d.text
