"""DM Mathematics: the four real module files packed as DeepMind's tarball layout at test
time, both chunking rules, damaged input, and the download through the real downloader
(published sha256/size verified) from a loopback server."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.dm_mathematics import (DATASET_SHA256, DATASET_URL, DmMathematicsSource,
                                         chunk_pile_8194, chunk_qa_pairs)
from pile.sources.download import Downloader

ROOT = "samples/dm_mathematics/mathematics_dataset-v1.0"
SPLITS = ("train-easy", "train-medium", "train-hard", "interpolate")
MODULE = "algebra__linear_1d"


def source(tmp_path: Path, **kwargs) -> DmMathematicsSource:
    options = kwargs.pop("options", {})
    return make_source(SourceConfig(name="dm_mathematics", kind="dm_mathematics",
                                    options=options, **kwargs), tmp_path / "raw")


def sample(shared_data: Path, split: str) -> bytes:
    return (shared_data / ROOT / split / f"{MODULE}.txt").read_bytes()


def tarball(shared_data: Path, path: Path, extra: dict[str, bytes] | None = None) -> Path:
    """``mathematics_dataset-v1.0.tar.gz`` with the four real files where DeepMind puts them."""
    members = {f"mathematics_dataset-v1.0/{s}/{MODULE}.txt": sample(shared_data, s) for s in SPLITS}
    members.update(extra or {})
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def pairs_of(data: bytes) -> list[str]:
    lines = data.decode("utf-8").splitlines(keepends=True)
    return [lines[i] + lines[i + 1] for i in range(0, len(lines), 2)]


def docs(items: list) -> list[Document]:
    return [i for i in items if isinstance(i, Document)]


def test_training_splits_only_one_document_per_small_module(shared_data: Path, tmp_path: Path) -> None:
    path = tarball(shared_data, tmp_path / "mathematics_dataset-v1.0.tar.gz")
    items = list(source(tmp_path).read(path))
    assert [i.id for i in items] == [f"dm_mathematics/{s}/{MODULE}:0" for s in SPLITS[:3]]
    for doc, split in zip(items, SPLITS[:3]):
        assert doc.text == sample(shared_data, split).decode("utf-8")  # 4 pairs at most: one chunk
        assert doc.meta == {"pile_set_name": "DM Mathematics", "chunk": 0, "split": split,
                            "module": MODULE}
    # interpolate is a test split: not read
    assert "Solve -282*d + 929 - 178 = -1223 for d." not in "".join(d.text for d in items)


def test_qa_pairs_never_separate_a_question_from_its_answer(shared_data: Path, tmp_path: Path) -> None:
    data = sample(shared_data, "train-hard")
    pairs = pairs_of(data)
    size = len(pairs[0]) + len(pairs[1])  # room for two pairs of the first kind
    path = tarball(shared_data, tmp_path / "t.tar.gz")
    items = [d for d in docs(list(source(tmp_path, options={"chunk_chars": size}).read(path)))
             if d.meta["split"] == "train-hard"]
    assert "".join(d.text for d in items) == data.decode("utf-8")
    for doc in items:
        lines = doc.text.splitlines(keepends=True)
        assert len(lines) % 2 == 0
        assert all(p in pairs for p in (lines[i] + lines[i + 1] for i in range(0, len(lines), 2)))
        assert len(doc.text) <= size or len(lines) == 2
    assert items[0].text == pairs[0] + pairs[1]


def test_pile_8194_cuts_fixed_slices_mid_line(shared_data: Path, tmp_path: Path) -> None:
    data = sample(shared_data, "train-hard").decode("utf-8")
    path = tarball(shared_data, tmp_path / "t.tar.gz")
    src = source(tmp_path, options={"chunking": "pile_8194", "chunk_chars": 50})
    items = [d for d in docs(list(src.read(path))) if d.meta["split"] == "train-hard"]
    assert [d.text for d in items] == [data[i:i + 50] for i in range(0, len(data), 50)]
    assert any(not d.text.endswith("\n") for d in items[:-1])  # the cut falls inside lines
    # the default size is the Pile's 8,194 characters
    text = "".join(f"Solve {i}*x = {i} for x.\n1\n" for i in range(1, 2000))
    assert [len(c) for c in chunk_pile_8194(iter(text.splitlines(keepends=True)), 8194)] == \
        [8194] * (len(text) // 8194) + [len(text) % 8194]
    qa = list(chunk_qa_pairs(iter(pairs_of(text.encode())), 8194))
    assert "".join(qa) == text and all(len(c) <= 8194 and c.endswith("\n") for c in qa)


def test_a_loose_module_file_is_read_with_its_split(shared_data: Path, tmp_path: Path) -> None:
    src = source(tmp_path, paths=(str(shared_data / ROOT),), options={"splits": ["interpolate"]})
    [path] = [p for p in src.inputs() if "interpolate" in p.parts]
    [doc] = list(src.read(path))
    assert doc.id == f"dm_mathematics/interpolate/{MODULE}:0"
    assert doc.text == sample(shared_data, "interpolate").decode("utf-8")


def test_damaged_input(shared_data: Path, tmp_path: Path) -> None:
    # A module whose last question lost its answer, and one that is not UTF-8.
    odd = sample(shared_data, "train-hard") + b"Solve 2*x = 4 for x.\n"
    bad = b"Solve 3*y = 9 for y.\n3\nSolve \xff = 1 for z.\n1\n"
    path = tarball(shared_data, tmp_path / "t.tar.gz", {
        f"mathematics_dataset-v1.0/train-hard/{MODULE}.txt": odd,
        "mathematics_dataset-v1.0/train-easy/numbers__place_value.txt": bad})
    items = list(source(tmp_path).read(path))
    dropped = [(i.doc.id, i.reason) for i in items if not isinstance(i, Document)]
    assert dropped == [(f"dm_mathematics/train-hard/{MODULE}:1", "unpaired_question"),
                       ("dm_mathematics/train-easy/numbers__place_value:0", "invalid_utf8")]
    hard = [d for d in docs(items) if d.meta["split"] == "train-hard"]
    assert [d.text for d in hard] == [sample(shared_data, "train-hard").decode()]
    # A truncated tarball fails the file after what was read before the damage.
    whole = tarball(shared_data, tmp_path / "w.tar.gz").read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SourceError, match="cut.tar.gz"):
        list(source(tmp_path).read(cut))


def test_download_verifies_the_published_checksum(shared_data: Path, tmp_path: Path,
                                                  http_folder) -> None:
    served = tmp_path / "served" / "mathematics-dataset"
    served.mkdir(parents=True)
    tarball(shared_data, served / "mathematics_dataset-v1.0.tar.gz")
    server = http_folder(tmp_path / "served")
    rewrite = {"https://storage.googleapis.com/": server.url + "/"}
    dl = Downloader(rewrites=rewrite, progress=False, retries=0, delays={})
    # The default listing carries DeepMind's size and sha256: our small tarball is refused.
    src = source(tmp_path)
    [failed] = dl.fetch(src)
    assert failed.status == "failed" and "size mismatch: expected 2333082954" in failed.error
    assert src.list_files()[0].checksum == f"sha256:{DATASET_SHA256}" and src.inputs() == []
    # The same URL named explicitly (no published checksum) downloads and reads.
    src = source(tmp_path, urls=(DATASET_URL,))
    [ok] = dl.fetch(src)
    assert ok.status == "downloaded" and server.hits[-1].endswith("mathematics_dataset-v1.0.tar.gz")
    items = [i for p in src.inputs() for i in src.read(p)]
    assert [i.id for i in items] == [f"dm_mathematics/{s}/{MODULE}:0" for s in SPLITS[:3]]


def test_options_and_pickle(shared_data: Path, tmp_path: Path) -> None:
    for options, field in [({"chunking": "lines"}, "chunking"), ({"chunk_chars": 0}, "chunk_chars"),
                           ({"splits": []}, "splits"), ({"bogus": 1}, "bogus")]:
        with pytest.raises(ConfigError, match=rf"options\.{field}"):
            source(tmp_path, options=options)
    path = tarball(shared_data, tmp_path / "t.tar.gz")
    src = pickle.loads(pickle.dumps(source(tmp_path)))
    assert len(list(src.read(path))) == 3
