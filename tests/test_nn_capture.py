"""Bring your own network: each torch.fx mapping rule and each refusal of :mod:`nn.capture`,
the residuals :mod:`nn.graphnet` finds and switches, the user's weights carried over, and the
command line (`tailor capture`, `tailor train --model FILE.py:FUNC`)."""

import operator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from common.errors import TailorError
from nn.capture import capture, copy_weights, instantiate
from nn.checkpoint import model_from_record, model_record
from nn.distill import skip_schedule
from nn.graphnet import residuals
from nn.models import make_model
from tailor.cli import main

torch.set_num_threads(1)
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MY_RESNET = f"{EXAMPLES / 'my_resnet.py'}:make"


class Net(nn.Module):
    """A network whose forward is the function it is given (its modules: ``conv`` 4→4 3×3,
    ``bn``, ``relu``, ``fc`` 4→3)."""

    def __init__(self, forward, **modules):
        super().__init__()
        self.fn = forward
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4, 3)
        for name, m in modules.items():
            setattr(self, name, m)

    def forward(self, x):
        return self.fn(self, x)


def graph_of(forward, shape=(4, 6, 6), **modules):
    return capture(Net(forward, **modules), shape, "test")


def ops(graph):
    return [(n["op"], n.get("relu", False)) for n in graph["nodes"]]


def head(m, x):
    """The usual end: global average pool, flatten, linear."""
    return m.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# -- mapping rules ---------------------------------------------------------------------------

@pytest.mark.parametrize("relu", [
    lambda m, x: m.relu(x), lambda m, x: F.relu(x), lambda m, x: torch.relu(x),
    lambda m, x: x.relu(), lambda m, x: F.relu(x, inplace=True), lambda m, x: x.relu_(),
], ids=["module", "functional", "torch", "method", "inplace", "method-inplace"])
def test_conv_bn_relu_fuse_into_one_conv(relu):
    graph = graph_of(lambda m, x: head(m, relu(m, m.bn(m.conv(x)))))
    assert ops(graph) == [("conv", True), ("gap", False), ("dense", False)]
    conv = graph["nodes"][0]
    assert conv["bn"] and not conv["bias"] and conv["modules"] == {"conv": "conv", "bn": "bn"}
    assert (conv["kernel"], conv["stride"], conv["padding"]) == (3, 1, 1)


def test_conv_with_bias_and_no_bn_and_its_geometry():
    graph = graph_of(lambda m, x: head(m, m.c(x)), c=nn.Conv2d(4, 4, (5, 5), 2, 2))
    conv = graph["nodes"][0]
    assert conv["bias"] and not conv["bn"] and not conv["relu"]
    assert (conv["kernel"], conv["stride"], conv["padding"], conv["shape"]) == (5, 2, 2, [4, 3, 3])


@pytest.mark.parametrize("add", [
    lambda a, b: a + b, lambda a, b: torch.add(a, b), lambda a, b: a.add(b),
    lambda a, b: operator.iadd(a, b),
], ids=["plus", "torch.add", "method", "iadd"])
def test_adds(add):
    graph = graph_of(lambda m, x: head(m, m.relu(add(m.conv(x), x))))
    assert ops(graph) == [("conv", False), ("add", True), ("gap", False), ("dense", False)]
    assert graph["nodes"][1]["inputs"] == ["conv", "input"]


@pytest.mark.parametrize("pool", [
    lambda m, x: m.mp(x), lambda m, x: F.max_pool2d(x, 3, 2, 1),
    lambda m, x: F.max_pool2d(x, kernel_size=3, stride=2, padding=1),
], ids=["module", "functional", "keywords"])
def test_maxpool_with_padding(pool):
    graph = graph_of(lambda m, x: head(m, pool(m, x)), mp=nn.MaxPool2d(3, 2, 1))
    mp = graph["nodes"][0]
    assert (mp["op"], mp["kernel"], mp["stride"], mp["padding"], mp["shape"]) == (
        "maxpool", 3, 2, 1, [4, 3, 3])


def test_maxpool_stride_defaults_to_the_kernel():
    assert graph_of(lambda m, x: head(m, F.max_pool2d(x, 2)))["nodes"][0]["stride"] == 2


