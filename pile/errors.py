"""The error hierarchy, named by what the runner does with each error.

- `ConfigError`: fail before any work starts; the message names the field.
- `SourceError`: fail this input file (or this record), record the reason, go on.
- `RetryableError`: a transient failure (network, a busy host) worth another attempt.
- `PileError`: anything else that ends the run; the CLI prints it as one line.
"""


from typing import Any


def _encodable(arg: Any) -> Any:
    if isinstance(arg, str):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            # A message naming a file whose name is not UTF-8: stats.json and the CLI
            # must still be able to write it.
            from pile.document import safe_text

            return safe_text(arg)
    return arg


class PileError(Exception):
    """Base of every error the CLI reports as a one-line message (always valid UTF-8:
    undecodable bytes of a named file are percent-escaped)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*(_encodable(a) for a in args))


class ConfigError(PileError):
    """The configuration is invalid; raised before any work starts."""


class SourceError(PileError):
    """One input file or record cannot be read; the run goes on without it."""


class RetryableError(PileError):
    """A transient failure; the caller may try again."""


class ValidationError(PileError):
    """`pile validate` found an artifact that does not match what was recorded."""
