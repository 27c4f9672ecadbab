"""GitHub: the real ``samples/github/webvtt-py/`` tree (a shallow clone of glut23/webvtt-py),
packed at test time as the codeload ``.tar.gz`` of its commit, with its ``<name>-<ref>/``
prefix, served from loopback and fetched through the real downloader; also read as a
local clone. Licence detection runs on the real licence texts of the sample and of
/usr/share/common-licenses (Debian's copies) where the machine has them."""

from __future__ import annotations

import io
import pickle
import shutil
import tarfile
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.download import Downloader
from pile.sources.github import GithubSource, detect_license

TREE = "samples/github/webvtt-py"
REPO = "glut23/webvtt-py"
REF = "7d85ac90abadb3ce8597e23bc10ef873e17d69a5"  # the sample's commit (MANIFEST.md)


def source(tmp_path: Path, **kwargs) -> GithubSource:
    kwargs.setdefault("options", {"repos": [f"{REPO}@{REF}"]})
    return make_source(SourceConfig(name="github", kind="github", **kwargs), tmp_path / "raw")


def tree_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def codeload_tarball(dest: Path, files: dict[str, bytes], prefix: str) -> Path:
    """A tarball as codeload.github.com serves it: one ``<name>-<ref>/`` folder."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as tf:
        for rel, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{prefix}/{rel}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return dest


def expected_reasons(files: dict[str, bytes]) -> dict[str, str | None]:
    """The issue's rules, applied to the sample independently of the source's code."""
    blacklisted = {"gitignore", "csv", "png", "zip", "lock", "log"}
    out: dict[str, str | None] = {}
    for rel, data in files.items():
        parts = rel.split("/")
        if any(p.startswith(".") for p in parts):
            out[rel] = "dotfile"
        elif parts[-1].startswith("LICENSE"):
            out[rel] = "license_file"
        elif rel.rsplit(".", 1)[-1] in blacklisted:
            out[rel] = "blacklisted_extension"
        elif not data:
            out[rel] = "empty"
        else:
            text = data.decode("utf-8")
            lines = text.count("\n") + (not text.endswith("\n"))
            if len(text) >= 100_000:
                out[rel] = "too_large"
            elif sum(c.isdigit() for c in text) > 0.8 * len(text):
                out[rel] = "digits"
            elif len(text) > 200 * lines:
                out[rel] = "long_lines"
            else:
                out[rel] = None
    return out


@pytest.fixture()
def served(shared_data: Path, tmp_path: Path, http_folder):
    files = tree_files(shared_data / TREE)
    codeload_tarball(tmp_path / "served" / REPO / "tar.gz" / REF, files, f"webvtt-py-{REF}")
    server = http_folder(tmp_path / "served")
    return files, server


def test_codeload_tarball_through_the_downloader(served, tmp_path: Path) -> None:
    files, server = served
    src = source(tmp_path)
    dl = Downloader(rewrites={"https://codeload.github.com/": server.url + "/"}, progress=False,
                    retries=0, delays={})
    (result,) = dl.fetch(src)
    assert result.ok and server.hits == [f"/{REPO}/tar.gz/{REF}"]
    out = [o for p in src.inputs() for o in src.read(p)]
    assert len(out) == len(files)  # every file is a document or a counted drop
    expected = expected_reasons(files)
    got = {o.doc.meta["path"] if hasattr(o, "reason") else o.meta["path"]:
           getattr(o, "reason", None) for o in out}
    assert got == expected
    # .gitignore, .travis.yml, LICENSE; a subtitle of timestamps; a 100 kB subtitle
    assert {"dotfile", "license_file", "digits", "too_large"} <= set(got.values())
    docs = [o for o in out if not hasattr(o, "reason")]
    for doc in docs:
        assert doc.text == files[doc.meta["path"]].decode("utf-8")
        assert doc.id == f"github/{REPO}/{doc.meta['path']}"
        assert doc.meta["repo"] == REPO and doc.meta["ref"] == REF
        assert doc.meta["license"] == "MIT" and doc.meta["pile_set_name"] == "Github"
    languages = {d.meta["path"]: d.meta["language"] for d in docs}
    assert languages["webvtt/parsers.py"] == "Python" and languages["README.rst"] == "reStructuredText"


def test_a_local_clone_reads_like_its_tarball(served, shared_data: Path, tmp_path: Path) -> None:
    files, _ = served
    clone = tmp_path / "clones" / "webvtt-py"
    shutil.copytree(shared_data / TREE, clone)
    (clone / ".git").mkdir()
    (clone / ".git" / "config").write_text(
        '[remote "origin"]\n\turl = https://github.com/glut23/webvtt-py.git\n')
    (clone / ".git" / "HEAD").write_text(f"{REF}\n")
    src = source(tmp_path, paths=(str(clone),), options={})
    inputs = src.inputs()
    assert len(inputs) == len(files)  # .git/ is not part of the tree
    out = [o for p in inputs for o in src.read(p)]
    docs = {o.meta["path"]: o for o in out if not hasattr(o, "reason")}
    assert set(docs) == {rel for rel, why in expected_reasons(files).items() if why is None}
    assert all(d.meta["repo"] == REPO and d.meta["license"] == "MIT" for d in docs.values())


def test_every_filter_counts_its_drops(shared_data: Path, tmp_path: Path) -> None:
    files = tree_files(shared_data / TREE)
    prose = files["README.rst"].decode()
    planted = {
        "node_modules/left-pad/index.js": files["webvtt/cli.py"],
        "vendor/lib/x.py": files["webvtt/cli.py"],
        "static/app.min.js": files["webvtt/cli.py"],
        "data/table.csv": b"a,b\n1,2\n",
        "img/logo.bin": b"\x00\x01\x02",
        "bin/tool": b"ELF\x00\x00" + files["webvtt/cli.py"],
        "latin1.txt": "café".encode("latin-1"),
        "numbers.txt": b"1234567890\n" * 50,
        "minified.js": ("x=1;" * 100).encode(),
        "huge.txt": (prose * (100_000 // len(prose) + 1)).encode(),
        "LICENSE-THIRD-PARTY": files["LICENSE"],
    }
    tarball = codeload_tarball(tmp_path / "in" / "webvtt-py-main.tar.gz", {**files, **planted},
                               "webvtt-py-main")
    src = source(tmp_path, paths=(str(tarball),), options={})
    out = list(src.read(tarball))
    reasons = {o.doc.meta["path"]: o.reason for o in out if hasattr(o, "reason")}
    assert {k: reasons[k] for k in planted} == {
        "node_modules/left-pad/index.js": "node_modules", "vendor/lib/x.py": "vendored",
        "static/app.min.js": "vendored", "data/table.csv": "blacklisted_extension",
        "img/logo.bin": "blacklisted_extension", "bin/tool": "binary", "latin1.txt": "not_text",
        "numbers.txt": "digits", "minified.js": "long_lines", "huge.txt": "too_large",
        "LICENSE-THIRD-PARTY": "license_file"}
    kept = [o for o in out if not hasattr(o, "reason")]
    assert kept and all(o.meta["repo"] == "webvtt-py" and o.meta["ref"] == "main" for o in kept)

    # a licence allow-list drops every file of a repository outside it
    strict = source(tmp_path, paths=(str(tarball),), options={"licenses": ["Apache-2.0"]})
    assert {getattr(o, "reason", None) for o in strict.read(tarball)} >= {"license_not_allowed"}
    assert not [o for o in strict.read(tarball) if not hasattr(o, "reason")]


def test_a_truncated_tarball_fails_the_file(served, tmp_path: Path) -> None:
    files, _ = served
    whole = tmp_path / "served" / REPO / "tar.gz" / REF
    cut = tmp_path / "in" / "webvtt-py-cut.tar.gz"
    cut.parent.mkdir(parents=True, exist_ok=True)
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    src = source(tmp_path, paths=(str(cut),), options={})
    with pytest.raises(SourceError, match="webvtt-py-cut.tar.gz"):
        list(src.read(cut))


@pytest.mark.parametrize("name,spdx", [
    ("Apache-2.0", "Apache-2.0"), ("GPL-2", "GPL-2.0"), ("GPL-3", "GPL-3.0"),
    ("LGPL-2.1", "LGPL-2.1"), ("LGPL-3", "LGPL-3.0"), ("MPL-2.0", "MPL-2.0"),
    ("BSD", "BSD-3-Clause"), ("CC0-1.0", "CC0-1.0"), ("Artistic", "NOASSERTION")])
def test_spdx_detection_on_real_licence_texts(name: str, spdx: str) -> None:
    path = Path("/usr/share/common-licenses") / name
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine")
    assert detect_license(path.read_text("utf-8", "replace")) == spdx


def test_repo_lists_options_and_pickle(shared_data: Path, tmp_path: Path) -> None:
    assert detect_license((shared_data / TREE / "LICENSE").read_text()) == "MIT"
    listing = tmp_path / "github_repositories.csv"
    listing.write_text("name,stars,language\nglut23/webvtt-py,170,Python\n"
                       "psf/requests,51000,Python\nsomeone/tiny,3,C\n")
    src = source(tmp_path, options={"repo_list": str(listing), "min_stars": 100,
                                    "repos": ["psf/requests@v2.31.0"]})
    assert [f.url for f in src.list_files()] == [
        "https://codeload.github.com/psf/requests/tar.gz/v2.31.0",
        "https://codeload.github.com/glut23/webvtt-py/tar.gz/HEAD",
        "https://codeload.github.com/psf/requests/tar.gz/HEAD"]
    with pytest.raises(ConfigError, match="never published"):
        source(tmp_path, options={})
    with pytest.raises(ConfigError, match=r"repos\[0\]"):
        source(tmp_path, options={"repos": ["not a repo"]})
    again = pickle.loads(pickle.dumps(src))
    assert again.list_files() == src.list_files()


def test_a_folder_of_tarballs_is_read_as_repositories(served, tmp_path: Path) -> None:
    files, _ = served
    folder = tmp_path / "tarballs"
    folder.mkdir()
    shutil.copyfile(tmp_path / "served" / REPO / "tar.gz" / REF, folder / f"webvtt-py-{REF}.tar.gz")
    src = source(tmp_path, paths=(str(folder),), options={})
    (path,) = src.inputs()
    out = list(src.read(path))
    assert len(out) == len(files)
    kept = [o for o in out if not hasattr(o, "reason")]
    assert kept and {(d.meta["repo"], d.meta["ref"]) for d in kept} == {("webvtt-py", REF)}


def test_escaping_members_are_refused(shared_data: Path, tmp_path: Path) -> None:
    files = tree_files(shared_data / TREE)
    hostile = tmp_path / "in" / "webvtt-py-main.tar.gz"
    hostile.parent.mkdir(parents=True)
    with tarfile.open(hostile, "w:gz") as tf:
        for rel, data in [("README.rst", files["README.rst"]), ("../../etc/cron.d/x", b"* * * * *")]:
            info = tarfile.TarInfo(f"webvtt-py-main/{rel}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    src = source(tmp_path, paths=(str(hostile),), options={})
    with pytest.raises(SourceError, match=r"\.\."):
        list(src.read(hostile))


def test_a_tarball_without_a_top_folder_keeps_every_file(shared_data: Path, tmp_path: Path) -> None:
    files = tree_files(shared_data / TREE)
    flat = tmp_path / "in" / "webvtt-py.tar.gz"
    flat.parent.mkdir(parents=True)
    with tarfile.open(flat, "w:gz") as tf:
        for rel, data in sorted(files.items()):
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    out = list(source(tmp_path, paths=(str(flat),), options={}).read(flat))
    paths = sorted(o.doc.meta["path"] if hasattr(o, "reason") else o.meta["path"] for o in out)
    assert paths == sorted(files)
    assert {o.meta["license"] for o in out if not hasattr(o, "reason")} == {"MIT"}


def test_meta_ref_is_the_commit_the_tarball_carries(shared_data: Path, tmp_path: Path,
                                                   http_folder) -> None:
    """codeload serves ``git archive`` output, whose pax global header's ``comment`` is
    the commit id: a repository fetched as HEAD is recorded by its commit."""
    files = {"webvtt/__init__.py": (shared_data / TREE / "webvtt/__init__.py").read_bytes()}
    dest = tmp_path / "served" / REPO / "tar.gz" / "HEAD"
    dest.parent.mkdir(parents=True)
    with tarfile.open(dest, "w:gz", format=tarfile.PAX_FORMAT, pax_headers={"comment": REF}) as tf:
        for rel, data in files.items():
            info = tarfile.TarInfo(f"webvtt-py-{REF[:7]}/{rel}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    server = http_folder(tmp_path / "served")
    src = source(tmp_path, options={"repos": [REPO]})
    dl = Downloader(rewrites={"https://codeload.github.com/": server.url + "/"}, progress=False,
                    retries=0, delays={})
    assert [r.status for r in dl.fetch(src)] == ["downloaded"]
    [doc] = [o for p in src.inputs() for o in src.read(p)]
    assert (doc.meta["ref"], doc.meta["ref_requested"]) == (REF, "HEAD")
