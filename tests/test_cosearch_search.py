"""The co-search: the relaxed supernet passes gradients to every architecture decision, a search
on a toy space runs end to end (real Yosys on tiny designs) and exports valid netdescs, and the
front / hypervolume / accuracy-gap arithmetic on hand-checkable fronts."""

import json
import math

import numpy as np
import pytest
import torch

import netdesc
from cosearch import (fronts, point_selection, point_training, search, search_comparison,
                      search_config, search_points, search_report, supernet_training)
from cosearch.costdata import measure, read_rows
from cosearch.evaluator_training import train_evaluator
from cosearch.space import load_space, parse_space
from cosearch.supernet import SuperNet
from cosearch.teacher import load_teacher
from nn.data import load_dataset
from nn.distill import kd_loss

DIGITS_SPACE = "cosearch/spaces/digits.json"
DIGITS_DATA = "cosearch/data/digits-ecp5.jsonl"

# A toy space: one skip (keep / remove), one width choice, 4-bit, one MAC per cycle; its
# designs are the smallest digits-small networks, so synthesis is quick.
TOY = {"format": "tailor-space", "version": 1, "name": "toy", "model": "digits-small",
       "data": "digits", "target": "ecp5", "skips": {"b1": ["keep", "remove"]},
       "widths": {"stem": [4], "b1": [4], "b2": [4], "b3": [4, 8]},
       "weight_bits": [4], "act_bits": [4], "parallelism": [1]}


# -- fronts ----------------------------------------------------------------------------------

def test_pareto_front_keeps_the_non_dominated_points():
    points = [(0.2, 20), (0.1, 50), (0.15, 60), (0.3, 20), (0.1, 55)]
    assert fronts.pareto_front(points) == [(0.1, 50), (0.2, 20)]


def test_dominated_means_matched_or_beaten_in_both():
    front = [(0.1, 50), (0.2, 20)]
    assert fronts.dominated((0.1, 50), front)  # a tie is matched
    assert fronts.dominated((0.2, 30), front)
    assert not fronts.dominated((0.15, 30), front)  # between the two: beaten by neither
    assert not fronts.dominated((0.05, 100), front)  # better error than any
    assert not fronts.dominated((0.3, 10), front)  # cheaper than any
    assert not fronts.dominated((0.15, 40), [])


def test_attainment_surfaces_of_hand_checked_runs():
    runs = [[(0.1, 50), (0.3, 10)], [(0.2, 30)], [(0.1, 40)]]
    # reached by any run: the union's front
    assert fronts.attainment_surface(runs, 1) == [(0.1, 40), (0.2, 30), (0.3, 10)]
    # by two runs: (0.1, 50) by the first and third, (0.2, 40) by the second and third,
    # (0.3, 30) by the first and second
    assert fronts.attainment_surface(runs, 2) == [(0.1, 50), (0.2, 40), (0.3, 30)]
    # by all three: the second run needs error >= 0.2 and cost >= 30, the third cost >= 40
    assert fronts.attainment_surface(runs, 3) == [(0.2, 50), (0.3, 40)]
    with pytest.raises(ValueError, match="k must be in 1..3"):
        fronts.attainment_surface(runs, 4)


def _measured_row(accuracy, cost, status="ok"):
    return {"accuracy": accuracy, "status": status, "measured": {"LUT": cost, "FF": 0}}


def test_accuracy_gap_at_equal_cost_takes_out_each_seeds_level_and_the_cost():
    def on_trend(level, cost, gap=0.0):
        return _measured_row(level + 0.01 * math.log(cost / 10_000) + gap, cost)

    # seed 1 is two points less accurate overall and holds most of the co-search's points: a
    # plain difference of means would mix its level into the gap
    runs = [{"cosearch": [on_trend(0.97, 10_000, 0.004), on_trend(0.97, 20_000, 0.004)],
             "random": [on_trend(0.97, c) for c in (15_000, 30_000, 40_000)]},
            {"cosearch": [on_trend(0.95, c, 0.004) for c in (9_000, 12_000, 25_000)],
             "random": [on_trend(0.95, 18_000), _measured_row(0.5, 1, status="failed")]}]
    fit = search_comparison.accuracy_gap_at_equal_cost(runs)
    assert fit.gap == pytest.approx(0.004, abs=1e-12)
    assert fit.slope == pytest.approx(0.01)
    assert fit.stderr == pytest.approx(0, abs=1e-9)
    assert fit.points == 9  # the failed measurement is left out
    runs[0]["random"][0]["accuracy"] += 0.002  # off the trend: the gap is now uncertain
    assert search_comparison.accuracy_gap_at_equal_cost(runs).stderr > 1e-4
    # without co-search points there is no gap to fit
    assert search_comparison.accuracy_gap_at_equal_cost(
        [{"cosearch": [], "random": runs[0]["random"]}]) is None


