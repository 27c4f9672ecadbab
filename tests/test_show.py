"""`pile show`: the sampled build's documents in the terminal, through the CLI entry point
(plain into a pipe, paged through $PAGER on a terminal, one-line errors)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from pile.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_show_prints_the_kept_samples_of_every_source(sampled_build, capsys):
    cfg, _result, _planted = sampled_build
    assert main(["show", str(cfg.out_dir), "-n", "2"]) == 0
    out = capsys.readouterr().out
    heads = [line for line in out.splitlines() if line.startswith("──")]
    assert len([h for h in heads if " wiki · kept · " in h]) == 2
    assert len([h for h in heads if " plays · kept · " in h]) == 2
    for source in ("wiki", "plays"):  # the sampled texts themselves, in their order
        lines = (cfg.out_dir / "samples" / "sources" / f"{source}.jsonl").read_text().splitlines()
        kept = [json.loads(x) for x in lines if '"kind": "kept"' in x][:2]
        assert all(f"· {r['id']} ·" in out and r["text"] in out for r in kept)


def test_show_dropped_by_reason_with_the_rules_numbers(sampled_build, capsys):
    cfg, _result, planted = sampled_build
    assert main(["show", str(cfg.out_dir), "--dropped", "too_short"]) == 0
    out = capsys.readouterr().out
    assert "length_v1:too_short" in out and "numbers: chars=17, min_chars=200, max_chars=50000000" in out
    assert "too short to keep" in out
    assert main(["show", str(cfg.out_dir), "--source", "wiki", "--dropped", "dedup_v1"]) == 0
    out = capsys.readouterr().out
    assert "dedup_v1:exact_duplicate" in out and "dedup_v1:near_duplicate" in out and "duplicate_of=" in out
    assert planted["email"] not in out and "<EMAIL>" in out  # sampled before PII, scrubbed since


def test_show_duplicates_as_a_word_diff_and_pii_passages(sampled_build, capsys):
    cfg, _result, planted = sampled_build
    assert main(["show", str(cfg.out_dir), "--duplicates", "-n", "6"]) == 0
    out = capsys.readouterr().out
    assert out.count("estimated Jaccard") == 4 and "kept:    plays/" in out and "removed: wiki/" in out
    assert "[-" in out  # the near copies lack the kept ones' last two words
    assert main(["show", str(cfg.out_dir), "--pii"]) == 0
    out = capsys.readouterr().out
    assert "<CREDIT_CARD>" in out and planted["card"] not in out
    assert main(["show", str(cfg.out_dir), "--source", "plays", "--pii"]) == 0
    assert capsys.readouterr().out == "no pii samples of plays\n"


def test_show_errors_are_one_line(sampled_build, capsys, tmp_path):
    cfg, _result, _planted = sampled_build
    for args, code, message in [
        (["--dropped", "nope"], 2, "--dropped: no sample dropped as 'nope'; reasons sampled: dedup_v1:exact_duplicate"),
        (["--source", "nope"], 2, "--source: no samples of 'nope'; the build has plays, wiki"),
        (["-n", "0"], 2, "-n: must be >= 1"),
        (["--pii", "--duplicates"], 2, "choose one"),
    ]:
        assert main(["show", str(cfg.out_dir), *args]) == code
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (args, err)
    assert main(["show", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no samples/sources/*.jsonl" in err


def test_show_on_a_terminal_goes_through_the_pager(sampled_build, tmp_path):
    cfg, _result, _planted = sampled_build
    paged = tmp_path / "paged.txt"
    leader, follower = pty.openpty()
    env = {**os.environ, "PAGER": f"cat > {paged}", "TERM": "xterm",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("MANPAGER", None)
    try:
        proc = subprocess.run([sys.executable, "-m", "pile", "show", str(cfg.out_dir), "--dropped", "all"],
                              stdin=follower, stdout=follower, stderr=subprocess.PIPE, env=env, timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 0, proc.stderr
    text = paged.read_text()
    assert "langid_v1:language:de" in text and "numbers: " in text
