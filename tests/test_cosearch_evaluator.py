"""The learned cost evaluator: features exact on one-hot encodings, gradients to every decision,
save / load, the hardware network's output, the CLI's errors. Real measured rows only: they are
read from the committed cost data (no synthesis here)."""

import gc
import json

import numpy as np
import pytest
import torch

from cosearch.costdata import build_netdesc, read_rows
from cosearch.cost_metrics import METRICS
from cosearch.evaluator import load_evaluator
from cosearch.evaluator_training import train_evaluator
from cosearch.features import FEATURES, Features, rom_bram_blocks
from cosearch.space import load_space
from rtl.folded_conv import FoldedConvEngine
from tailor.cli import main
from common.errors import TailorError

# Built designs are inspected, not elaborated (the FIFO sizing, too, builds plans it drops).
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

SPACE = "cosearch/spaces/digits.json"
DATA = "cosearch/data/digits-ecp5.jsonl"
ROWS = 24  # the first rows of the committed data: enough to train briefly


@pytest.fixture(scope="module")
def space():
    return load_space(SPACE)


@pytest.fixture(scope="module")
def trained(space):
    torch.manual_seed(0)
    ev, info = train_evaluator(space, read_rows(DATA)[:ROWS], epochs=200, hw_steps=20)
    return ev, info


def _relaxed(space, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, space.encoding_size, generator=g)
    enc = torch.cat([torch.softmax(logits[:, s], dim=1) for _, s in space.slices()], dim=1)
    return enc.requires_grad_(True)


# -- features --------------------------------------------------------------------------------

def test_one_hot_features_are_the_built_designs_counts(space):
    """For sampled points: per layer, MACs and parameters equal netdesc.graph's for the built
    netdesc, cycles the engine's pixels x MAC-schedule cycles, multipliers its MAC grid; absent
    layers (a removed skip's projection) have all-zero features."""
    from netdesc import macs, parameters
    from rtl.network import NetworkTop
    feats = Features(space)
    rng = np.random.default_rng(7)
    for _ in range(3):
        point = space.sample(rng)
        net = build_netdesc(space, point, seed=1)
        top = NetworkTop(net, space.hw_config(point, net))
        x = feats.numpy(space.encode(point)[None])[0]
        built = {l.name: l for l in net.layers if l.has_weights}
        for u, name in enumerate(feats.unit_names):
            if feats.units[u].kind.startswith("skip") or name == "pool":
                continue
            f = dict(zip(FEATURES, x[u]))
            if name not in built:
                assert not x[u].any(), name
                continue
            layer, engine = built[name], top.engines[name]
            sch = engine.schedule if layer.op == "conv2d" else engine.pipeline.schedule
            pixels = layer.shape[1] * layer.shape[2] if layer.op == "conv2d" else 1
            assert f["exists"] == 1
            assert f["macs"] == macs(layer) and f["params"] == parameters(layer), name
            assert f["weight_bits"] == layer.weights.size * layer.weight_bits
            assert f["cycles"] == pixels * sch.cycles, name
            assert f["mults"] == sch.lanes_out * sch.lanes_in
            assert f["rom_words"] * f["rom_width"] >= f["weight_bits"]
            cin = net.shape_of(layer.inputs[0])[0]
            bits = net.type_of(layer.inputs[0]).bits
            if isinstance(engine, FoldedConvEngine) and layer.kernel > 1:
                # its window memory, no window register
                assert f["lb_bits"] == engine.ring.depth * bits
                assert f["window_bits"] == f["operand_bits"] == 0
            elif isinstance(engine, FoldedConvEngine):
                # A 1x1 conv folded only because its input comes in channel groups, a choice
                # over the whole network that the features leave out.
                assert top.plan.lanes[layer.inputs[0]] < cin
            elif layer.op == "conv2d" and layer.kernel > 1:  # the row memory LineBuffer builds
                assert f["lb_bits"] == (layer.kernel - 1) * engine.scan.row_steps * cin * bits
        skips = {s: point[f"skip:{s}"] for s in space.blocks}
        for block, choice in skips.items():
            for kind, built_by in (("skip_long", "keep"), ("skip_short1", "shorten"),
                                   ("skip_short2", "shorten")):
                u = feats.unit_names.index(f"{block}_{kind}")
                assert x[u, FEATURES.index("exists")] == (choice == built_by)
    del top
    gc.collect()  # the unelaborated designs go here, under this module's filter


def test_bram_rule_of_the_rom():
    # 36 x 32 ROM (1152 bits): 1 block costs 128 > 72 in logic; 288 x 8 (2304 bits): BRAM.
    assert rom_bram_blocks(36, 32) == 0
    assert rom_bram_blocks(288, 8) == 1
    assert rom_bram_blocks(2304, 8) == 2


# -- gradients -------------------------------------------------------------------------------

