"""The pii_v1 stage inside `pile build` (in-process executor), and `pile validate`
failing on a card number planted into an output file."""

from __future__ import annotations

import json
import random

import pytest
import zstandard

from pile.build import Build
from pile.executor import LocalExecutor
from pii_evalset import format_card, generate_card
from pile.validate import validate_build


@pytest.fixture
def mail_source(tmp_path, shared_data):
    """Real Enron bodies, some with a planted card; every value planted is returned."""
    import mailbox

    bodies = []
    for path in sorted((shared_data / "samples" / "enron").glob("*.mbox")):
        bodies += [m.get_payload() for m in mailbox.mbox(str(path)) if isinstance(m.get_payload(), str)]
    rng = random.Random(5)
    cards = []
    lines = []
    for i, body in enumerate(bodies[:60]):
        if i % 6 == 0:
            card = format_card(generate_card(rng, rng.choice(["visa", "amex", "mastercard"])),
                               rng.choice(["", " ", "-", "."]))
            cards.append(card)
            body = f"{body}\nPlease bill card {card} for the tickets.\n"
        lines.append(json.dumps({"text": body, "meta": {"n": i}}))
    root = tmp_path / "in"
    root.mkdir()
    (root / "mail.jsonl").write_text("\n".join(lines) + "\n")
    return root, cards


def test_build_scrubs_audits_counts_and_validates(mail_source, build_config):
    root, cards = mail_source
    cfg = build_config([{"name": "mail", "kind": "files", "paths": [str(root)]}],
                       clean={"enabled": False}, dedup={"enabled": False},
                       pii={"entities": ["CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER"]})
    Build(cfg, LocalExecutor()).run()
    out = cfg.out_dir
    docs = []
    for path in sorted((out / "docs" / "mail").glob("*.jsonl.zst")):
        raw = zstandard.ZstdDecompressor().stream_reader(path.open("rb")).read().decode()
        docs += [json.loads(line) for line in raw.splitlines()]
    text = "\n".join(d["text"] for d in docs)
    assert text.count("<CREDIT_CARD>") == len(cards) == 10
    assert not any(card in text for card in cards)
    assert "<EMAIL>" in text and "@enron.com" not in text.lower()
    assert all("_pii_spans" not in d["meta"] for d in docs)
    assert sum(d["meta"].get("pii", {}).get("CREDIT_CARD", 0) for d in docs) == 10
    # the audit: ids, types and offsets, never a value
    audit = [json.loads(line) for line in (out / "pii" / "audit.jsonl").read_text().splitlines()]
    assert {tuple(sorted(a)) for a in audit} == {("end", "entity", "id", "start")}
    assert sum(a["entity"] == "CREDIT_CARD" for a in audit) == 10
    audit_text = (out / "pii" / "audit.jsonl").read_text()
    assert not any(card in audit_text for card in cards) and "@" not in audit_text
    stats = json.loads((out / "stats.json").read_text())
    assert "pii.CREDIT_CARD" in json.dumps(stats)
    problems, summary = validate_build(out)
    assert problems == [] and "no card number" in summary
    # `pile validate` on a terminal draws its bars, and not with --no-progress.
    assert "\u2501" in _on_a_terminal(["validate", str(out)])
    quiet = _on_a_terminal(["validate", str(out), "--no-progress"])
    assert "ok:" in quiet and "\u2501" not in quiet

    # A card that slipped into an output file fails validation, naming the document.
    target = next((out / "docs" / "mail").glob("*.jsonl.zst"))
    raw = zstandard.ZstdDecompressor().stream_reader(target.open("rb")).read().decode()
    first = json.loads(raw.splitlines()[0])
    first["text"] += " leaked 4532 0151 1283 0366"
    lines = [json.dumps(first)] + raw.splitlines()[1:]
    target.write_bytes(zstandard.ZstdCompressor().compress(("\n".join(lines) + "\n").encode()))
    problems, _ = validate_build(out)
    assert any(f"CREDIT_CARD left in document {first['meta']['id']}" in p for p in problems), problems


def _on_a_terminal(args: list[str]) -> str:
    """What `pile ARGS` prints with a pseudo-terminal as its stdout and stderr."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pile", *args], stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=300) == 0, out.decode("utf-8", "replace")[-2000:]
    return out.decode("utf-8", "replace")

