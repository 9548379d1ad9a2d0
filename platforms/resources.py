"""From Yosys cell counts to LUT / FF / BRAM / DSP / LUT-RAM, in total and per module.

Units of each category, per target (cell types are what the target's ``synth_*`` produces):

| category | ice40 | ecp5 | xilinx |
|---|---|---|---|
| LUT | ``SB_LUT4`` | ``LUT4`` + 2 per ``CCU2C`` (a carry cell holds two LUT4s) | ``LUT1``..``LUT6`` |
| FF | ``SB_DFF*`` | ``TRELLIS_FF`` | ``FD*E`` |
| BRAM | ``SB_RAM40_4K`` (4 kbit) | ``DP16KD`` (18 kbit) | 18-kbit blocks: ``RAMB18E1`` = 1, ``RAMB36E1`` = 2 |
| DSP | ``SB_MAC16`` | ``MULT18X18D``, ``ALU54B`` | ``DSP48E1`` |
| LUT-RAM | (none on iCE40) | ``TRELLIS_DPR16X4`` primitives | ``RAM*`` / ``SRL*`` primitives |

Cells that use none of these (carry chains, wide-function muxes, clock buffers) are kept in the
per-type counts only. A cell type this module does not know is an error, never silently
dropped: an unmapped generic cell (``$_AND_``) means synthesis did not finish mapping.

A :class:`ResourceReport` holds each module's *own* cells (not those of its submodules), keyed by
the module's hierarchical path below the top (``""`` for the top's own glue logic,
``"stem"``, ``"stem.line_buffer"``). An Amaranth memory is not a module of its own, so the
synthesis flow makes it one (:func:`mark_memories`, Yosys ``submod``) before mapping memories:
each memory is a unit (``"stem.weights"``) holding its block / LUT RAM primitives, or the LUTs
and FFs it became when it was not mapped to RAM.
"""

import re
from collections import Counter
from dataclasses import dataclass, field

from common.errors import TailorError
from common.table import format_table

CATEGORIES = ("LUT", "FF", "BRAM", "DSP", "LUTRAM")

# target -> list of (regex on the cell type, category or None, weight)
_CELL_RULES = {
    "ice40": [
        (r"SB_LUT4", "LUT", 1),
        (r"SB_DFF\w*", "FF", 1),
        (r"SB_RAM40_4K\w*", "BRAM", 1),
        (r"SB_MAC16", "DSP", 1),
        (r"SB_CARRY|SB_GB|SB_IO|SB_SPRAM256KA", None, 0),
    ],
    "ecp5": [
        (r"LUT4", "LUT", 1),
        (r"CCU2C", "LUT", 2),
        (r"TRELLIS_FF", "FF", 1),
        (r"DP16KD|PDPW16KD", "BRAM", 1),
        (r"MULT18X18D|ALU54B", "DSP", 1),
        (r"TRELLIS_DPR16X4", "LUTRAM", 1),
        (r"PFUMX|L6MUX21|TRELLIS_IO|DCCA", None, 0),
    ],
    "xilinx": [
        (r"LUT[1-6]", "LUT", 1),
        (r"FD[RSCP]E(_1)?|LD[CP]E", "FF", 1),
        (r"RAMB18E1", "BRAM", 1),
        (r"RAMB36E1", "BRAM", 2),
        (r"DSP48E1", "DSP", 1),
        (r"RAM(32|64|128|256)X1[SD]|RAM(32|64)M|SRL16E|SRLC32E", "LUTRAM", 1),
        (r"CARRY4|MUXF[78]|BUFG|INV|VCC|GND", None, 0),
    ],
}
_COMPILED = {t: [(re.compile(p + r"\Z"), c, w) for p, c, w in rules]
             for t, rules in _CELL_RULES.items()}

TARGETS = tuple(_CELL_RULES)


def classify(target, cell_type):
    """``(category or None, weight)`` of one cell type on ``target``; unknown types raise."""
    for pattern, category, weight in _COMPILED[target]:
        if pattern.match(cell_type):
            return category, weight
    raise TailorError(f"synthesis for {target} left cell type '{cell_type}', which is no known "
                      f"{target} primitive (mapping incomplete, or platforms.resources lacks it)")


