"""`tailor sim` and `tailor verilog`: results equal `tailor ref`, one-line errors and no output
file on a bad netdesc, input or hardware config."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import netdesc
from tailor.cli import main

# Components built only to inspect them (or rejected by their constructor) are never
# elaborated; Amaranth's warning about that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

EXAMPLE = Path(__file__).parents[1] / "examples" / "small_resnet.json"


@pytest.fixture
def tiny(write_net, tiny_obj):
    """Every op: conv, 1x1 conv, add (skip), maxpool, global_avg_pool, dense; 1x4x4 input."""
    return write_net(tiny_obj, "tiny")


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sim_equals_ref_batch_and_single(tiny, tmp_path, capsys):
    x = np.random.default_rng(0).integers(0, 256, size=(3, 1, 4, 4))
    x[0] = 255
    np.save(tmp_path / "x.npy", x)
    code, _, _ = _run(["ref", str(tiny), "--input", str(tmp_path / "x.npy"),
                       "--output", str(tmp_path / "ref.npy")], capsys)
    assert code == 0
    code, out, _ = _run(["sim", str(tiny), "--input", str(tmp_path / "x.npy"),
                         "--output", str(tmp_path / "sim.npy")], capsys)
    assert code == 0
    ref, sim = np.load(tmp_path / "ref.npy"), np.load(tmp_path / "sim.npy")
    assert sim.dtype == np.int64 and sim.shape == (3, 3) and np.array_equal(sim, ref)
    assert "cycles per inference" in out and "steady-state cycles between inferences" in out
    assert "a1" in out  # the skip FIFO table names the add

    np.save(tmp_path / "x1.npy", x[1].astype(np.uint8))
    code, out, _ = _run(["sim", str(tiny), "--input", str(tmp_path / "x1.npy"),
                         "--output", str(tmp_path / "sim1.npy"), "--json"], capsys)
    assert code == 0 and np.array_equal(np.load(tmp_path / "sim1.npy"), ref[1])
    report = json.loads(out)
    assert report["inputs"] == 1 and report["steady_state_cycles"] is None
    assert report["cycles_per_inference"] >= report["first_output_cycle"] > 0
    fifo = next(f for f in report["fifos"] if f["kind"] == "skip")
    assert fifo["add"] == "a1" and fifo["bits"] == fifo["depth"] * fifo["beat_bits"]
    assert report["backend"] == "compiled" and report["versions"]["verilator"]
    assert report["cycles_per_second"] > 0 and report["compile_seconds"] >= 0

    code, out, _ = _run(["sim", str(tiny), "--input", str(tmp_path / "x1.npy"), "--output",
                         str(tmp_path / "sim2.npy"), "--json", "--backend", "pysim"], capsys)
    pysim = json.loads(out)
    assert code == 0 and pysim["backend"] == "pysim" and pysim["compile_seconds"] == 0
    for key in ("cycles_per_inference", "first_output_cycle", "total_cycles"):
        assert pysim[key] == report[key]


def test_sim_writes_vcd_and_uses_hw_file(tiny, tmp_path, capsys):
    x = np.random.default_rng(1).integers(0, 256, size=(2, 1, 4, 4))
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "hw.json").write_text(json.dumps({"parallelism": {"c1": 1, "fc": 2},
                                                   "fifo_depths": {"a1": 40}}))
    code, out, _ = _run(["sim", str(tiny), "--input", str(tmp_path / "x.npy"), "--output",
                         str(tmp_path / "y.npy"), "--hw", str(tmp_path / "hw.json"),
                         "--vcd", str(tmp_path / "w.vcd"), "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["parallelism"]["c1"] == 1
    assert [f["depth"] for f in report["fifos"] if f["name"] == "fifo_a1"] == [40]
    assert np.array_equal(np.load(tmp_path / "y.npy"), netdesc.run(netdesc.load(tiny), x))
    assert "$var" in (tmp_path / "w.vcd").read_text()


HW_ERRORS = [
    ({"parallelism": {"nope": 2}}, r"hw.json: layer 'nope': parallelism names a layer"),
    ({"parallelism": {"c1": 19}}, r"hw.json: layer 'c1': parallelism must be an integer in 1\.\.18"),
    ({"parallelism": {"c1": 0}}, r"hw.json: layer 'c1': parallelism must be an integer"),
    ({"parallelism": {"p1": 2}}, r"hw.json: layer 'p1': parallelism applies to conv2d and dense"),
    ({"fifo_depths": {"c2": 4}}, r"hw.json: layer 'c2': fifo_depths applies to add layers"),
    ({"fifo_depths": {"a1": 0}}, r"hw.json: layer 'a1': fifo depth must be an integer in 1\.\.262,144 beats, not 0"),
    ({"fifo_depths": {"a1": 10 ** 9}}, r"hw.json: layer 'a1': fifo depth must be an integer in 1\.\.262,144 beats, not 1000000000"),
    ({"rate_fifo_depths": {"c1.a": 2}}, r"hw.json: layer 'c1': rate_fifo_depths key 'c1.a' must name port i"),
    ({"rate_fifo_depths": {"a1.b": -1}}, r"hw.json: layer 'a1': rate fifo depth must be an integer in 0\.\.262,144"),
    ({"rate_fifo_depths": {"a1.b": 2 ** 40}}, r"hw.json: layer 'a1': rate fifo depth must be an integer in 0\.\.262,144"),
    ({"parallelism": {"c1": 10 ** 999}}, r"hw.json: layer 'c1': parallelism must be an integer in 1\.\.18 \(MACs per output pixel\), not <a 3319-bit integer>"),
    ({"parallelism": {"c1": 10 ** 1000}}, r"hw.json: holds a number of more than 1000 digits"),
    ("[" * 100000, r"hw.json: nests values 100000 deep; the limit is 64"),
    ({"memory_style": "lutram"}, r"hw.json: memory_style must be one of auto, block, registers"),
    ({"logic_multipliers": ["p1"]}, r"hw.json: layer 'p1': logic_multipliers applies to conv2d and dense"),
    ({"logic_multipliers": ["nope"]}, r"hw.json: layer 'nope': logic_multipliers names a layer"),
    ({"logic_multipliers": "c1"}, r"hw.json: 'logic_multipliers' must be a list of layer names"),
    ({"registered_macs": 1}, r"hw.json: 'registered_macs' must be true or false, not 1"),
    ({"registered_fifos": "yes"}, r"hw.json: 'registered_fifos' must be true or false, not 'yes'"),
    ({"paralelism": {}}, r"hw.json: unknown key 'paralelism'"),
    ({"array": {"rows": 4, "cols": 3}}, r"hw.json: array cols \(3\) must divide rows \(4\)"),
    ({"array": {"rows": 0}}, r"hw.json: array rows must be an integer in 1\.\.64, not 0"),
    ({"array": {"skips": "keep"}}, r"hw.json: array skips must be one of separate, fused, hold"),
    ({"array": {"memory": "dram"}}, r"hw.json: array memory must be one of on_chip, off_chip"),
    ({"array": {"accumulators": True}}, r"hw.json: array accumulators must be an integer"),
    ({"array": {"row": 4}}, r"hw.json: unknown array key 'row'"),
    ({"array": [4, 4]}, r"hw.json: 'array' must be an object"),
    ("not json", r"hw.json: is not valid JSON"),
]


@pytest.mark.parametrize("hw, message", HW_ERRORS)
@pytest.mark.parametrize("command", ["sim", "verilog"])
def test_bad_hw_file(tiny, tmp_path, capsys, hw, message, command):
    np.save(tmp_path / "x.npy", np.zeros((1, 4, 4), dtype=np.int64))
    (tmp_path / "hw.json").write_text(hw if isinstance(hw, str) else json.dumps(hw))
    out = tmp_path / "out.file"
    argv = [command, str(tiny), "--hw", str(tmp_path / "hw.json")]
    argv += (["--input", str(tmp_path / "x.npy"), "--output", str(out)] if command == "sim"
             else ["--out", str(out)])
    code, _, err = _run(argv, capsys)
    assert code == 1 and err.count("\n") == 1 and err.startswith(f"tailor {command}: error: ")
    assert re.search(message, err), err
    assert not out.exists() and not list(tmp_path.glob(".out.file*"))


def test_bad_netdesc_and_bad_input(tiny, tmp_path, capsys, tiny_obj, write_net):
    tiny_obj["layers"][2]["inputs"] = ["c2", "missing"]
    broken = write_net(tiny_obj, "broken")
    np.save(tmp_path / "x.npy", np.zeros((1, 4, 4), dtype=np.int64))
    out = tmp_path / "y.npy"
    code, _, err = _run(["sim", str(broken), "--input", str(tmp_path / "x.npy"),
                         "--output", str(out)], capsys)
    assert code == 1 and err.count("\n") == 1 and "broken.json: layer 'a1'" in err
    code, _, err = _run(["verilog", str(broken), "--out", str(out)], capsys)
    assert code == 1 and err.count("\n") == 1 and "broken.json: layer 'a1'" in err
    np.save(tmp_path / "x.npy", np.full((1, 4, 4), 300))
    code, _, err = _run(["sim", str(tiny), "--input", str(tmp_path / "x.npy"),
                         "--output", str(out)], capsys)
    assert code == 1 and err.count("\n") == 1 and "x.npy: input values must be u8" in err
    assert not out.exists()


def test_stall_is_one_line_error(tmp_path, capsys):
    """A FIFO far too small for a skip spanning two 3x3 convs deadlocks: reported, not hung,
    no output."""
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), dtype=np.int64))
    (tmp_path / "hw.json").write_text(json.dumps({"fifo_depths": {"b1_add": 2}}))
    out = tmp_path / "y.npy"
    code, _, err = _run(["sim", str(EXAMPLE), "--input", str(tmp_path / "x.npy"),
                         "--output", str(out), "--hw", str(tmp_path / "hw.json"),
                         "--stall-cycles", "500"], capsys)
    assert code == 1 and err.count("\n") == 1 and "stall: no stream moved a beat" in err
    assert "'fifo_b1_add.i'" in err and not out.exists()


def test_verilog_and_rtlil_export(tiny, tmp_path, capsys):
    code, _, _ = _run(["verilog", str(tiny), "--out", str(tmp_path / "top.il"), "--rtlil"], capsys)
    assert code == 0
    il = (tmp_path / "top.il").read_text()
    assert il.startswith("# tailor_top: streaming accelerator") and "module \\tailor_top" in il
    code, out, _ = _run(["verilog", str(tiny), "--out", str(tmp_path / "top.v"), "--name", "acc",
                         "--json"], capsys)
    assert code == 0 and json.loads(out)["module"] == "acc"
    v = (tmp_path / "top.v").read_text()
    assert "o_payload[17:0]" in v.split("*/")[0]  # the header: 3 outputs of s6
    ports = re.search(r"^module acc\((.*?)\);", v, re.M).group(1).replace(" ", "").split(",")
    assert sorted(ports) == sorted(["clk", "rst", "i_valid", "i_ready", "i_payload", "o_valid",
                                    "o_ready", "o_payload"])


def test_help_exits_zero():
    for command in ("sim", "verilog"):
        r = subprocess.run([sys.executable, "-m", "tailor.cli", command, "--help"],
                           capture_output=True, text=True)
        assert r.returncode == 0 and "NET.json" in r.stdout


def test_default_parallelism_is_balanced_and_round_trips(tmp_path):
    from netdesc.builder import resnet8_shaped
    from rtl.hwconfig import DEFAULT_CAP, HwConfig, load_hw, save_hw
    net = resnet8_shaped()
    hw = HwConfig.default(net)
    weighted = [l for l in net.layers if l.has_weights]
    assert set(hw.parallelism) == {l.name for l in weighted}
    target = max(-(-netdesc.macs(l) // hw.parallelism[l.name]) for l in weighted)
    assert target == max(-(-netdesc.macs(l) // DEFAULT_CAP) for l in weighted)
    for l in weighted:  # the smallest array that keeps up with the slowest layer
        p = hw.parallelism[l.name]
        assert 1 <= p <= DEFAULT_CAP and -(-netdesc.macs(l) // p) <= target
        assert p == 1 or -(-netdesc.macs(l) // (p - 1)) > target
    hw.fifo_depths = {"b1_add": 70}
    hw.rate_fifo_depths = {"b2_add.b": 0}
    save_hw(hw, tmp_path / "hw.json")
    back = load_hw(tmp_path / "hw.json", net)
    assert (back.parallelism, back.fifo_depths, back.rate_fifo_depths, back.memory_style) == \
        (hw.parallelism, hw.fifo_depths, hw.rate_fifo_depths, hw.memory_style)


@pytest.mark.parametrize("memory, skips", [("on_chip", "separate"), ("off_chip", "hold")])
def test_sim_on_the_pe_array_equals_ref(tiny, tmp_path, capsys, memory, skips):
    x = np.random.default_rng(1).integers(0, 256, size=(2, 1, 4, 4))
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "hw.json").write_text(json.dumps(
        {"array": {"rows": 2, "cols": 1, "memory": memory, "skips": skips}}))
    code, out, _ = _run(["sim", str(tiny), "--arch", "array", "--hw", str(tmp_path / "hw.json"),
                         "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"),
                         "--bandwidth", "1", "--latency", "5", "--json"], capsys)
    assert code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), netdesc.run(netdesc.load(tiny), x))
    report = json.loads(out)
    total = report["array"]["total"]
    assert report["steady_state_cycles"] == total["cycles"]
    assert (total["bytes"] > 0) == (memory == "off_chip")
    assert report["array"]["memory_port"] == ({"bytes_per_cycle": 1, "latency": 5}
                                              if memory == "off_chip" else None)


def test_traffic_per_layer_and_total(capsys):
    code, out, _ = _run(["traffic", str(EXAMPLE), "--bandwidth", "2", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    layers, total = report["layers"], report["total"]
    assert total["bytes"] == sum(sum(r["bytes_read"].values()) + r["bytes_written"]
                                 for r in layers) > 0
    assert total["cycles"] > total["mac_cycles"] > 0
    code, out, _ = _run(["traffic", str(EXAMPLE), "--bandwidth", "2", "--skips", "hold"], capsys)
    assert code == 0 and "skips hold" in out and "memory port 2 bytes/cycle" in out
    held = int(re.search(r"memory port: ([\d,]+) per inference", out).group(1).replace(",", ""))
    assert held < total["bytes"]


def test_verilog_of_an_off_chip_array_has_the_memory_port(tiny, tmp_path, capsys):
    (tmp_path / "hw.json").write_text(json.dumps({"array": {"memory": "off_chip"}}))
    code, _, _ = _run(["verilog", str(tiny), "--arch", "array", "--hw", str(tmp_path / "hw.json"),
                       "--out", str(tmp_path / "top.v")], capsys)
    assert code == 0
    v = (tmp_path / "top.v").read_text()
    assert "PE array 4x4, memory off_chip" in v.split("*/")[0]
    ports = re.search(r"^module tailor_top\((.*?)\);", v, re.M).group(1).replace(" ", "").split(",")
    assert {"mem_req_valid", "mem_req_ready", "mem_req_addr", "mem_req_write", "mem_req_data",
            "mem_rsp_valid", "mem_rsp_data", "i_payload", "o_payload"} <= set(ports)
