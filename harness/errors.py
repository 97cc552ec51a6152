"""One exception type for mistakes a user can fix: the CLI turns it into a message and exit code 2."""


class UserError(Exception):
    """Bad input (suite file, name, path, budget). The message names the culprit and the fix."""
