"""The one exception type the command line turns into a one-line message and a non-zero exit."""


class TailorError(Exception):
    """A problem with the user's input or environment, stated in one line.

    The CLI prints ``str(error)`` without a traceback; anything else that escapes is a bug.
    """
