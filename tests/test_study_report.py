"""The study report: the table's percentages, missing figures, and the files it writes."""

import json

from tailor.study_report import markdown, variant_rows, write_report


def variant(name, acc, lut, bram, fifo_min, fifo_full, cycles, fmax=None):
    res = {"LUT": lut, "FF": 2 * lut, "BRAM": bram, "DSP": 0,
           "per_layer": {"fifo_b1_add": {"BRAM": bram}, "stem": {"BRAM": 0}}}
    return {"name": name, "accuracy": acc, "resources": {"ice40": res},
            "skip_fifo_bits": {"minimal": fifo_min, "full_map": fifo_full},
            "cycles_per_inference": cycles, "fmax_mhz": fmax}


def study():
    return {"title": "t", "targets": ["ice40"], "tool_versions": {"yosys": "x"},
            "variants": [variant("baseline", 0.95, 1000, 4, 800, 4000, 500, 20.0),
                         variant("removed", 0.9425, 750, 0, 0, 0, 500, None)]}


def test_rows_give_change_against_the_baseline_and_mark_missing_figures():
    base, removed = variant_rows(study(), "ice40")
    assert base[1] == "95.00%" and base[2] == "1,000"
    assert removed[1] == "94.25% (-0.75 pt)"
    assert removed[2] == "750 (-25%)" and removed[4] == "0 (-100%)"
    assert removed[-1] == "n/m"


def test_write_report_writes_table_json_and_plots(tmp_path):
    s = study()
    path = write_report(tmp_path / "rep", s)
    assert "| removed " in path.read_text() and "Tool versions" in markdown(s)
    assert json.loads((tmp_path / "rep" / "study.json").read_text()) == s
    for png in ("resources.png", "bram_per_layer.png"):
        assert (tmp_path / "rep" / png).read_bytes()[:4] == b"\x89PNG"
