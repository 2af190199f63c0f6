"""Failures that reach the command line as one line on stderr and an exit code."""


class UsageError(Exception):
    """The command was asked for something it cannot do as asked (exit code 2)."""


class CommandFailed(Exception):
    """The command was fine but the machine said no: unwritable path, disk full (exit code 1)."""