def test_dominance_model_on_points_exactly_on_a_trend():
    def point(cost, gap=0.0, lam=None):
        row = _measured_row(0.9 + 0.02 * math.log(cost) + gap, cost)
        return dict(row, lam=lam) if lam is not None else row

    # no spread: a co-search point beats a random one when cheaper and, with the gap added, at
    # least as accurate. Random at 200 needs the λ 1 point (100): gap >= 0.02 ln 2 = 0.0139;
    # random at 400 needs the λ 0.1 point (300): gap >= 0.02 ln(4/3) = 0.0058
    runs = [{"cosearch": [point(100, 0.004, 1.0), point(300, 0.004, 0.1)],
             "random": [point(200), point(400)]}]
    fit = search_comparison.accuracy_gap_at_equal_cost(runs)
    assert fit.gap == pytest.approx(0.004) and fit.spread["random"] == pytest.approx(0)
    at_fit, between, above = search_comparison.dominance_chance(runs, fit, [fit.gap, 0.01, 0.014])
    # between the two, only seeds whose two random points both cost 400 are dominated: 1 in 4
    assert at_fit == 0 and between == pytest.approx(0.25, abs=0.02) and above == 1
    assert search_comparison.gaps_for_dominance(runs, fit, [0.5]) == {0.5: pytest.approx(0.014)}
    runs[0]["random"][0]["accuracy"] += 0.01  # off the trend: the model now has a spread
    fit = search_comparison.accuracy_gap_at_equal_cost(runs)
    assert fit.spread["random"] > 0.001
    assert 0 < search_comparison.dominance_chance(runs, fit, [0.014])[0] < 1


def test_hypervolume_of_hand_checked_fronts():
    ref = (1.0, 100.0)
    # (1 - 0.1)·(100 - 50) + (1 - 0.2)·(50 - 20) = 45 + 24 = 69, of a 100 box
    assert fronts.hypervolume([(0.1, 50), (0.2, 20)], ref) == pytest.approx(0.69)
    # a dominated point and a point outside the box change nothing
    assert fronts.hypervolume([(0.1, 50), (0.2, 20), (0.3, 40), (1.5, 1)], ref) == \
        pytest.approx(0.69)
    assert fronts.hypervolume([], ref) == 0
    assert fronts.hypervolume([(0.0, 0.0)], ref) == pytest.approx(1.0)
    # the reference point: baseline error + 5 points, 1.2 × the baseline's LUT+FF
    assert fronts.reference_point(0.03, 1000) == pytest.approx((0.08, 1200))


# -- the relaxed encoding --------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_evaluator():
    """An evaluator of the digits space trained briefly on a few rows of the committed cost
    data (the gradients, not its accuracy, are under test)."""
    space = load_space(DIGITS_SPACE)
    ev, _ = train_evaluator(space, read_rows(DIGITS_DATA)[:12], epochs=100, hw_steps=20)
    return space, ev


@pytest.mark.parametrize("hard", [True, False])
def test_every_architecture_decision_gets_a_gradient(digits_evaluator, hard):
    space, ev = digits_evaluator
    torch.manual_seed(0)
    net = SuperNet(space)
    data = load_dataset("digits", limit_train=16)
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    probs = net.sample(tau=1.0, hard=hard)
    logits = net(x, probs)
    teacher = torch.randn_like(logits)
    task = kd_loss(logits, teacher, y)
    cost = ev.objective(ev.cost(ev.hw(net.encoding(probs))))[0]

    # through the task loss alone: the relaxation reaches every decision of the network
    grads = torch.autograd.grad(task, list(net.arch_logits), retain_graph=True)
    silent = [d.key for d, g in zip(net.arch_decisions, grads) if not g.abs().sum() > 0]
    assert not silent, f"the task loss does not reach {silent}"
    # and through task + λ·cost (the search's loss)
    grads = torch.autograd.grad(task + 0.5 * cost / cost.detach(), list(net.arch_logits))
    silent = [d.key for d, g in zip(net.arch_decisions, grads) if not g.abs().sum() > 0]
    assert not silent, f"the loss does not reach {silent}"
    assert {d.kind for d in net.arch_decisions} == {"skip", "width", "wbits", "abits"}
    assert len(net.arch_decisions) == sum(d.kind != "par" for d in space.decisions)