@pytest.mark.parametrize("gap", [
    lambda m, x: m.ap(x).flatten(1), lambda m, x: F.adaptive_avg_pool2d(x, (1, 1)).view(x.size(0), -1),
    lambda m, x: torch.mean(x, (2, 3)), lambda m, x: x.mean(dim=[-1, -2]),
    lambda m, x: x.mean((2, 3), keepdim=True).reshape(x.size(0), -1), lambda m, x: m.fl(m.ap(x)),
], ids=["module", "functional-view", "torch.mean", "method-mean", "keepdim-reshape", "nn.Flatten"])
def test_global_average_pools_and_flattens(gap):
    graph = graph_of(lambda m, x: m.fc(m.idn(gap(m, x))), ap=nn.AdaptiveAvgPool2d(1),
                     fl=nn.Flatten(), idn=nn.Identity())
    assert ops(graph) == [("gap", False), ("dense", False)]
    assert graph["nodes"][0]["shape"] == [4] and graph["nodes"][1]["input"] == graph["nodes"][0]["name"]


def test_dense_on_a_flattened_map_and_relu_after_linear():
    graph = graph_of(lambda m, x: F.relu(m.l(torch.flatten(x, 1))), l=nn.Linear(4 * 6 * 6, 3))
    assert ops(graph) == [("dense", True)] and graph["nodes"][0]["input"] == "input"


def test_names_follow_module_paths():
    graph = capture(instantiate(MY_RESNET), (1, 8, 8), "my")
    names = [n["name"] for n in graph["nodes"]]
    assert names[:5] == ["conv1", "maxpool", "layer1_conv1", "layer1_conv2", "layer1_add"]
    assert "layer2_downsample_0" in names and graph["output"] == "fc"


# -- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("forward, modules, node, rule", [
    (lambda m, x: head(m, torch.sigmoid(x)), {}, "sigmoid", "torch.sigmoid.*op not supported"),
    (lambda m, x: head(m, m.sg(x)), {"sg": nn.Sigmoid()}, "sg", "nn.Sigmoid.*op not supported"),
    (lambda m, x: head(m, torch.cat([x, x], 1)[:, :4]), {}, "cat", "torch.cat.*op not supported"),
    (lambda m, x: head(m, x * 2), {}, "mul", "operator.mul.*op not supported"),
    (lambda m, x: head(m, m.bn(x)), {}, "bn", "must follow a conv that feeds nothing else"),
    (lambda m, x: head(m, m.relu(F.max_pool2d(x, 2))), {}, "relu",
     "must follow a conv or dense or add"),
    (lambda m, x: head(m, (lambda c: m.relu(c) + c)(m.conv(x))), {}, "relu",
     "must follow a conv or dense or add that feeds nothing else"),
    (lambda m, x: head(m, m.g(x)), {"g": nn.Conv2d(4, 4, 3, padding=1, groups=2)}, "g",
     "groups must be 1"),
    (lambda m, x: head(m, m.d(x)), {"d": nn.Conv2d(4, 4, 3, padding=2, dilation=2)}, "d",
     "dilation must be 1"),
    (lambda m, x: head(m, m.r(x)), {"r": nn.Conv2d(4, 4, (3, 1), padding=1)}, "r",
     r"kernel \(3, 1\) is not square"),
    (lambda m, x: head(m, m.s(x)), {"s": nn.Conv2d(4, 4, 3, padding="same")}, "s",
     "padding must be a number"),
    (lambda m, x: head(m, F.max_pool2d(x, 2, ceil_mode=True)), {}, "max_pool2d", "ceil_mode"),
    (lambda m, x: m.fc(F.adaptive_avg_pool2d(x, 2).flatten(1)[:, :4]), {}, "adaptive_avg_pool2d",
     "only output size 1"),
    (lambda m, x: head(m, x.mean(1, keepdim=True).expand(-1, 4, -1, -1)), {}, "mean",
     "only a mean over H and W"),
    (lambda m, x: head(m, x + x[:, :, :1, :1]), {}, "getitem", "op not supported"),
    (lambda m, x: head(m, torch.add(x, x, alpha=2)), {}, "add", "exactly two tensors"),
    (lambda m, x: m.fc(x.flatten(2).mean(2)), {}, "flatten", r"only flattening to \[N, -1\]"),
    (lambda m, x: m.fc(m.relu(x).mean((2, 3))), {}, "relu", "must follow"),
    (lambda m, x: head(m, x + m.w), {"w": nn.Parameter(torch.zeros(1, 4, 1, 1))}, "w",
     "reads a tensor attribute"),
    (lambda m, x: m.fc(m.l(x)), {"l": nn.Linear(6, 4)}, "l", r"takes a flat vector \[N, F\]"),
    (lambda m, x: (head(m, x), x), {}, "output", "must return one tensor"),
    (lambda m, x: head(m, x + m.one(x)), {"one": nn.Conv2d(4, 1, 1)}, "add",
     "adds tensors of different shapes"),
    (lambda m, x: (lambda f: m.fc(F.relu(m.idn(f)) + f))(m.ap(x).flatten(1)),
     {"ap": nn.AdaptiveAvgPool2d(1), "idn": nn.Identity()}, "relu", "must follow"),
    (lambda m, x: (lambda c: head(m, F.relu(m.idn(c)) + c))(m.conv(x)), {"idn": nn.Identity()},
     "relu", "must follow a conv or dense or add that feeds nothing else"),
    (lambda m, x: head(m, (lambda c: m.bn(c) + c)(m.conv(x))), {}, "bn",
     "must follow a conv that feeds nothing else"),
    (lambda m, x: head(m, m.rp(x)), {"rp": nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect")},
     "rp", "padding must be zeros"),
    (lambda m, x: head(m, F.max_pool2d(x, 3, 1, 1, dilation=2)), {}, "max_pool2d", "dilation"),
])
def test_unsupported_nodes_are_refused_by_name(forward, modules, node, rule):
    with pytest.raises(TailorError, match=rf"^model 'test': node '{node}' \(.*{rule}"):
        graph_of(forward, **modules)


