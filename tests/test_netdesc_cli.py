"""`tailor check` and `tailor ref`: results on valid input, one-line errors and no output file on
broken input."""

import json
import subprocess
import sys

import numpy as np
import pytest

import netdesc
from tailor.cli import main


@pytest.fixture
def small(tmp_path):
    from netdesc.builder import small_resnet
    path = tmp_path / "small.json"
    netdesc.save(small_resnet(), path)
    return path


def test_check_prints_summary(small, capsys):
    assert main(["check", str(small)]) == 0
    out = capsys.readouterr().out
    assert "is valid" in out and "b1_add" in out and "parameters: 762" in out
    assert main(["check", str(small), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert [k["span"] for k in s["skips"]] == [2, 1]
    assert s["macs_per_inference"] == sum(netdesc.macs(l) for l in netdesc.load(small).layers)


def test_ref_batch_and_single(small, tmp_path):
    net = netdesc.load(small)
    x = np.random.default_rng(0).integers(0, 256, size=(3, 1, 8, 8))
    np.save(tmp_path / "x.npy", x)
    assert main(["ref", str(small), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.int64 and np.array_equal(y, netdesc.run(net, x))
    np.save(tmp_path / "x1.npy", x[1].astype(np.uint8))
    assert main(["ref", str(small), "--input", str(tmp_path / "x1.npy"), "--output", str(tmp_path / "y1.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "y1.npy"), y[1])


@pytest.mark.parametrize("make_input, message", [
    (lambda p: np.save(p, np.zeros((2, 8, 8), int)), r"x.npy: input must have shape \[N, 1, 8, 8\]"),
    (lambda p: np.save(p, np.full((1, 8, 8), 256)), r"input values must be u8 integers in \[0, 255\] \(found 256\)"),
    (lambda p: np.save(p, np.zeros((1, 8, 8))), r"must be an integer array"),
    (lambda p: p.write_bytes(b"not numpy"), r"x.npy: is not a readable .npy array"),
    (lambda p: None, r"x.npy: file not found"),
])
def test_ref_rejects_bad_input_without_output(small, tmp_path, capsys, make_input, message):
    make_input(tmp_path / "x.npy")
    out = tmp_path / "y.npy"
    assert main(["ref", str(small), "--input", str(tmp_path / "x.npy"), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tailor ref: error: ")
    assert __import__("re").search(message, err), err
    assert not out.exists() and not list(tmp_path.glob(".y.npy*"))


def test_broken_netdesc_at_the_command_line_no_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "netdesc", "version": 1, "name": "b",
                               "input": {"name": "x", "shape": [1, 2, 2], "bits": 8, "signed": False},
                               "layers": [{"name": "c", "op": "conv2d", "input": "x", "out_channels": 1,
                                           "kernel": 1, "stride": 3, "padding": 0, "weights": [[[[1]]]],
                                           "weight_bits": 2, "bias": None, "shift": 0, "relu": False,
                                           "bits": 8, "signed": False}],
                               "output": "c"}))
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 2), int))
    for args in (["check", str(bad)],
                 ["ref", str(bad), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]):
        proc = subprocess.run([sys.executable, "-m", "tailor.cli", *args], capture_output=True, text=True)
        assert proc.returncode == 1
        assert proc.stderr.strip() == f"tailor {args[0]}: error: {bad}: layer 'c': 'stride' must be 1..2 (got 3)"
        assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "y.npy").exists()
