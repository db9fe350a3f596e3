"""What every command line of the project shares: the usage error and the error guard."""

from __future__ import annotations

import click


class UsageError(click.ClickException):
    """A bad input: one line on stderr and exit code 2."""

    exit_code = 2


def call_or_usage_error(fn, *args, **kwargs):
    """Call ``fn``; a ``ValueError`` (``InputError`` included) becomes one line and exit code 2."""
    try:
        return fn(*args, **kwargs)
    except ValueError as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UsageError(message) from None
