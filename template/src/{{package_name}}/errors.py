"""Errors a user can cause and fix. train.py and evaluate.py print their message, not a traceback."""


class UserError(Exception):
    """Something in the command, the config or the files needs fixing; the message says what."""
