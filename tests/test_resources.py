"""Cell classification and per-module attribution of Yosys statistics (no Yosys run here:
the inputs are built by hand in the shapes ``stat -json`` and ``select -list`` produce)."""

import re
from collections import Counter

import pytest

from platforms.resources import (CATEGORIES, classify, mark_memories, report_from_yosys,
                                 resources, rtlil_memories)
from platforms.regression import compare
from common.errors import TailorError


def test_classify_per_target():
    assert classify("ice40", "SB_DFFESR") == ("FF", 1)
    assert classify("ice40", "SB_CARRY") == (None, 0)
    assert classify("ecp5", "CCU2C") == ("LUT", 2)
    assert classify("xilinx", "RAMB36E1") == ("BRAM", 2)
    assert classify("xilinx", "SRLC32E") == ("LUTRAM", 1)
    assert resources("ecp5", Counter({"LUT4": 10, "CCU2C": 3, "TRELLIS_FF": 4, "PFUMX": 2,
                                      "DP16KD": 1, "MULT18X18D": 2, "TRELLIS_DPR16X4": 5})) == \
        {"LUT": 16, "FF": 4, "BRAM": 1, "DSP": 2, "LUTRAM": 5}


@pytest.mark.parametrize("target,cell", [("ice40", "$_AND_"), ("ecp5", "SB_LUT4"),
                                         ("xilinx", "LUT7")])
def test_unknown_cell_is_an_error(target, cell):
    with pytest.raises(TailorError, match=re.escape(f"cell type '{cell}'")):
        resources(target, Counter({cell: 1}))


RTLIL = """\
attribute \\top 1
module \\top
  memory width 8 size 16 \\small
  cell \\top.eng \\eng
  end
end
module \\top.eng
  attribute \\x 1
  memory width 12 size 512 \\weights
  memory width 8 size 1024 offset 0 \\rows
end
module \\top.eng.mac
end
"""


def _stat(modules):
    return {"modules": {f"\\{name}": {"num_cells_by_type": cells} for name, cells in modules.items()}}


def _report(flat=None):
    # As Yosys' submod names the modules it made of the memories of top.eng.
    stat = _stat({
        "top": {"SB_LUT4": 5, "SB_DFF": 2, "top.eng": 1, "$scopeinfo": 3},
        "top.eng": {"SB_LUT4": 20, "SB_DFFE": 8, "top.eng.mac": 1, "top.eng_~mem~weights": 1,
                    "top.eng_~mem~rows": 1},
        "top.eng.mac": {"SB_LUT4": 30, "SB_CARRY": 12, "SB_MAC16": 2},
        "top.eng_~mem~weights": {"SB_RAM40_4K": 2},
        "top.eng_~mem~rows": {"SB_RAM40_4K": 3, "SB_LUT4": 4, "SB_DFF": 1},
    })
    flat = flat or {"SB_LUT4": 59, "SB_DFF": 3, "SB_DFFE": 8, "SB_RAM40_4K": 5, "SB_CARRY": 12,
                    "SB_MAC16": 2, "$scopeinfo": 4}
    return report_from_yosys("ice40", "t", "top", stat, {"design": {"num_cells_by_type": flat}},
                             RTLIL)


def test_mark_memories():
    marked = mark_memories(RTLIL, "top").splitlines()
    k = marked.index("  memory width 12 size 512 \\weights")
    assert marked[k - 1] == '  attribute \\submod "~mem~weights"'
    assert rtlil_memories("\n".join(marked), "top") == rtlil_memories(RTLIL, "top")


def test_rtlil_memories():
    assert rtlil_memories(RTLIL, "top") == [("small", 16, 8), ("eng.weights", 512, 12),
                                            ("eng.rows", 1024, 8)]


def test_memories_are_units():
    r = _report()
    assert r.units["eng.weights"] == Counter({"SB_RAM40_4K": 2})
    assert r.units["eng.rows"] == Counter({"SB_RAM40_4K": 3, "SB_LUT4": 4, "SB_DFF": 1})
    assert r.units["eng"] == Counter({"SB_LUT4": 20, "SB_DFFE": 8})
    assert {m.path: m.primitives for m in r.memories} == {
        "small": {}, "eng.weights": {"SB_RAM40_4K": 2}, "eng.rows": {"SB_RAM40_4K": 3}}
    assert [m.path for m in r.memories if m.in_logic] == ["small"]
    assert r.memory_notes() == ["memory 'small' (16 x 8 bits) is implemented in logic (LUTs / "
                                "FFs), not in block or LUT RAM"]


def test_rows_add_up_to_total():
    r = _report()
    assert r.total == {"LUT": 59, "FF": 11, "BRAM": 5, "DSP": 2, "LUTRAM": 0}
    top_level = [res for label, indent, res in r.rows(depth=3) if indent == 0]
    assert {c: sum(res[c] for res in top_level) for c in CATEGORIES} == r.total
    labels = [("  " * indent) + label for label, indent, _ in r.rows(depth=3)]
    assert labels == ["eng", "  mac", "  rows", "  weights", "  (own logic)", "(top glue)"]
    text = r.table()
    assert text.splitlines()[-1].split() == ["total", "59", "11", "5", "2", "0"]


def test_mismatch_with_flat_count_is_an_error():
    with pytest.raises(TailorError, match="do not add up"):
        _report(flat={"SB_LUT4": 58, "SB_DFF": 3, "SB_DFFE": 8, "SB_RAM40_4K": 5,
                      "SB_CARRY": 12, "SB_MAC16": 2})


def test_baseline_comparison_tolerance():
    base = _report().to_json()
    assert compare(base, base) == []
    grown = _report().to_json()
    grown["total"] = dict(grown["total"], LUT=base["total"]["LUT"] + 3)  # 5 % of 59 is < 3
    grown["layers"]["eng"] = dict(grown["layers"]["eng"], BRAM=6)
    assert compare(grown, base) == ["total LUT: 62 (baseline 59, +3)",
                                    "eng BRAM: 6 (baseline 5, +1)"]
    small_move = _report().to_json()
    small_move["total"] = dict(small_move["total"], LUT=61, FF=9)  # within 2 LUTs / FFs
    assert compare(small_move, base) == []