def test_the_cost_term_reaches_the_architecture_through_the_hardware_net(digits_evaluator):
    space, ev = digits_evaluator
    net = SuperNet(space)
    probs = net.probabilities()
    cost = ev.objective(ev.cost(ev.hw(net.encoding(probs))))[0]
    grads = torch.autograd.grad(cost, list(net.arch_logits))
    moved = [d.kind for d, g in zip(net.arch_decisions, grads) if g.abs().sum() > 0]
    assert {"skip", "width", "wbits"} <= set(moved)


def test_discretised_point_is_a_point_of_the_space(digits_evaluator):
    space, ev = digits_evaluator
    net = SuperNet(space)
    with torch.no_grad():
        for logits in net.arch_logits:
            logits.copy_(torch.randn(len(logits)))
    point = search_points.with_hw(space, ev, net.point())
    assert space.check_point(point) is point
    for d, logits in zip(net.arch_decisions, net.arch_logits):
        assert point[d.key] == d.options[int(logits.argmax())]


def test_selection_leaves_the_supernet_alone_and_follows_a_dominant_cost(digits_evaluator):
    space, ev = digits_evaluator
    torch.manual_seed(0)
    net = SuperNet(space)
    with torch.no_grad():
        for logits in net.arch_logits:
            logits.copy_(torch.randn(len(logits)))
    data = load_dataset("digits", limit_train=64)
    teacher = space.build_model(search_points.baseline_arch(space)).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    cfg = search_config.SearchConfig(select_images=64, select_sweeps=20)
    arch, changed = point_selection.select_point(space, ev, net, net.point(), teacher, data, 1e6,
                                                 cfg)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert changed == sum(arch[k] != v for k, v in net.point().items()) > 0

    def objective(a):
        return search_points.predict(space, ev, search_points.with_hw(space, ev, a))["objective"]
    # λ = 10^6: the task loss (a few units) is noise beside the cost, so the choice is a local
    # minimum of the predicted objective: no single decision changed makes it cheaper
    tolerance = 1e-4 * search_points.baseline_objective(space, ev)
    chosen = objective(arch)
    assert chosen < objective(net.point())
    for d in net.arch_decisions:
        for option in d.options:
            assert objective(dict(arch, **{d.key: option})) >= chosen - tolerance, d.key


def test_the_shared_warm_up_keeps_the_budget_and_is_the_judge(digits_evaluator):
    space, ev = digits_evaluator
    # 4 λs × 3 epochs: the budget of four separate warm-ups of 30% of 10 epochs
    assert search_config.warmup_epochs(search_config.SearchConfig(epochs=10, warmup=0.3), 4) == 12
    cfg = search_config.SearchConfig(epochs=2, warmup=0.5)
    data = load_dataset("digits", limit_train=64)
    teacher = space.build_model(search_points.baseline_arch(space)).eval()
    warm = supernet_training.warm_up_supernet(space, teacher, data, 1, cfg)
    assert all(float(v.abs().sum()) == 0 for k, v in warm.state.items()
               if k.startswith("arch_logits"))  # the warm-up draws uniformly
    net, judge, history = supernet_training.train_supernet(space, ev, teacher, data, 1.0, cfg, warm)
    assert all(torch.equal(warm.state[k], v) for k, v in judge.state_dict().items())
    assert not all(torch.equal(warm.state[k], v) for k, v in net.state_dict().items())
    assert [h["epoch"] for h in history] == [1]
    # the warm-up is left as it was: a second λ searched from it starts where the first did
    # (in the process pool every λ holds the same shared-memory warm-up tensors)
    again, _, _ = supernet_training.train_supernet(space, ev, teacher, data, 1.0, cfg, warm)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in net.state_dict().items())


