"""The one exception type users see: a problem with their input, stated in one line."""


class SiftrecError(ValueError):
    """Bad input or an impossible request; the message is a complete one-line explanation.

    The CLI prints the message alone (no traceback) and exits non-zero.
    """