def test_untraceable_and_misshaped_networks_are_refused():
    def branchy(m, x):
        return head(m, x if x.sum() > 0 else -x)

    with pytest.raises(TailorError, match="torch.fx cannot trace it"):
        graph_of(branchy)
    with pytest.raises(TailorError, match="does not run on input 3x6x6"):
        graph_of(lambda m, x: head(m, m.conv(x)), shape=(3, 6, 6))
    with pytest.raises(TailorError, match="computes nothing"):
        graph_of(lambda m, x: x)

    class TwoInputs(nn.Module):
        def forward(self, x, y):
            return x + y

    with pytest.raises(TailorError, match="forward takes 2 inputs; the network must take one"):
        capture(TwoInputs(), (4, 6, 6), "test")


def test_model_references_are_checked(tmp_path, monkeypatch):
    with pytest.raises(TailorError, match="missing.py: file not found"):
        instantiate(f"{tmp_path}/missing.py:make")
    (tmp_path / "m.py").write_text("import torch\ndef make():\n    return 3\n"
                                   "def bad():\n    raise ValueError('no')\n")
    with pytest.raises(TailorError, match="has no function 'other'"):
        instantiate(f"{tmp_path}/m.py:other")
    with pytest.raises(TailorError, match="returned a int, not a torch.nn.Module"):
        instantiate(f"{tmp_path}/m.py:make")
    with pytest.raises(TailorError, match=r"calling it failed \(ValueError: no\)"):
        instantiate(f"{tmp_path}/m.py:bad")
    with pytest.raises(TailorError, match="cannot import 'no_such_package.models' .ModuleNotFoundError"):
        instantiate("no_such_package.models:make")
    (tmp_path / "pkgx").mkdir()
    (tmp_path / "pkgx" / "nets.py").write_text((EXAMPLES / "my_resnet.py").read_text())
    monkeypatch.syspath_prepend(tmp_path)
    assert type(instantiate("pkgx.nets:make")).__name__ == "MyResNet"
    (tmp_path / "w.pt").write_bytes(b"junk")
    with pytest.raises(TailorError, match="w.pt: not a state dict of model"):
        instantiate(MY_RESNET, tmp_path / "w.pt")


# -- residuals, skip switches, weights -------------------------------------------------------

class Twin(nn.Module):
    """Residuals that cannot all be shortened: three convs on a main branch; an add of two
    equal branches; an add without ReLU."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = (nn.Conv2d(4, 4, 3, padding=1) for _ in range(3))
        self.d, self.e = nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1)
        self.f = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = F.relu(self.c(F.relu(self.b(F.relu(self.a(x))))) + x)  # three convs: switch only
        x = self.d(x) + self.e(x)  # equal branches: no skip to remove
        x = self.f(x) + x  # no ReLU after the add
        return self.fc(x.mean((2, 3)))


def test_residuals_and_what_can_be_shortened():
    graph = capture(Twin(), (4, 5, 5), "twin")
    found = residuals(graph)
    assert [(r.add, r.main, r.skip, r.can_shorten) for r in found] == [
        ("add", ["a", "b", "c"], [], False), ("add_2", ["f"], [], False)]
    model = make_model(MY_RESNET, (1, 8, 8), 5, 4)
    assert [(r.main, r.skip, r.can_shorten) for r in model.blocks] == [
        (["layer1_conv1", "layer1_conv2"], [], True),
        (["layer2_conv1", "layer2_conv2"], ["layer2_downsample_0"], True)]


def test_shortening_leaves_what_it_cannot_shorten(tmp_path):
    (tmp_path / "twin.py").write_text(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_nn_capture import Twin\ndef make():\n    return Twin()\n")
    model = make_model(f"{tmp_path / 'twin.py'}:make", (4, 5, 5), 8, 4, classes=3)
    with pytest.raises(TailorError, match="no skip to shorten .shortening needs two convs"):
        skip_schedule(model, "shorten", 1)
    assert [c.block for c in skip_schedule(model, "remove", 1)] == [0, 1]
    with pytest.raises(ValueError, match="no two convs on its main branch"):
        model.blocks[0].shorten()


BIASED = """
import torch
from torch import nn

