"""Graph queries: readers, skip connections with their spans, MAC and parameter counts."""

import numpy as np
import pytest

import netdesc
from netdesc.builder import NetBuilder, resnet8_shaped, small_resnet


def test_skips_of_resnet8_identity_and_projection():
    net = resnet8_shaped()
    found = {s.add: s for s in netdesc.skips(net)}
    assert set(found) == {"b1_add", "b2_add", "b3_add"}
    assert found["b1_add"].fork == "stem" and found["b1_add"].bypass == ()
    assert found["b2_add"].fork == "b1_add" and found["b2_add"].bypass == ("b2_proj",)
    assert all(s.span == 2 and s.main == (f"{s.add[:2]}_conv1", f"{s.add[:2]}_conv2") for s in found.values())


def test_short_skips_span_one_and_bypass_side_is_found_on_either_input():
    b = NetBuilder("short", (2, 6, 6), rng=1)
    x = b.conv("stem", 4)
    c1 = b.conv("c1", 4, src=x)
    a1 = b.add("a1", x, c1)            # bypass on input 0
    c2 = b.conv("c2", 4, src=a1)
    b.add("a2", c2, a1)                # bypass on input 1
    net = b.build()
    s1, s2 = netdesc.skips(net)
    assert (s1.fork, s1.bypass_input, s1.span, s1.main) == ("stem", 0, 1, ("c1",))
    assert (s2.fork, s2.bypass_input, s2.span, s2.main) == ("a1", 1, 1, ("c2",))
    assert netdesc.consumers(net)["stem"] == ["c1", "a1"]


def test_no_skips_in_a_chain():
    b = NetBuilder("chain", (1, 5, 5), rng=2)
    b.conv("c1", 2)
    b.maxpool("p", 2, 2)
    b.global_avg_pool("g")
    b.dense("fc", 3)
    net = b.build()
    assert netdesc.skips(net) == []
    assert netdesc.consumers(net) == {"input": ["c1"], "c1": ["p"], "p": ["g"], "g": ["fc"], "fc": []}


def test_macs_and_parameters():
    net = small_resnet()
    stem = net.layer("stem")       # 4 out, 1 in, 3x3, 8x8 output
    assert netdesc.macs(stem) == 4 * 1 * 9 * 64
    assert netdesc.parameters(stem) == 4 * 9 + 4
    fc = net.layer("fc")
    assert netdesc.macs(fc) == fc.weights.size
    assert netdesc.macs(net.layer("b1_add")) == 0 and netdesc.parameters(net.layer("pool")) == 0


def test_accumulator_range_is_reached_by_extreme_inputs():
    b = NetBuilder("acc", (2, 3, 3), rng=3)
    b.conv("c", 1, padding=0, shift=0, bits=32, signed=True, bias=False, relu=False)
    net = b.build()
    layer = net.layer("c")
    lo, hi = netdesc.accumulator_range(net, layer)
    w = layer.weights[0]
    t = net.input.type
    x_hi = np.where(w > 0, t.max, t.min)
    x_lo = np.where(w > 0, t.min, t.max)
    assert netdesc.run(net, x_hi).item() == hi
    assert netdesc.run(net, x_lo).item() == lo


@pytest.mark.parametrize("bias", [[5, -7], [-(1 << 63), (1 << 63) - 1]])
def test_accumulator_range_is_exact_on_both_sides_of_int64(bias):
    """numpy's int64 sums where they cannot overflow (small bias), Python integers where they
    could (a bias at int64's ends): both give the exact extremes."""
    rng = np.random.default_rng(4)
    weights = rng.integers(-(1 << 15), 1 << 15, size=(2, 64, 3, 3))
    weights[0, 0, 0, 0] = -(1 << 15)
    net = netdesc.parse({
        "format": "netdesc", "version": 1, "name": "wide",
        "input": {"name": "input", "shape": [64, 3, 3], "bits": 32, "signed": True},
        "layers": [{"name": "c", "op": "conv2d", "input": "input", "out_channels": 2, "kernel": 3,
                    "stride": 1, "padding": 0, "weights": weights.tolist(), "weight_bits": 16,
                    "bias": bias, "shift": 0, "relu": False, "bits": 32, "signed": True}],
        "output": "c"}, source="<wide>")
    lo_x, hi_x = -(1 << 31), (1 << 31) - 1
    sums = [(b + sum(int(v) * (lo_x if v > 0 else hi_x) for v in row),
             b + sum(int(v) * (hi_x if v > 0 else lo_x) for v in row))
            for row, b in zip(weights.reshape(2, -1), bias)]
    assert netdesc.accumulator_range(net, net.layer("c")) == (min(s[0] for s in sums),
                                                              max(s[1] for s in sums))
