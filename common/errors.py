"""The one exception type the command line turns into a one-line message and a non-zero exit,
and the helpers that keep its messages one line."""

import reprlib


class TailorError(Exception):
    """A problem with the user's input or environment, stated in one line.

    The CLI prints ``str(error)`` without a traceback; anything else that escapes is a bug.
    """


class _Brief(reprlib.Repr):
    """reprlib's cut-down repr, also for integers whose digits Python will not print."""

    def __init__(self, limit):
        super().__init__()
        self.maxlevel, self.maxlist, self.maxdict, self.maxtuple = 2, 4, 4, 4
        self.maxstring = self.maxother = self.maxlong = limit

    def repr_int(self, x, level):
        return repr(x) if x.bit_length() <= 128 else f"<a {x.bit_length()}-bit integer>"


def shown(value, limit=40):
    """``repr(value)`` for a one-line message about a user's value: about ``limit``
    characters at most, also for a 5,000-digit integer or a list nested 3,000 deep."""
    return _Brief(limit).repr(value)


def reason(e, limit=160):
    """What exception ``e`` of a library says, for the parentheses of a one-line message: its
    class and the first line of its text, cut to ``limit`` characters."""
    text = (str(e).splitlines() or [""])[0][:limit]
    return f"{e.__class__.__name__}: {text}" if text else e.__class__.__name__


def one_line(text):
    """``text`` with control characters escaped: a key or name from a user's file may hold a
    newline, and a message is one line."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