def test_repeats_train_the_point_with_other_seeds_and_keep_the_first():
    from dataclasses import replace
    from nn.train import evaluate

    space = parse_space(TOY)
    point = space.sample(np.random.default_rng(0))
    data = load_dataset("digits", limit_train=64)
    teacher = space.build_model(search_points.baseline_arch(space)).eval()
    cfg = search_config.SearchConfig(repeats=2, seed=5)
    model, accuracies = point_training.train_repeats(space, point, teacher, data, 1, cfg)
    alone = point_training.train_point(space, point, teacher, data, 1, replace(cfg, repeats=1))
    assert all(torch.equal(v, alone.state_dict()[k]) for k, v in model.state_dict().items())
    other = point_training.train_point(space, point, teacher, data, 1,
                               replace(cfg, seed=5 + point_training.REPEAT_SEED_STRIDE))
    assert not all(torch.equal(v, other.state_dict()[k]) for k, v in model.state_dict().items())
    assert accuracies == [evaluate(alone, data, integer=True), evaluate(other, data, integer=True)]


# -- a whole search on the toy space ---------------------------------------------------------

def test_toy_search_finishes_and_exports_valid_netdescs(tmp_path):
    """On a Dask LocalCluster: the sweep's jobs travel to other processes as cost data's do
    (the local pool is the same executor, tested with cost data)."""
    from distributed import LocalCluster
    space_path = tmp_path / "toy.json"
    space_path.write_text(json.dumps(TOY))
    space = load_space(space_path)
    # The evaluator learns from one real design of the toy space (index 3: a training row).
    row = measure(space.to_json_obj(), space.sample(np.random.default_rng(0)), index=3)
    assert row["status"] == "ok", row.get("error")
    ev, _ = train_evaluator(space, [row], epochs=50, hw_steps=10)
    ev.save(tmp_path / "ev.pt")

    data = load_dataset("digits")
    teacher = load_teacher(None, space, data, epochs=1, log=lambda line: None)
    # 1 warm-up and 1 search epoch; each point trained twice
    cfg = search_config.SearchConfig(epochs=2, retrain=1, sim_images=2, repeats=2)
    lines = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        results = search.run_search(space, tmp_path / "ev.pt", teacher, "digits", [1.0], cfg,
                                    n_random=1, dask=cluster.scheduler_address,
                                    outdir=tmp_path / "out", log=lines.append)
    rows = [results["baseline"]] + results["cosearch"] + results["random"]
    assert [r["kind"] for r in rows] == ["baseline", "cosearch", "random"]
    assert results["random"][0]["epochs"] == results["budget_epochs"] == 3
    assert results["warmup"]["epochs"] == len(results["warmup"]["history"]) == 1
    assert [h["epoch"] for h in results["cosearch"][0]["history"]] == [1]
    for r in rows:
        assert r["status"] == "ok", r.get("error")
        space.check_point(r["point"])
        net = netdesc.load(tmp_path / "out" / f"{r['name']}.json")
        out = netdesc.run(net, data.x_test[:4])
        assert out.shape == (4, 10)
        assert r["measured"]["sim_cycles"] == r["measured"]["cycles"]
        assert r["measured"]["LUT"] > 0 and 0 <= r["accuracy"] <= 1
        assert len(r["accuracies"]) == (1 if r["kind"] == "baseline" else 2)
        assert r["accuracy"] == pytest.approx(np.mean(r["accuracies"]))
        assert (tmp_path / "out" / f"{r['name']}.hw.json").is_file()
    assert len(lines) == 4  # the plan, then one line per measured design
    assert 0 <= results["hypervolume"]["cosearch"] <= 1
    assert set(results["random_undominated"]) <= {"random-0"}
    search_report.write_report(results, tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "a shared warm-up of 1 epochs, then 1 search epochs per λ" in text
    assert "the mean of 2 trainings" in text and search_report.RUNS_HEADER in text
    assert all((tmp_path / "report" / f).stat().st_size > 0
               for f in ("fronts.png", "predicted_vs_measured.png", "results.json"))


def test_a_teacher_that_is_not_the_baseline_is_refused(tmp_path):
    from nn.checkpoint import model_record, save_checkpoint
    from common.errors import TailorError

    space = parse_space(TOY)
    model = space.build_model(search_points.baseline_arch(space))
    model.blocks[0].remove_skips()
    save_checkpoint(tmp_path / "t.pt", {"kind": "train", "model": model_record(model),
                                        "config": {}, "epoch": 0, "optimizer": None,
                                        "metrics": {}})
    with pytest.raises(TailorError, match="must be the space's baseline"):
        load_teacher(tmp_path / "t.pt", space, load_dataset("digits", limit_train=8))
