"""Whole networks: the RTL simulation of NetworkTop equals netdesc.run bit for bit."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import netdesc
from netdesc.builder import NetBuilder
from rtl.add import AddEngine
from rtl.folded_conv import FoldedConvEngine
from rtl.hwconfig import HwConfig
from rtl.mac import MacBuild
from rtl.network import NetworkTop
from rtl.plan import predict
from rtl.sim import simulate_layer, simulate_top

# Components built only to inspect them (or rejected by their constructor) are never
# elaborated; Amaranth's warning about that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

EXAMPLES = Path(__file__).parents[1] / "examples" / "small_resnet.json"


def _inputs(net, count, rng):
    t = net.input.type
    x = rng.integers(t.min, t.max + 1, size=(count,) + tuple(net.input.shape))
    x[0, :, 0, :] = t.max  # saturating rows at both ends of the input range
    x[0, :, -1, :] = t.min
    return x


def _check(net, count=2, seed=0, hw=None):
    """RTL outputs equal the reference; the RTL's cycle counts equal the timing model's."""
    x = _inputs(net, count, np.random.default_rng(seed))
    top = NetworkTop(net, hw)
    r = simulate_top(top, netdesc.check_input(net, x))
    np.testing.assert_array_equal(r.outputs, netdesc.run(net, x))
    per = r.output_stamps[0]
    beats = len(per) // count
    assert predict(top.plan, count) == [per[(t + 1) * beats - 1] - r.input_stamps[0][0]
                                   for t in range(count)]
    return r


@st.composite
def networks(draw):
    """Random valid netdescs: channel counts 1-4, sizes 4-9, kernels 1/3, strides 1/2, short
    and long skips (identity or 1x1 projection), plain convs, maxpools (kernels 2/3, padding up
    to half the kernel), a GAP + dense head."""
    channels = draw(st.integers(1, 3))
    size = draw(st.integers(4, 9)), draw(st.integers(4, 9))
    signed_in = draw(st.booleans())
    b = NetBuilder("random", (channels,) + size, bits=draw(st.sampled_from([4, 8])),
                   signed=signed_in, rng=draw(st.integers(0, 1 << 16)))
    x = b.conv("stem", draw(st.integers(1, 4)), kernel=draw(st.sampled_from([1, 3])))
    blocks = draw(st.lists(st.sampled_from(["short", "long", "proj", "plain", "pool"]),
                           min_size=1, max_size=3))
    for n, kind in enumerate(blocks):
        _, h, w = b.net.shape_of(x)
        ch = b.net.shape_of(x)[0]
        if kind == "plain":
            stride = draw(st.sampled_from([1, 2])) if min(h, w) >= 3 else 1
            x = b.conv(f"c{n}", draw(st.integers(1, 4)), kernel=draw(st.sampled_from([1, 3])),
                       stride=stride, src=x)
        elif kind == "pool":
            k = draw(st.sampled_from([2, 3]))
            padding = draw(st.integers(0, k // 2))
            if min(h, w) + 2 * padding >= k:
                x = b.maxpool(f"p{n}", kernel=k, stride=draw(st.sampled_from([1, 2])),
                              padding=padding, src=x)
        elif kind in ("short", "long"):
            y = b.conv(f"b{n}_c1", ch, src=x, relu=kind == "long", signed=kind == "short")
            if kind == "long":
                y = b.conv(f"b{n}_c2", ch, src=y, relu=False, signed=True)
            x = b.add(f"b{n}_add", y, x, shifts_in=(draw(st.integers(0, 1)), 0),
                      shift=draw(st.integers(0, 2)), relu=draw(st.booleans()))
        else:
            out = draw(st.integers(1, 4))
            stride = 2 if min(h, w) >= 4 else 1
            y = b.conv(f"b{n}_c1", out, stride=stride, src=x)
            p = b.conv(f"b{n}_proj", out, kernel=1, stride=stride, padding=0, src=x, relu=False,
                       signed=True)
            x = b.add(f"b{n}_add", y, p, shift=1, relu=True)
    if draw(st.booleans()):
        b.global_avg_pool("gap", src=x)
        b.dense("fc", draw(st.integers(1, 5)))
    return b.build()


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(networks())
def test_random_networks_match_reference(net):
    _check(net)


def test_small_resnet_example():
    net = netdesc.load(EXAMPLES)
    r = _check(net, count=3, seed=1)
    assert r.steady_state_cycles <= r.cycles_per_inference


def plain_strided():
    """No skips: a stride-2 conv, then a 1x1 conv."""
    b = NetBuilder("plain", (2, 7, 5), rng=3)
    b.conv("c1", 3, stride=2)
    b.conv("c2", 2, kernel=1, relu=False, signed=True)
    return b.build()


def double_read():
    """An add reading one tensor on both inputs."""
    b = NetBuilder("double", (2, 4, 4), rng=5)
    x = b.conv("c1", 2)
    b.add("twice", x, x, shifts_in=(1, 0), shift=2)
    return b.build()


def dead_end():
    """A layer the output does not need ("unused")."""
    b = NetBuilder("dead-end", (1, 5, 5), rng=2)
    x = b.conv("c1", 2)
    b.conv("unused", 2, src=x)
    b.conv("c2", 2, src=x)
    return b.build(output="c2")


def resnet18_stem():
    """ResNet-18's stem (7x7 stride-2 conv, 3x3 stride-2 maxpool with padding 1) on signed
    values, then a basic block and the head."""
    b = NetBuilder("resnet18-stem", (3, 13, 11), signed=True, rng=1)
    b.conv("conv1", 4, kernel=7, stride=2, padding=3, relu=False, signed=True)
    x = b.maxpool("pool1", kernel=3, stride=2, padding=1)  # 7x6 -> 4x3
    y = b.conv("b1_c1", 4, src=x)
    y = b.conv("b1_c2", 4, src=y, relu=False, signed=True)
    b.add("b1_add", y, x)
    b.global_avg_pool("gap")
    b.dense("fc", 3)
    return b.build()


def test_resnet18_stem_with_padded_maxpool():
    net = resnet18_stem()
    # Windows on the padding with negative maxima, which padding read as 0 would change.
    x = _inputs(net, 2, np.random.default_rng(0))
    pool = netdesc.run(net, x, all_outputs=True)["pool1"]
    assert (pool[:, :, 0, :] < 0).any() and (pool[:, :, :, 0] < 0).any()
    _check(net)


def test_no_skips_strided_and_one_mac_per_layer():
    _check(plain_strided(), hw=HwConfig(parallelism={"c1": 1, "c2": 1}))


def grouped_streams():
    """Folded convs (a 1x1 among them) and an add passing channel groups on, into the average
    pool."""
    b = NetBuilder("grouped", (3, 7, 6), rng=4)
    b.conv("c1", 4)
    x = b.conv("c2", 4, stride=2)
    y = b.conv("c3", 4, src=x, relu=False, signed=True)
    b.add("add", y, x, relu=True)
    b.conv("p", 4, kernel=1, padding=0)
    b.global_avg_pool("gap")
    b.dense("fc", 3)
    return b.build()


def mismatched_groups():
    """An add whose inputs come in different groups (one channel, two) takes whole pixels on
    both; a 1x1 conv reading whole pixels keeps its window register."""
    b = NetBuilder("mismatched", (3, 5, 6), rng=6)
    x = b.conv("c1", 4)
    y = b.conv("c2", 4, src=x, relu=False, signed=True)
    p = b.conv("p1", 4, kernel=1, padding=0, src=x, relu=False, signed=True)
    b.add("add", y, p, relu=True)
    b.conv("c3", 2, kernel=1, padding=0)
    return b.build()


@pytest.mark.parametrize("net, parallelism, lanes, folded", [
    (grouped_streams(), {"c1": 2, "c2": 1, "c3": 1, "p": 1, "fc": 1},
     {"input": 3, "c1": 2, "c2": 1, "c3": 1, "add": 1, "p": 1, "gap": 4, "fc": 3},
     {"c1", "c2", "c3", "p"}),
    (mismatched_groups(), {"c1": 2, "c2": 1, "p1": 2, "c3": 1},
     {"input": 3, "c1": 2, "c2": 4, "p1": 4, "add": 4, "c3": 2}, {"c1", "c2", "p1"}),
])
def test_streams_in_channel_groups_where_both_ends_take_them(net, parallelism, lanes, folded):
    hw = HwConfig(parallelism=parallelism)
    top = NetworkTop(net, hw)
    assert top.plan.lanes == lanes
    assert {n for n, e in top.engines.items() if isinstance(e, FoldedConvEngine)} == folded
    _check(net, count=3, hw=hw)


def test_add_reading_one_tensor_twice():
    _check(double_read())


def test_layers_the_output_does_not_need_are_left_out():
    net = dead_end()
    top = NetworkTop(net)
    assert "unused" not in top.engines and "fork_c1" not in dict(top.monitored_streams())
    _check(net)


def test_simulate_layer_runs_one_engine():
    net = netdesc.load(EXAMPLES)
    runs = netdesc.run(net, _inputs(net, 2, np.random.default_rng(4)), all_outputs=True)
    r = simulate_layer(net, "b1_conv1", runs["stem"], parallelism=3)
    np.testing.assert_array_equal(r.outputs, runs["b1_conv1"])
    r = simulate_layer(net, "b1_add", (runs["b1_conv2"], runs["stem"]))
    np.testing.assert_array_equal(r.outputs, runs["b1_add"])
    r = simulate_layer(net, "fc", runs["pool"][0])
    np.testing.assert_array_equal(r.outputs, runs["fc"][:1])


def test_a_users_pytorch_resnet_from_training_to_rtl(tmp_path):
    """The README's "bring your own ResNet": examples/my_resnet.py (a conv-BN-ReLU stem, a
    padded max pool, a basic block, a downsampling one with a 1×1 projection, a global average
    pool, a linear layer) trained on digits, its skips removed by distillation, both exported
    with the bit-exact check, and both accelerators equal to the reference."""
    from tailor.cli import main

    model = f"{Path(__file__).parents[1] / 'examples' / 'my_resnet.py'}:make"
    t, s = tmp_path / "t.pt", tmp_path / "s.pt"
    assert main(["train", "--model", model, "--epochs", "1", "--limit-train", "512", "--out",
                 str(t), "--quiet"]) == 0
    assert main(["optimize", "--teacher", str(t), "--mode", "remove", "--every", "1",
                 "--finetune", "0", "--out", str(s), "--quiet"]) == 0
    for ckpt, adds in ((t, 2), (s, 0)):
        out = tmp_path / f"{ckpt.stem}.json"
        assert main(["export", str(ckpt), "--out", str(out)]) == 0  # fails unless bit-exact
        net = netdesc.load(out)
        assert sum(l.op == "add" for l in net.layers) == adds
        assert net.layer("maxpool").padding == 1
        _check(net)


def test_registered_macs_add_latency_not_steady_state_cycles():
    """MAC arrays with registered operands and products, adds with registered sums (for a
    fast clock): still bit-exact, the timing model still exact, at most the pipeline's
    registered stages more cycles of latency per conv / dense layer and one per add, the same
    cycles between inferences."""
    net = netdesc.load(EXAMPLES)
    plain = _check(net, count=3)
    top = NetworkTop(net, HwConfig(registered_macs=True))
    assert all(e.registered for e in top.engines.values() if isinstance(e, AddEngine))
    registered = _check(net, count=3, hw=HwConfig(registered_macs=True))
    assert registered.steady_state_cycles == plain.steady_state_cycles
    stages = sum(top.engines[l.name].pipeline.pipeline_latency - MacBuild().pipeline_latency(1)
                 for l in net.layers if l.has_weights)
    adds = sum(1 for l in net.layers if l.op == "add")
    assert adds and plain.cycles_per_inference < registered.cycles_per_inference <= \
        plain.cycles_per_inference + stages + adds


def test_registered_fifos_add_latency_not_steady_state_cycles():
    """Block-RAM FIFOs ending in two registers (for a fast clock): still bit-exact, the timing
    model (which sizes the FIFOs) still exact, the same cycles between inferences."""
    net = netdesc.load(EXAMPLES)
    plain = _check(net, count=3, hw=HwConfig(memory_style="block"))
    hw = HwConfig(memory_style="block", registered_fifos=True)
    assert any(f.output_registers for f in NetworkTop(net, hw).fifos.values())
    registered = _check(net, count=3, hw=hw)
    assert registered.steady_state_cycles == plain.steady_state_cycles
    assert registered.cycles_per_inference > plain.cycles_per_inference
