"""What every command line of the project shares: the usage error, the guard and SIGTERM handling.

The promise to users: bad input is one line on stderr and exit code 2; an unexpected exception
(a bug) is a short message that says so, exit code 1, with the traceback only under ``-v``.
"""

from __future__ import annotations

import signal
import sys

import click

BUG_REPORT_HINT = "this is a bug in ddvi-genomics; please report it with the command line"


class UsageError(click.ClickException):
    """A bad input: one line on stderr and exit code 2."""

    exit_code = 2


class InternalError(click.ClickException):
    """An unexpected exception: a short message naming it as a bug, exit code 1."""

    exit_code = 1


def call_or_usage_error(fn, *args, **kwargs):
    """Call ``fn``; a ``ValueError`` (``InputError`` included) becomes one line and exit code 2."""
    try:
        return fn(*args, **kwargs)
    except ValueError as err:
        raise UsageError(first_line(err)) from None


def first_line(err: BaseException) -> str:
    """Return the first line of an exception's message (its type name when the message is empty)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def verbose_requested(argv: list[str] | None = None) -> bool:
    """Whether ``-v`` / ``--verbose`` (or ``-vv``...) is on the command line."""
    args = sys.argv[1:] if argv is None else argv
    return any(a == "--verbose" or (a.startswith("-v") and set(a[1:]) == {"v"}) for a in args)


class GuardedGroup(click.Group):
    """A click group whose commands never end in a raw traceback (unless ``-v`` asks for one).

    click's own usage errors (an unknown option, a value out of an option's range) are one line
    too, naming the option and where the help is, instead of click's usage block.
    """

    #: ``args -> args`` run before parsing (e.g. PLINK's own forms rewritten); None: none.
    rewrite_args = None

    def main(self, args=None, prog_name=None, **kwargs):
        """Run the command line; a click usage error is one line on stderr and exit code 2."""
        if kwargs.get("standalone_mode", True) is False:
            return super().main(args, prog_name, **kwargs)
        kwargs.pop("standalone_mode", None)
        args = list(sys.argv[1:] if args is None else args)
        try:
            if self.rewrite_args is not None:
                args = type(self).rewrite_args(args)
            return super().main(args, prog_name, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as err:  # a bare command: its help
            click.echo(err.ctx.get_help())
            sys.exit(2)
        except click.UsageError as err:  # click's (unknown option, bad value, missing argument)
            command = err.ctx.command_path if err.ctx is not None else (prog_name or self.name)
            message = " ".join(_as_typed(err, args).split())
            click.echo(f"Error: {message} (see '{command} --help')", err=True)
            sys.exit(2)
        except ValueError as err:  # the rewrite refused a form
            click.echo(f"Error: {first_line(err)}", err=True)
            sys.exit(2)
        except click.ClickException as err:
            err.show()
            sys.exit(err.exit_code)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)

    def invoke(self, ctx: click.Context):
        """Run the command; map ``ValueError`` to exit 2 and any other exception to exit 1."""
        terminate_cleanly()
        try:
            result = super().invoke(ctx)
            if termination_requested():  # the SystemExit was swallowed on the way
                raise SystemExit(termination_requested())
            return result
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ValueError as err:  # InputError and the library's argument checks
            raise UsageError(first_line(err)) from None
        except (OSError, MemoryError) as err:  # the machine, not the program
            raise UsageError(f"{type(err).__name__}: {first_line(err)}") from None
        except Exception as err:
            if verbose_requested():
                raise
            raise InternalError(
                f"{type(err).__name__}: {first_line(err)} ({BUG_REPORT_HINT}; add -v for the "
                "traceback)"
            ) from None


_TERMINATION: list[int] = []  # the signal number once a termination was requested


def termination_requested() -> int | None:
    """Return the exit status a termination request asks for (143 after SIGTERM), else None.

    The handler raises ``SystemExit``, but an exception raised while Python runs a finaliser or
    a callback is printed and dropped ("Exception ignored in ..."); the run would then go on and
    publish. Publishing checks this flag too, so a terminated run never publishes.
    """
    return 128 + _TERMINATION[0] if _TERMINATION else None


def _as_typed(err: click.UsageError, args: list[str]) -> str:
    """Return the message naming the option as the user typed it (not all its aliases)."""
    message = err.format_message()
    param = getattr(err, "param", None)
    names = [o for o in getattr(param, "opts", []) if o.startswith("-")]
    if len(names) > 1:
        typed = next((o for o in reversed(args) if o in names), names[0])
        message = message.replace(" / ".join(f"'{o}'" for o in names), f"'{typed}'")
    return message


def terminate_cleanly() -> None:
    """Turn SIGTERM into ``SystemExit(143)`` so that open output sets remove their temp files.

    Installing the handler starts a new command: an earlier request (in a test process that
    runs many commands) is forgotten.
    """
    _TERMINATION.clear()

    def handler(signum, frame):
        _TERMINATION.append(signum)
        raise SystemExit(128 + signum)

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. inside a test runner's worker)
        pass