def resources(target, cells):
    """Category -> count for a cell-type counter (every category present, zeros included)."""
    out = dict.fromkeys(CATEGORIES, 0)
    for cell_type, n in cells.items():
        category, weight = classify(target, cell_type)
        if category is not None:
            out[category] += weight * n
    return out


@dataclass
class Memory:
    """One Amaranth memory of the design and what synthesis made of it."""

    path: str          # hierarchical path of the memory ("stem.weights")
    depth: int
    width: int
    primitives: dict   # memory cell type -> count; empty when it fell into logic (LUTs / FFs)

    @property
    def in_logic(self):
        return not self.primitives


@dataclass
class ResourceReport:
    """Resources of one design synthesized for one target.

    ``units`` maps each hierarchical path to the Counter of cell types it owns itself;
    ``flat`` is the Counter Yosys reports for the flattened design (every unit's cells must add
    up to it: :meth:`check_sum` is run when a report is made from a synthesis run).
    """

    target: str
    design: str
    units: dict
    flat: Counter
    memories: list = field(default_factory=list)
    versions: dict = field(default_factory=dict)
    seconds: float = 0.0
    order: list = field(default_factory=list)  # preferred order of first-level units

    def check_sum(self):
        summed = Counter()
        for cells in self.units.values():
            summed.update(cells)
        if +summed != +self.flat:
            diff = {t: summed[t] - self.flat[t] for t in set(summed) | set(self.flat)
                    if summed[t] != self.flat[t]}
            raise TailorError(f"{self.design} on {self.target}: per-module cell counts do not add "
                              f"up to the flattened design's (difference per type: {diff})")

    @property
    def total(self):
        return resources(self.target, self.flat)

    def subtree(self, path):
        """Cells of ``path`` and everything below it."""
        out = Counter()
        for p, cells in self.units.items():
            if p == path or p.startswith(path + "."):
                out.update(cells)
        return out

    def children(self, path):
        """Direct children of ``path`` (``""`` is the top), in report order."""
        depth = 0 if path == "" else path.count(".") + 1
        prefix = "" if path == "" else path + "."
        kids = {p.split(".")[depth] for p in self.units
                if p.startswith(prefix) and p != path and p.count(".") >= depth}
        kids = [prefix + k for k in kids]
        rank = {name: i for i, name in enumerate(self.order)}
        return sorted(kids, key=lambda k: (rank.get(k, len(rank)), k))

    def rows(self, depth=2):
        """``(label, indent, resources)`` rows: each unit's subtree down to ``depth`` levels,
        a ``(own logic)`` row where a unit owns cells beside its children, ``(top glue)`` for
        the top's own cells. The rows at indent 0 add up to :attr:`total`."""
        out = []

        def walk(path, level):
            for child in self.children(path):
                out.append((child.rsplit(".", 1)[-1] if level else child, level,
                            resources(self.target, self.subtree(child))))
                if level + 1 < depth and self.children(child):
                    walk(child, level + 1)
                    own = self.units.get(child, Counter())
                    if any(resources(self.target, own).values()):
                        out.append(("(own logic)", level + 1, resources(self.target, own)))
        walk("", 0)
        top_own = self.units.get("", Counter())
        if any(resources(self.target, top_own).values()):
            out.append(("(top glue)", 0, resources(self.target, top_own)))
        return out

    def table(self, depth=2, markdown=False):
        body = [["  " * indent + label] + [r[c] for c in CATEGORIES]
                for label, indent, r in self.rows(depth)]
        body.append(["total"] + [self.total[c] for c in CATEGORIES])
        return format_table(["unit"] + list(CATEGORIES), body, markdown=markdown,
                            align="l" + "r" * len(CATEGORIES))

    def memory_notes(self):
        """One line per memory that fell into logic instead of block / LUT RAM."""
        return [f"memory '{m.path}' ({m.depth} x {m.width} bits) is implemented in logic "
                f"(LUTs / FFs), not in block or LUT RAM" for m in self.memories if m.in_logic]

    def to_json(self):
        units = []
        for path in sorted(self.units):
            units.append({"path": path, "own": resources(self.target, self.units[path]),
                          "subtree": resources(self.target, self.subtree(path)),
                          "cells": dict(sorted(self.units[path].items()))})
        return {
            "design": self.design, "target": self.target, "total": self.total,
            "cells": dict(sorted(self.flat.items())),
            "layers": {label: r for label, indent, r in self.rows(depth=1)},
            "units": units,
            "memories": [{"path": m.path, "depth": m.depth, "width": m.width,
                          "primitives": m.primitives} for m in self.memories],
            "memory_notes": self.memory_notes(),
            "synthesis_seconds": round(self.seconds, 2),
            "versions": self.versions,
        }


