"""Ubuntu IRC source: system lines and timestamps removed from the real daily log, day
and week periods (a week assembled in tmp_path from the sample), bad input."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.ubuntu_irc import UbuntuIrcSource, clean_log, parse_log_path
from pile.stage import Dropped

SAMPLE = "samples/ubuntu_irc/2025-11-26_ubuntu.txt"


def source(tmp_path: Path, paths: tuple[str, ...] = (), **options) -> UbuntuIrcSource:
    cfg = SourceConfig(name="ubuntu_irc", kind="ubuntu_irc", paths=paths, options=options)
    return make_source(cfg, tmp_path)


def test_real_daily_log(shared_data: Path, tmp_path: Path) -> None:
    items = list(source(tmp_path).read(shared_data / SAMPLE))
    assert len(items) == 1 and isinstance(items[0], Document)
    doc = items[0]
    assert doc.id == "ubuntu_irc/ubuntu/2025-11-26"
    assert doc.meta["pile_set_name"] == "Ubuntu IRC" and doc.meta["channel"] == "ubuntu"
    assert doc.meta["system_lines_dropped"] == sum(
        1 for line in (shared_data / SAMPLE).read_text().splitlines() if line.startswith("=== "))
    lines = doc.text.splitlines()
    assert not any(line.startswith("===") for line in lines)
    assert not any(line.startswith("[") and line[3:4] == ":" for line in lines)  # no [HH:MM]
    assert lines[0] == "<ghostworker> bonjour"
    assert "<mgedmin> journalctl doesn't show anything suspicious" in lines
    assert "is now known as" not in doc.text


@pytest.mark.parametrize("raw, kept, system", [
    (b"[10:00] <a> hi\n=== b is now known as c\n", ["<a> hi"], 1),
    (b"=== a [~a@host] has joined #ubuntu\n=== a has quit [Quit: bye]\n", [], 2),
    (b"[10:01] * a waves\r\n[10:02] -ubottu:#ubuntu- bug 1\r\n", ["* a waves", "-ubottu:#ubuntu- bug 1"], 0),
    (b"[10:03:04] <a> seconds too\n\n\n", ["<a> seconds too"], 0),
])
def test_clean_log_table(raw: bytes, kept: list[str], system: int) -> None:
    lines, n_system, n_invalid, _ = clean_log(raw)
    assert (lines, n_system, n_invalid) == (kept, system, 0)


@pytest.mark.parametrize("path, channel, day", [
    ("2025/11/26/#ubuntu.txt", "ubuntu", dt.date(2025, 11, 26)),
    ("x/2004/07/05/ubuntu-devel.txt", "ubuntu-devel", dt.date(2004, 7, 5)),
    ("2025-11-26_ubuntu.txt", "ubuntu", dt.date(2025, 11, 26)),
])
def test_parse_log_path(path: str, channel: str, day: dt.date) -> None:
    assert parse_log_path(Path(path)) == (channel, day)


@pytest.mark.parametrize("path", ["ubuntu.txt", "2025/13/40/#ubuntu.txt", "2025-02-30_x.txt"])
def test_bad_log_names_are_source_errors(tmp_path: Path, path: str) -> None:
    with pytest.raises(SourceError, match="expected a daily log"):
        parse_log_path(Path(path))


def test_week_period_joins_days_in_irclogs_layout(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / SAMPLE).read_bytes()
    root = tmp_path / "logs"
    for day in ("24", "26", "30"):  # Mon 24 and Wed 26 are week 48, Sun 30 too; Dec 1 is week 49
        (root / "2025" / "11" / day).mkdir(parents=True)
        (root / "2025" / "11" / day / "#ubuntu.txt").write_bytes(data)
    (root / "2025" / "12" / "01").mkdir(parents=True)
    (root / "2025" / "12" / "01" / "#ubuntu.txt").write_bytes(b"=== only joins\n")
    src = source(tmp_path, paths=(str(root),), period="week")
    inputs = src.inputs()
    assert [p.relative_to(root).as_posix() for p in inputs] == ["2025/11/24/#ubuntu.txt",
                                                                "2025/12/01/#ubuntu.txt"]
    docs = [item for path in src.inputs() for item in src.read(path)]
    assert [d.id if isinstance(d, Document) else d.doc.id for d in docs] == [
        "ubuntu_irc/ubuntu/2025-W48", "ubuntu_irc/ubuntu/2025-W49"]
    week = docs[0]
    assert week.text.startswith("2025-11-24\n<ghostworker> bonjour")
    assert "\n\n2025-11-26\n" in week.text and "\n\n2025-11-30\n" in week.text
    assert isinstance(docs[1], Dropped) and docs[1].reason == "no_messages"
    # reading a later day of the week directly gives nothing: its first day covers it
    assert list(src.read(root / "2025" / "11" / "26" / "#ubuntu.txt")) == []


def test_invalid_utf8(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / SAMPLE).read_bytes()
    few = tmp_path / "2025-11-26_ubuntu.txt"
    few.write_bytes(data.replace(b"bonjour", b"bonj\xffour"))
    doc = next(iter(source(tmp_path).read(few)))
    assert isinstance(doc, Document) and doc.meta["invalid_lines"] == 1 and "bonj" not in doc.text
    garbage = tmp_path / "2025-11-27_ubuntu.txt"
    garbage.write_bytes(b"".join(b"[10:00] <a> \xff\xfe%d\n" % i for i in range(20)))
    item = next(iter(source(tmp_path).read(garbage)))
    assert isinstance(item, Dropped) and item.reason == "invalid_utf8"


def test_listing_and_options(tmp_path: Path) -> None:
    files = source(tmp_path, channels=["ubuntu", "ubuntu-devel"], start="2020-08-31",
                   end="2020-09-01").list_files()
    assert [f.url for f in files] == [
        "https://irclogs.ubuntu.com/2020/08/31/%23ubuntu.txt",
        "https://irclogs.ubuntu.com/2020/08/31/%23ubuntu-devel.txt",
        "https://irclogs.ubuntu.com/2020/09/01/%23ubuntu.txt",
        "https://irclogs.ubuntu.com/2020/09/01/%23ubuntu-devel.txt"]
    assert files[0].name == "2020/08/31/ubuntu.txt"
    for options, field in [({"period": "month"}, "period"), ({"channels": ["#ubuntu"]}, "channels"),
                           ({"channels": []}, "channels"), ({"channels": ["*", "ubuntu"]}, "channels"),
                           ({"start": "2020-13-01"}, "start"),
                           ({"start": "2021-01-01", "end": "2020-01-01"}, "start")]:
        with pytest.raises(ConfigError, match=rf"options\.{field}"):
            source(tmp_path, **options)


def test_every_channel_two_step_listing(shared_data: Path, tmp_path: Path) -> None:
    src = source(tmp_path, channels=["*"], start="2025-11-26", end="2025-11-26")
    first = src.list_files()
    assert [(f.url, f.name) for f in first] == [("https://irclogs.ubuntu.com/2025/11/26/",
                                                 "_listing/2025-11-26.html")]
    index = tmp_path / "ubuntu_irc" / "_listing" / "2025-11-26.html"
    index.parent.mkdir(parents=True)
    index.write_text('<a href="%23ubuntu.txt">#ubuntu.txt</a> <a href="%23ubuntu-devel.txt">x</a>'
                     '<a href="ubuntu.txt">not a channel log</a> <a href="../">up</a>')
    second = src.list_files()
    assert [f.url for f in second[1:]] == ["https://irclogs.ubuntu.com/2025/11/26/%23ubuntu.txt",
                                           "https://irclogs.ubuntu.com/2025/11/26/%23ubuntu-devel.txt"]
    log = tmp_path / "ubuntu_irc" / "2025" / "11" / "26" / "ubuntu.txt"
    log.parent.mkdir(parents=True)
    log.write_bytes((shared_data / SAMPLE).read_bytes())
    assert src.inputs() == [log]  # the index page is not an input


def test_pickle_round_trip(shared_data: Path, tmp_path: Path) -> None:
    src = pickle.loads(pickle.dumps(source(tmp_path, period="week")))
    assert [d.id for d in src.read(shared_data / SAMPLE)] == ["ubuntu_irc/ubuntu/2025-W48"]
