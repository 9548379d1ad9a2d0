"""`tailor train` -> `tailor optimize` -> `tailor export` on digits with one epoch each, and
one-line errors for bad paths and arguments."""

import json

import pytest
import torch

import netdesc
from tailor.cli import main

torch.set_num_threads(1)


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_optimize_export_round_trip(tmp_path, capsys):
    t, s, net = tmp_path / "t.pt", tmp_path / "s.pt", tmp_path / "out" / "net.json"
    code, out, _ = run(capsys, "train", "--epochs", "1", "--limit-train", "256", "--out", str(t),
                       "--json", "--quiet")
    assert code == 0
    summary = json.loads(out)
    assert len(summary["history"]) == 1 and summary["history"][0]["skips"] == "L L L"

    code, out, _ = run(capsys, "optimize", "--teacher", str(t), "--mode", "shorten", "--every", "1",
                       "--finetune", "0", "--out", str(s), "--json", "--quiet")
    assert code == 0
    summary = json.loads(out)
    assert [st["skips"] for st in summary["stages"]] == ["S12 L L", "S12 S12 L", "S12 S12 S12"]
    assert summary["config"]["alpha"] == 0.35

    code, out, _ = run(capsys, "export", str(s), "--out", str(net), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["bit_exact"] and report["test_images"] == 360
    assert report["integer_test_acc"] == pytest.approx(summary["integer_test_acc"])
    loaded = netdesc.load(net)
    assert [k.span for k in netdesc.skips(loaded)] == [1] * 6

    code, out, _ = run(capsys, "optimize", "--teacher", str(t), "--mode", "remove", "--every", "1",
                       "--finetune", "0", "--out", str(s), "--quiet")
    assert code == 0 and "- - -" in out
    assert run(capsys, "export", str(s), "--out", str(net), "--no-verify")[0] == 0
    assert not any(l.op == "add" for l in netdesc.load(net).layers)


def test_errors_are_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "optimize", "--teacher", str(tmp_path / "missing.pt"))
    assert code == 1 and err.strip().endswith("missing.pt: checkpoint not found")
    assert len(err.strip().splitlines()) == 1

    (tmp_path / "junk.pt").write_bytes(b"junk")
    code, _, err = run(capsys, "export", str(tmp_path / "junk.pt"), "--out", str(tmp_path / "n.json"))
    assert code == 1 and "junk.pt: not a readable checkpoint" in err
    assert not (tmp_path / "n.json").exists()

    code, _, err = run(capsys, "train", "--data", "mnist", "--out", str(tmp_path / "t.pt"))
    assert code == 1 and "needs the path" in err
    code, _, err = run(capsys, "train", "--data", "cifar10", "--data-path", str(tmp_path / "none"),
                       "--out", str(tmp_path / "t.pt"))
    assert code == 1 and "none: CIFAR-10 folder not found" in err
    with pytest.raises(SystemExit) as stop:
        main(["train", "--weight-bits", "9", "--out", str(tmp_path / "t.pt")])
    assert stop.value.code == 2 and "argument --weight-bits: must be an integer in 2..8" in \
        capsys.readouterr().err
    assert not (tmp_path / "t.pt").exists()
    code, _, err = run(capsys, "optimize")
    assert code == 1 and "--teacher" in err
    with pytest.raises(SystemExit):
        main(["train", "--epochs", "0"])