_MODULE = re.compile(r"^module \\?(\S+)\s*$")
_MEMORY = re.compile(r"^(\s*)memory\s+width\s+(\d+)\s+size\s+(\d+)\s+(?:offset\s+-?\d+\s+)?\\?(\S+)")
# Yosys' submod names the module it makes "<parent>_<submod attribute>"; this marker in the
# attribute lets the parent and the memory's name be told apart again (no Amaranth name has it).
MEMORY_MARK = "~mem~"


def _path(module, top):
    """Hierarchical path below ``top`` of a module name (``top.a.b`` -> ``a.b``; a memory
    module ``top.a_~mem~w`` -> ``a.w``)."""
    module = module.lstrip("\\")
    parent, mark, memory = module.partition("_" + MEMORY_MARK)
    if mark:
        base = _path(parent, top)
        return f"{base}.{memory}" if base else memory
    if module == top:
        return ""
    if not module.startswith(top + "."):
        raise TailorError(f"module '{module}' is not below top module '{top}'")
    return module[len(top) + 1:]


def _scan_memories(rtlil_text, top):
    """For each line: (line, memory match or None, path of the module it is in)."""
    module = None
    for line in rtlil_text.splitlines():
        m = _MODULE.match(line)
        if m:
            module = _path(m.group(1), top)
        yield line, _MEMORY.match(line), module


def rtlil_memories(rtlil_text, top):
    """``[(path, depth, width)]`` of every memory declared in Amaranth's RTLIL output."""
    return [(f"{module}.{m.group(4)}" if module else m.group(4), int(m.group(3)), int(m.group(2)))
            for _, m, module in _scan_memories(rtlil_text, top) if m]


def mark_memories(rtlil_text, top):
    """The RTLIL with a ``submod`` attribute on every memory, so that Yosys' ``submod`` pass
    moves each memory into a module of its own (named for :func:`_path`)."""
    out = []
    for line, m, _ in _scan_memories(rtlil_text, top):
        if m:
            out.append(f'{m.group(1)}attribute \\submod "{MEMORY_MARK}{m.group(4)}"')
        out.append(line)
    return "\n".join(out) + "\n"


def report_from_yosys(target, design, top, stat, flat_stat, rtlil_text):
    """Build a :class:`ResourceReport` from one synthesis run's outputs.

    ``stat`` / ``flat_stat``: parsed ``stat -json`` of the hierarchical and the flattened
    netlist; ``rtlil_text``: the RTLIL that was synthesized (to list its memories).
    """
    modules = {name.lstrip("\\") for name in stat["modules"]}
    units = {}
    for name, mod in stat["modules"].items():
        cells = Counter({t.lstrip("\\"): n for t, n in mod.get("num_cells_by_type", {}).items()
                         if t != "$scopeinfo" and t.lstrip("\\") not in modules})
        units[_path(name, top)] = cells
    flat = Counter({t: n for t, n in flat_stat["design"]["num_cells_by_type"].items()
                    if t != "$scopeinfo"})
    def ram_cells(path):
        return {t: n for t, n in sorted(units.get(path, {}).items())
                if classify(target, t)[0] in ("BRAM", "LUTRAM")}
    memories = [Memory(path, depth, width, ram_cells(path))
                for path, depth, width in rtlil_memories(rtlil_text, top)]
    report = ResourceReport(target=target, design=design, units=units, flat=flat,
                            memories=memories)
    report.check_sum()
    return report