class Biased(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3, padding=1)  # a conv bias, folded with the batch norm
        self.bn = nn.BatchNorm2d(6)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.proj = nn.Conv2d(6, 6, 1, bias=False)
        self.fc = nn.Linear(6, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.conv(x))))
        return self.fc(torch.relu(self.proj(x) + x).mean((2, 3)))

def make():
    return Biased()
"""


def test_user_weights_are_carried_over_and_the_model_follows_the_float_network(tmp_path):
    """``--init-weights``: conv bias and batch norm folded, padding, the linear layer; the 8-bit
    model stays close to the float network, and a checkpoint record rebuilds it without the
    user's file."""
    (tmp_path / "biased.py").write_text(BIASED)
    ref = f"{tmp_path / 'biased.py'}:make"
    torch.manual_seed(0)
    user = instantiate(ref)
    x = torch.randint(0, 17, (64, 1, 8, 8))
    with torch.no_grad():
        user.conv.bias.uniform_(-0.5, 0.5)
        for _ in range(5):  # running statistics that differ from the initial ones
            user(x.float() / 16)
    user.eval()
    torch.save(user.state_dict(), tmp_path / "w.pt")

    model = make_model(ref, (1, 8, 8), 5, 4, init_weights=tmp_path / "w.pt")
    conv = model.layers["conv"]
    assert torch.equal(conv.bias, user.conv.bias) and torch.equal(conv.weight, user.conv.weight)
    assert torch.equal(conv.bn.running_var, user.bn.running_var)
    assert torch.equal(model.layers["fc"].linear.weight, user.fc.weight)
    model.train()
    with torch.no_grad():
        for _ in range(3):  # the activation quantizers observe their ranges...
            model(x)
    copy_weights(model.spec["graph"], user, model)  # ... and the statistics are the user's again
    model.eval()
    with torch.no_grad():
        ours, theirs = model(x), user(x.float() / 16)
    assert float((ours - theirs).norm() / theirs.norm()) < 0.05
    rebuilt = model_from_record(model_record(model))
    assert torch.equal(rebuilt.eval()(x), ours)


# -- command line ----------------------------------------------------------------------------

def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_capture_command(capsys):
    code, out, _ = run(capsys, "capture", MY_RESNET, "--input-shape", "1,8,8")
    assert code == 0
    assert "maxpool  conv1" in out and "2 of 2 adds have skip switches" in out
    assert "layer2_downsample_0  yes" in out


def test_train_refuses_an_unsupported_network_before_training(tmp_path, capsys):
    (tmp_path / "sig.py").write_text(
        "import torch\nfrom torch import nn\nclass S(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.c = nn.Conv2d(1, 10, 8)\n"
        "    def forward(self, x):\n        return torch.sigmoid(self.c(x)).flatten(1)\n"
        "def make():\n    return S()\n")
    code, out, err = run(capsys, "train", "--model", f"{tmp_path / 'sig.py'}:make",
                         "--out", tmp_path / "t.pt", "--quiet")
    assert code == 1 and not (tmp_path / "t.pt").exists() and out == ""
    assert err.strip().splitlines() == [
        f"tailor train: error: model '{tmp_path / 'sig.py'}:make': node 'sigmoid' (torch.sigmoid): op not "
        "supported (supported: Conv2d, BatchNorm2d after a Conv2d, ReLU, Linear, + / torch.add, "
        "MaxPool2d, AdaptiveAvgPool2d(1) or a mean over H and W, flatten / view(N, -1), Identity)"]
    code, _, err = run(capsys, "train", "--model", MY_RESNET, "--input-shape", "3,8,8",
                       "--out", tmp_path / "t.pt")
    assert code == 1 and "--input-shape 3,8,8 is not the digits images' 1,8,8" in err
    code, _, err = run(capsys, "train", "--model", "resnet9", "--out", tmp_path / "t.pt")
    assert code == 1 and "unknown model 'resnet9'" in err and "FILE.py:FUNC" in err
