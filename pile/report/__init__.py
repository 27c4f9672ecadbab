"""The build's report: what a person reads and loads after a build.

- `outputs` (the driver): ``stats.json``, ``pii/audit.jsonl``, ``report.md``,
  ``manifest.json``, and the one worker task that draws the rest;
- `task` (a worker): the plots (`plots`), ``samples/`` (from the units' sample parts,
  `pile.samples`), ``report.html`` (`page`, `boundaries`) and the dataset card
  ``README.md`` (`card`);
- `table`: Table 1 as data, and ``report.md`` drawn from it.
"""

from pile.report.outputs import previous_result, source_summary, write_outputs

__all__ = ["previous_result", "source_summary", "write_outputs"]