def test_cost_of_generated_hardware_reaches_every_architecture_block(space, trained):
    ev, _ = trained
    enc = _relaxed(space)
    costs = ev.cost(ev.hw(enc))
    (ev.objective(costs).sum() + costs["cycles"].sum()).backward()
    for d, s in space.slices():
        if d.kind != "par":
            assert enc.grad[:, s].abs().sum() > 0, d.key


def test_cost_alone_reaches_every_block_including_parallelism(space, trained):
    ev, _ = trained
    enc = _relaxed(space, seed=1)
    costs = ev.cost(enc)
    sum(c.sum() for c in costs.values()).backward()
    for d, s in space.slices():
        assert enc.grad[:, s].abs().sum() > 0, d.key


def test_hardware_network_gives_probability_blocks_that_ignore_the_given_parallelism(space,
                                                                                   trained):
    ev, info = trained
    enc = _relaxed(space, seed=2).detach()
    with torch.no_grad():
        out = ev.hw(enc)
        flipped = enc.clone()
        for d, s in space.slices():
            if d.kind == "par":
                flipped[:, s] = flipped[:, s].flip(1)
        again = ev.hw(flipped)
    for d, s in space.slices():
        block = out[:, s]
        assert torch.all(block >= 0) and torch.allclose(block.sum(1), torch.ones(len(enc)))
        if d.kind != "par":
            assert torch.equal(block, enc[:, s])
    assert torch.allclose(out, again)
    assert set(info["hwgen"]) >= {"meets_budget", "layers_optimal", "objective_excess"}


# -- training, save / load -------------------------------------------------------------------

def test_split_holds_out_every_other_index_and_counts_failures(space, trained):
    _, info = trained
    rows = read_rows(DATA)[:ROWS]
    ok = [r for r in rows if r["status"] == "ok"]
    assert info["held_out"] == sum(r["index"] % 2 == 0 for r in ok)
    assert info["train"] + info["validation"] == len(ok) - info["held_out"]
    assert info["failed"] == len(rows) - len(ok)


def test_save_and_load_give_identical_predictions(space, trained, tmp_path):
    ev, _ = trained
    ev.save(tmp_path / "ev.pt")
    again = load_evaluator(tmp_path / "ev.pt")
    enc = np.stack([space.encode(r["point"]) for r in read_rows(DATA)[:ROWS]])
    assert np.array_equal(ev.predict(enc), again.predict(enc))
    relaxed = _relaxed(space).detach()
    with torch.no_grad():
        assert torch.equal(ev.hw(relaxed), again.hw(relaxed))
    assert again.space.to_json_obj() == space.to_json_obj()


def test_load_errors(tmp_path):
    with pytest.raises(TailorError, match="missing.pt: file not found"):
        load_evaluator(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_text("not a model")
    with pytest.raises(TailorError, match="bad.pt: is not a saved evaluator"):
        load_evaluator(bad)


# -- CLI -------------------------------------------------------------------------------------

def test_cli_train_and_eval(tmp_path, capsys):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in read_rows(DATA)[:ROWS]))
    out = tmp_path / "ev.pt"
    assert main(["evaluator", "train", str(data), "--space", SPACE, "--out", str(out),
                 "--epochs", "50", "--hw-steps", "5"]) == 0
    text = capsys.readouterr().out
    assert "held-out designs" in text and "count model" in text and "gradient boosting" in text
    assert main(["evaluator", "eval", str(out), str(data), "--report", str(tmp_path / "rep"),
                 "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics["models"]["evaluator (cost network)"]) == set(METRICS)
    for name in ("report.md", "metrics.json", "scatter.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 0


def test_cli_errors(tmp_path, capsys):
    rows = read_rows(DATA)[:ROWS]
    missing = tmp_path / "missing.jsonl"
    assert main(["evaluator", "train", str(missing), "--space", SPACE, "--out",
                 str(tmp_path / "e.pt")]) == 1
    assert "missing.jsonl: file not found" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["evaluator", "train", str(empty), "--space", SPACE, "--out",
                 str(tmp_path / "e.pt")]) == 1
    assert "empty.jsonl: no rows" in capsys.readouterr().err
    other_target = tmp_path / "ice40.jsonl"
    other_target.write_text("".join(json.dumps(dict(r, target="ice40")) + "\n" for r in rows))
    assert main(["evaluator", "train", str(other_target), "--space", SPACE, "--out",
                 str(tmp_path / "e.pt")]) == 1
    assert "ice40.jsonl: row 1 is for target 'ice40'" in capsys.readouterr().err
    toy = tmp_path / "toy.json"
    toy.write_text(json.dumps({**json.loads(open(SPACE).read()), "name": "toy",
                               "parallelism": [1]}))
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["evaluator", "train", str(data), "--space", str(toy), "--out",
                 str(tmp_path / "e.pt")]) == 1
    err = capsys.readouterr().err
    assert "data.jsonl: row 1: par:" in err and "is not one of [1] (rows of another space?)" in err
    assert not (tmp_path / "e.pt").exists()
    assert main(["evaluator", "eval", str(tmp_path / "nope.pt"), str(data)]) == 1
    assert "nope.pt: file not found" in capsys.readouterr().err
