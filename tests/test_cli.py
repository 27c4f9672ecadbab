"""The command line: help everywhere, one-line errors, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pile.cli import main, make_parser

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ["build", "download", "sources", "tokens", "validate", "show"]


def run(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "PILE_DEBUG"}
    return subprocess.run([sys.executable, "-m", "pile", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: pile " + command in capsys.readouterr().out


def test_every_command_is_documented_in_the_readme():
    readme = (REPO / "README.md").read_text()
    parser_commands = set(make_parser()._subparsers._group_actions[0].choices)
    assert parser_commands == set(COMMANDS)
    for command in COMMANDS:
        assert f"pile {command}" in readme, command


@pytest.mark.parametrize("args, pattern, code", [
    (["build", "--config", "/nonexistent.yaml"], r"^pile: error: --config: no such file", 2),
    (["build", "--set", "dedup.threshold=2"], r"^pile: error: dedup\.threshold: must be in \(0, 1\]", 2),
    (["build", "--set", "bogus=1"], r"^pile: error: bogus: unknown key", 2),
    (["build", "--source", "nope"], r"^pile: error: --source: no source named 'nope'", 2),
    (["build", "--workers", "many"], r"^pile: error: pile build: argument --workers", 2),
    (["frobnicate"], r"^pile: error: pile: argument command: invalid choice", 2),
    (["validate", "/nonexistent-build"], r"^pile: error: /nonexistent-build: no manifest\.json", 1),
])
def test_errors_are_one_line_without_traceback(args, pattern, code):
    proc = run(*args)
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert re.match(pattern, lines[0]), lines[0]
    assert "Traceback" not in proc.stderr


def test_missing_input_path_fails_before_any_work(tmp_path):
    cfg = tmp_path / "pile.yaml"
    cfg.write_text(f"out: {tmp_path / 'out'}\nsources:\n  - {{name: a, kind: files, paths: [{tmp_path / 'nope'}]}}\n")
    proc = run("build", "--config", str(cfg))
    assert proc.returncode == 2
    assert proc.stderr.startswith("pile: error: sources.a.paths[0]: no such file or folder")
    assert not (tmp_path / "out").exists()


def test_dry_run_prints_the_resolved_config():
    proc = run("build", "--dry-run", "--set", "dedup.threshold=0.7")
    assert proc.returncode == 0, proc.stderr
    assert "threshold: 0.7" in proc.stdout and "kind: python" in proc.stdout


def test_sources_lists_the_default_sources():
    proc = run("sources")
    assert proc.returncode == 0, proc.stderr
    assert "python_stdlib" in proc.stdout and "system_docs" in proc.stdout and "PSF-2.0" in proc.stdout


def _project(tmp_path: Path, tokenizer_text: str) -> Path:
    """A config in its own folder naming its inputs relative to that folder."""
    conf = tmp_path / "conf"
    (conf / "data").mkdir(parents=True)
    (conf / "data" / "a.txt").write_text("Some text of a document. " * 20)
    (conf / "tok.json").write_text(tokenizer_text)
    (conf / "pile.yaml").write_text(
        "out: out\nsources:\n  - {name: a, kind: files, paths: [data]}\n"
        "tokenizers:\n  - {name: t, path: tok.json}\n")
    return conf / "pile.yaml"


def _run_elsewhere(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m pile` from another working directory (this checkout's pile first)."""
    env = {k: v for k, v in os.environ.items() if k != "PILE_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    cwd = tmp_path / "elsewhere"
    cwd.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "pile", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_dry_run_and_build_fail_on_a_tokenizer_file_that_is_not_json(tmp_path):
    cfg = _project(tmp_path, "this is not JSON\n")
    tok = tmp_path / "conf" / "tok.json"
    for args in (["--dry-run"], []):
        proc = _run_elsewhere(tmp_path, "build", "--config", str(cfg), "--no-progress", *args)
        assert proc.returncode == 2, proc.stderr
        line, = proc.stderr.strip().splitlines()
        assert line.startswith(f"pile: error: tokenizers.t.path: {tok} is not a loadable tokenizer.json")
    assert not (tmp_path / "conf" / "out").exists()  # failed before any work


def test_dry_run_fails_on_an_unknown_source_and_resolves_paths_against_the_config(tmp_path, shared_data):
    import shutil

    cfg = _project(tmp_path, "")
    shutil.copyfile(shared_data / "tokenizers" / "gpt2" / "tokenizer.json", tmp_path / "conf" / "tok.json")
    proc = _run_elsewhere(tmp_path, "build", "--config", str(cfg), "--dry-run", "--source", "wiki")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "pile: error: --source: no source named 'wiki'; configured: a"
    proc = _run_elsewhere(tmp_path, "build", "--config", str(cfg), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    printed = yaml.safe_load(proc.stdout)
    assert printed["out"] == str(tmp_path / "conf" / "out")
    assert printed["sources"][0]["paths"] == [str(tmp_path / "conf" / "data")]
    assert printed["tokenizers"][0]["path"] == str(tmp_path / "conf" / "tok.json")


def test_sources_shows_the_terms_a_kind_must_accept(tmp_path):
    cfg = tmp_path / "pile.yaml"
    cfg.write_text(f"out: {tmp_path / 'out'}\nsources:\n"
                   "  - {name: hn, kind: hackernews, options: {list: topstories}}\n"
                   "  - {name: hn_ok, kind: hackernews, accept_terms: true, options: {ids: [8863]}}\n"
                   "  - {name: dm, kind: dm_mathematics}\n")
    proc = run("sources", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    terms = [line for line in proc.stdout.splitlines() if line.startswith("terms of ")]
    assert len(terms) == 2 and "Y Combinator" in terms[0]
    assert terms[0].startswith("terms of hn: ") and terms[0].endswith("[not accepted]")
    assert terms[1].startswith("terms of hn_ok: ") and terms[1].endswith("[accepted]")
