"""The critical path of a nextpnr run, by engine: which layers and which units of the RTL it
runs through, its logic cells, and where its delay goes (clock-to-out, logic, routing).

nextpnr's ``--report`` JSON lists, per clock pair, the segments of the worst path: the cells
they join (hierarchical names, ``accelerator.core.<layer>.<...>`` for the accelerator's
engines) and, for routing, the source lines of the net (``rtl/mac.py:162``). The summary keeps
what a designer needs to decide where a register goes.
"""

import re
import sysconfig
from dataclasses import dataclass
from pathlib import PurePath

_CORE = "accelerator.core."
# Python's own library: a net whose only source line lies there (a ``with m.If`` that Amaranth
# traced to ``contextlib.py``) names nothing of the design.
_STDLIB = sysconfig.get_paths()["stdlib"]
# The primitive in the name of a cell Yosys or nextpnr made (``i[69]_TRELLIS_FF_Q``).
_PRIMITIVE = re.compile(r"_(TRELLIS_[A-Z]+|MULT18X18D|ALU54B|CCU2C|DP16KD|SB_[A-Z0-9]+|"
                        r"ICESTORM_[A-Z]+)")


@dataclass
class CriticalPath:
    """``ns``: the path's delay (1 / Fmax); ``clk_to_q_ns`` / ``logic_ns`` / ``routing_ns`` /
    ``setup_ns``: its parts; ``logic_cells``: cells it passes through; ``start`` / ``end``:
    where it starts and ends; ``through``: ``[[place, [source lines]], ...]`` in path order, a place being a
    layer (or a top-level unit) and the RTL lines of the nets it uses there."""

    ns: float
    clk_to_q_ns: float
    logic_ns: float
    routing_ns: float
    setup_ns: float
    logic_cells: int
    start: str
    end: str
    through: list

    def text(self):
        """One line: delay split, cells, and the places with their source lines."""
        places = " -> ".join(f"{place} ({', '.join(lines)})" if lines else place
                             for place, lines in self.through)
        return (f"critical path {self.ns:.1f} ns (clock-to-out {self.clk_to_q_ns:.1f}, logic "
                f"{self.logic_ns:.1f}, routing {self.routing_ns:.1f}, setup {self.setup_ns:.1f}; "
                f"{self.logic_cells} logic cells): {self.start} -> {self.end} through {places}")


def _place(cell):
    """The layer a cell belongs to (``accelerator.core.<layer>...``), else its top unit."""
    if cell.startswith(_CORE):
        return cell[len(_CORE):].split(".")[0].split("$")[0]
    return cell.split(".")[0] if "." in cell else cell


def _cell(cell):
    """A cell by its place, its name there and its primitive: ``layer2_conv1 weights``,
    ``layer2_conv1 i[69] (TRELLIS_FF)``."""
    inside = cell[len(_CORE):] if cell.startswith(_CORE) else cell
    name = (inside.split(".")[1] if "." in inside else inside).split("$")[0]
    match = _PRIMITIVE.search(name)
    if match:
        name = f"{name[:match.start()]} ({match.group(1)})"
    return f"{_place(cell)} {name}"


def _source(line):
    """``/…/rtl/mac.py:162`` -> ``rtl/mac.py:162``."""
    parts = PurePath(line).parts
    return "/".join(parts[-2:]) if len(parts) >= 2 else line


def critical_path(report):
    """The :class:`CriticalPath` of the longest clock-to-clock path in nextpnr's ``report``
    (its ``--report`` JSON), or None when it lists none."""
    paths = [p for p in report.get("critical_paths", ())
             if p.get("path") and p["from"].startswith("posedge") and p["to"].startswith("posedge")]
    if not paths:
        return None
    path = max(paths, key=lambda p: sum(s["delay"] for s in p["path"]))["path"]
    by_type = {}
    for seg in path:
        by_type[seg["type"]] = by_type.get(seg["type"], 0.0) + seg["delay"]
    through = []
    for seg in path:
        cell = seg["to"]["cell"]
        if cell.startswith("$") and through:  # a cell nextpnr made while packing (a carry
            place = through[-1][0]            # chain's piece): it stays where the path is
        else:
            place = _place(cell)
        if not through or through[-1][0] != place:
            through.append([place, []])
        for line in seg.get("sources", ()):
            # Python lines are the RTL's (not the standard library's); Yosys' techmap lines
            # (carry chains) say nothing new
            if ".py:" in line and not line.startswith(_STDLIB) and \
                    _source(line) not in through[-1][1]:
                through[-1][1].append(_source(line))
    return CriticalPath(
        ns=round(sum(by_type.values()), 2), clk_to_q_ns=round(by_type.get("clk-to-q", 0.0), 2),
        logic_ns=round(by_type.get("logic", 0.0), 2),
        routing_ns=round(by_type.get("routing", 0.0), 2),
        setup_ns=round(by_type.get("setup", 0.0), 2),
        logic_cells=len({s["to"]["cell"] for s in path if s["type"] == "logic"}),
        start=_cell(path[0]["from"]["cell"]), end=_cell(path[-1]["to"]["cell"]), through=through)
