"""Predicates of a counter kept in registers beside it, so that no comparator lies between the
counter and what its predicates drive (handshakes, enables, selects)."""

from amaranth.hdl import Const, Signal

__all__ = ["PositionFlags", "flag_bits"]


def flag_bits(flags):
    """A constant whose bit ``n`` is ``flags[n]``: a table of a predicate over a counter's values."""
    return Const(sum(1 << n for n, f in enumerate(flags) if f), len(flags))


class PositionFlags:
    """Predicates of a counter ``position`` in ``0 .. last`` (keyword arguments: name to a
    function of the position), each kept in a register: read them as attributes, and
    :meth:`load` them with the predicates of the counter's next value wherever it is loaded
    with it. A predicate's register then follows the counter with no comparator behind it."""

    def __init__(self, position, last, /, **predicates):
        self._tables = {}
        for name, predicate in predicates.items():
            truth = [bool(predicate(n)) for n in range(last + 1)]
            self._tables[name] = flag_bits(truth)
            setattr(self, name, Signal(name=name, init=truth[position.init]))

    def load(self, m, next_position):
        """Load every predicate of ``next_position`` (in the domain and conditions in effect)."""
        m.d.sync += [getattr(self, name).eq(table.bit_select(next_position, 1))
                     for name, table in self._tables.items()]
