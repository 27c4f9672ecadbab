"""The build's phases: one module each, one contract (`engine.Phase`), one runner.

- `engine`: the `Phase` contract, `PhaseRunner` (skip / force / fingerprint / mark /
  account), markers and fingerprints;
- `context`: `BuildContext`, what every phase sees; `record`: the typed `BuildRecord`
  phases hand each other and the report;
- `plan`: units of work sized by bytes, independent of the number of workers;
- `work`: the tasks workers run; each writes its unit's own outputs;
- `download`, `clean`, `dedup`, `heldout`, `final`, `tokenize`, `mix`: the phases, in
  build order (`pile.build.PHASES`); `passes`: the context global passes run in.
"""
