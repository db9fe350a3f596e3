"""The error type that the command line turns into one line and exit code 2."""


class InputError(ValueError):
    """Bad user input (file, sample, value); the message names it and what is allowed."""
