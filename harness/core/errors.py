"""Exceptions the CLI turns into a message: a user's mistake (exit 2) and an interruption (exit 130)."""


class Interrupted(Exception):
    """SIGINT/SIGTERM: the current step finished and a resume point was written; the CLI exits 130."""


class UserError(Exception):
    """Bad input (suite file, name, path, budget). The message names the culprit and the fix."""
