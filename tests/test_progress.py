"""Progress bars fit an 80-column terminal with every column whole (issue 16, point 7)."""

from __future__ import annotations

import io
import re

from rich.console import Console

from pile.progress import PhaseProgress


def test_a_phase_bar_fits_80_columns_with_its_times():
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=True, color_system=None)
    with PhaseProgress("dedup+pii+write", 12_345, True, console=console) as bar:
        for _ in range(3):
            bar.advance_unit(1_234_567, 10**8)
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", buf.getvalue())
    lines = [line for line in text.replace("\r", "\n").split("\n") if line.strip()]
    assert max(len(line) for line in lines) <= 80
    last = lines[-1]
    assert "…" not in last  # no column cut
    assert "3/12345" in last and "3,703,701 docs" in last
    assert re.search(r"\d:\d\d:\d\d \S+$", last)  # elapsed and remaining, both whole
