"""The error hierarchy, named by what the runner does with each error.

- `ConfigError`: fail before any work starts; the message names the field.
- `SourceError`: fail this input file (or this record), record the reason, go on.
- `RetryableError`: a transient failure (network, a busy host) worth another attempt.
- `PileError`: anything else that ends the run; the CLI prints it as one line.
"""


class PileError(Exception):
    """Base of every error the CLI reports as a one-line message."""


class ConfigError(PileError):
    """The configuration is invalid; raised before any work starts."""


class SourceError(PileError):
    """One input file or record cannot be read; the run goes on without it."""


class RetryableError(PileError):
    """A transient failure; the caller may try again."""


class ValidationError(PileError):
    """`pile validate` found an artifact that does not match what was recorded."""
