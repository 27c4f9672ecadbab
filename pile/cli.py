"""The `pile` command line.

Every failure is one line on stderr and a non-zero exit: 2 for a bad config or usage,
1 for anything else; never a traceback (``PILE_DEBUG=1`` shows it, for bug reports).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

from pile.errors import ConfigError, PileError

EXIT_ERROR, EXIT_USAGE = 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting with a traceback-free 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}")


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", help="YAML config (default: the embedded offline corpus)")
    p.add_argument("--out", help="output folder (overrides `out` in the config)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. dedup.threshold=0.7 or sources.wiki.max_bytes=1e6")


def _fetch_args(p: argparse.ArgumentParser) -> None:
    """What `build` and `download` share about fetching upstream files."""
    p.add_argument("--mirror", action="append", default=[], metavar="FROM=TO",
                   help="rewrite upstream URLs starting with FROM onto TO (a mirror or a local folder)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _load(args: argparse.Namespace) -> Any:
    from pile.config import load_config

    overrides = list(args.overrides)
    if getattr(args, "out", None):
        overrides.append(f"out={args.out}")
    for attr, key in (("workers", "run.workers"), ("ray_address", "run.ray_address"),
                      ("executor", "run.executor")):
        value = getattr(args, attr, None)
        if value is not None:
            overrides.append(f"{key}={value}")
    if getattr(args, "no_progress", False):
        overrides.append("run.progress=false")
    return load_config(args.config, overrides)


def _preflight(cfg: Any, args: argparse.Namespace) -> Any:
    """Every check a build makes before its first unit of work, in the order it makes
    them: ``--source`` names and input paths (`Build.check`), then each vocabulary that
    exists before the corpus does (a tokenizer file that does not load fails here, not
    after cleaning and dedup). Returns the `Build`, not yet given an executor."""
    from pile.build import Build

    build = Build(cfg, executor=None, only=args.source,  # type: ignore[arg-type]
                  mirror_map=_mirrors(args.mirror))
    build.check()
    return build


def cmd_build(args: argparse.Namespace) -> int:
    cfg = _load(args)
    build = _preflight(cfg, args)
    if args.dry_run:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    from pile.build import summary_line
    from pile.runner import make_executor

    workers = cfg.run.workers or os.cpu_count() or 1
    executor = make_executor(cfg.run.executor, workers, cfg.run.ray_address)
    build.executor = executor
    try:
        result = build.run()
    finally:
        executor.close()
    print(summary_line(result))
    if args.source:
        print(f"rebuilt: {', '.join(result['rebuilt']) or 'nothing'}")
        print(f"reused:  {', '.join(result['reused']) or 'nothing'}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    cfg = _load(args)
    from pile.phases.download import download_all
    from pile.sources import make_source

    names = args.source or [s.name for s in cfg.sources]
    results = []
    for name in names:
        src = make_source(cfg.source(name), cfg.raw_dir)
        got = download_all(src, _mirrors(args.mirror), cfg.run.progress)
        if not got:
            print(f"{name}: nothing to download (local {src.kind} source)")
        results.extend(got)
    for line in results:
        print(line)
    failed = [r for r in results if not r.ok]
    if failed:
        raise PileError(f"{len(failed)} of {len(results)} file(s) failed to download (listed above)")
    return 0


def _mirrors(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--mirror {item}: expected FROM=TO")
        src, dst = item.split("=", 1)
        out[src] = dst
    return out


def cmd_sources(args: argparse.Namespace) -> int:
    cfg = _load(args)
    from pile.sources import make_source

    rows = []
    for scfg in cfg.sources:
        src = make_source(scfg, cfg.raw_dir)
        info = src.describe()
        info["epochs"] = scfg.epochs
        try:
            inputs = src.inputs()
            info["status"] = f"{len(inputs)} local file(s)" if inputs else "not downloaded"
        except PileError as exc:
            info["status"] = f"error: {exc}"
        if args.check_updates:
            from pile.sources.download import check_updates

            changed = check_updates(src)
            info["status"] += f"; {len(changed)} changed upstream" if changed else "; up to date"
        rows.append(info)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = ["name", "kind", "pile_set_name", "epochs", "license", "status", "upstream"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    for r in rows:  # terms are sentences: one line each under the table, not a column
        if r.get("terms"):
            print(f"terms of {r['name']}: {r['terms']}")
    return 0


def cmd_tokens(args: argparse.Namespace) -> int:
    from pile.tokenize.counts import format_counts, load_counts

    out = Path(args.out_dir or "build/pile")
    table = load_counts(out)
    print(format_counts(table, args.format), end="")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from pile.validate import validate_build

    out = Path(args.out_dir or "build/pile")
    problems, checked = validate_build(out, progress=not args.no_progress)
    if problems:
        for p in problems[:50]:
            print(f"FAIL {p}", file=sys.stderr)
        more = f" (+{len(problems) - 50} more)" if len(problems) > 50 else ""
        raise PileError(f"{out}: {len(problems)} problem(s) found{more}")
    print(f"ok: {checked}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from pile.show import show

    text = show(Path(args.out_dir or "build/pile"), args.source, args.dropped, args.duplicates, args.pii, args.n)
    if sys.stdout.isatty():  # paged ($PAGER, else less) on a terminal; plain into a pipe or file
        import pydoc

        pydoc.pager(text)
    else:
        print(text, end="")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pile", description="Build a Pile-style pretraining corpus.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("build", help="download, clean, deduplicate, scrub and tokenize",
                       description="Build the corpus end to end (or only --source NAME).")
    _config_args(p)
    p.add_argument("--source", action="append", metavar="NAME",
                   help="rebuild only this source (repeatable); the others are reused")
    p.add_argument("--workers", type=int, help="parallel workers (default: CPU count)")
    p.add_argument("--ray-address", help="join this Ray cluster instead of starting one")
    p.add_argument("--executor", choices=["ray", "local"], help="where stages run (default: ray)")
    _fetch_args(p)
    p.add_argument("--dry-run", action="store_true",
                   help="run every check a build runs before its first unit of work, print the "
                        "resolved config and stop")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("download", help="fetch upstream files only",
                       description="Download the configured sources' upstream files into raw/.")
    _config_args(p)
    p.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable)")
    _fetch_args(p)
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("sources", help="what is configured: name, upstream, license, status",
                       description="List the configured sources.")
    _config_args(p)
    p.add_argument("--check-updates", action="store_true", help="ask upstream what changed")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser("tokens", help="the token count comparison (table, csv, json, markdown)",
                       description="Print token counts per source and tokenizer of a build.")
    p.add_argument("out_dir", nargs="?", metavar="OUT", help="the build folder (default: build/pile)")
    p.add_argument("--format", choices=["table", "csv", "json", "markdown"], default="table")
    p.set_defaults(func=cmd_tokens)

    p = sub.add_parser("validate", help="check every shard, document file and the manifest",
                       description="Re-check every artifact of a build against its manifest.")
    p.add_argument("out_dir", nargs="?", metavar="OUT", help="the build folder (default: build/pile)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("show", help="sampled documents of a build: kept, dropped by reason, duplicates, PII",
                       description="Print a build's sampled documents (paged on a terminal): the kept ones "
                                   "by default, or the dropped ones of a reason, the near-duplicate pairs, "
                                   "the PII passages.")
    p.add_argument("out_dir", nargs="?", metavar="OUT", help="the build folder (default: build/pile)")
    p.add_argument("--source", metavar="S", help="only this source")
    p.add_argument("--dropped", metavar="REASON",
                   help="dropped documents of REASON (stage:reason, a stage, a reason such as too_short, or all)")
    p.add_argument("--duplicates", action="store_true", help="near-duplicate pairs, as a word diff")
    p.add_argument("--pii", action="store_true", help="passages where PII was replaced")
    p.add_argument("-n", type=int, default=3, metavar="N", help="at most N samples per group (default 3)")
    p.set_defaults(func=cmd_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
    except ConfigError as exc:
        print(f"pile: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="pile: %(levelname)s: %(message)s", stream=sys.stderr)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConfigError as exc:
        print(f"pile: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PileError as exc:
        print(f"pile: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # `pile sources | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("pile: interrupted (finished phases are kept; run again to resume)", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("PILE_DEBUG"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"pile: internal error: {type(exc).__name__}: {first} (PILE_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return EXIT_ERROR
