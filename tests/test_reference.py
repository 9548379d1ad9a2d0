"""The reference executor on hand-computed cases and, with hypothesis, against direct loops."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netdesc
from netdesc import NetdescError, TensorType, round_shift, saturate


def one_layer(input_shape, in_bits, in_signed, layer, name="t"):
    return netdesc.parse({"format": "netdesc", "version": 1, "name": name,
                          "input": {"name": "x", "shape": list(input_shape), "bits": in_bits,
                                    "signed": in_signed},
                          "layers": [dict(layer, name="y")], "output": "y"})


def conv(weights, bias=None, stride=1, padding=0, shift=0, relu=False, bits=8, signed=True, wbits=8):
    w = np.array(weights)
    return {"op": "conv2d", "input": "x", "out_channels": w.shape[0], "kernel": w.shape[2],
            "stride": stride, "padding": padding, "weights": w.tolist(), "weight_bits": wbits,
            "bias": bias, "shift": shift, "relu": relu, "bits": bits, "signed": signed}


@pytest.mark.parametrize("v, s, expected", [
    (5, 1, 3), (4, 1, 2), (-1, 1, 0), (-3, 1, -1), (-5, 2, -1), (-6, 2, -1), (-7, 2, -2),
    (7, 0, 7), (-7, 0, -7), (-(1 << 40) - 1, 40, -1), ((1 << 61) + (1 << 60), 61, 2),
])
def test_round_shift_rounds_half_up_also_for_negatives(v, s, expected):
    assert round_shift(v, s) == expected
    assert round_shift(np.array([v], dtype=object), s)[0] == expected


def test_saturate_both_ends_and_relu_lower_bound():
    s4, u4 = TensorType(4, True), TensorType(4, False)
    assert [saturate(v, s4) for v in (-100, -8, 7, 100)] == [-8, -8, 7, 7]
    assert [saturate(v, s4, relu=True) for v in (-100, -1, 3, 100)] == [0, 0, 3, 7]
    assert [saturate(v, u4) for v in (-5, 0, 15, 16)] == [0, 0, 15, 15]
    assert list(saturate(np.array([-9, 9]), s4)) == [-8, 7]


def test_conv_1x1_bias_and_rounding():
    net = one_layer((1, 2, 2), 8, False, conv([[[[3]]]], bias=[-1], shift=1))
    x = np.array([[[1, 2], [3, 4]]])
    # acc = 3x - 1 = 2, 5, 8, 11 -> floor((acc + 1) / 2)
    assert netdesc.run(net, x).tolist() == [[[1, 3], [4, 6]]]


def test_conv_stride2_with_padding():
    net = one_layer((1, 3, 3), 8, False, conv(np.ones((1, 1, 3, 3), int), stride=2, padding=1,
                                                bits=8, signed=False))
    x = np.arange(1, 10).reshape(1, 3, 3)
    assert netdesc.run(net, x).tolist() == [[[12, 16], [24, 28]]]


def test_conv_saturates_at_both_ends_and_relu():
    w = [[[[1]]], [[[-1]]]]
    x = np.array([[[100, 3]]])  # 1x1x2
    s4 = one_layer((1, 1, 2), 8, False, conv(w, bits=4, signed=True))
    assert netdesc.run(s4, x).tolist() == [[[7, 3]], [[-8, -3]]]
    relu = one_layer((1, 1, 2), 8, False, conv(w, bits=4, signed=True, relu=True))
    assert netdesc.run(relu, x).tolist() == [[[7, 3]], [[0, 0]]]


def test_conv_multichannel_padding_is_zero():
    # 2 input channels, 3x3 kernel picking the corner tap: the output reads padding zeros.
    w = np.zeros((1, 2, 3, 3), int)
    w[0, 0, 0, 0] = 1   # x[0, r-1, c-1]
    w[0, 1, 2, 2] = -2  # x[1, r+1, c+1]
    net = one_layer((2, 2, 2), 8, True, conv(w, padding=1, bits=16, signed=True))
    x = np.array([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])
    expected = [[[0 - 2 * 8, 0], [0, 1]]]
    assert netdesc.run(net, x).tolist() == expected


def test_add_with_shifts_and_negative_rounding():
    obj = {"format": "netdesc", "version": 1, "name": "add",
           "input": {"name": "x", "shape": [1, 1, 2], "bits": 8, "signed": True},
           "layers": [conv([[[[1]]]], bits=8, signed=True) | {"name": "a"},
                      conv([[[[-1]]]], bits=8, signed=True) | {"name": "b"},
                      {"name": "y", "op": "add", "inputs": ["a", "b"], "shifts_in": [2, 1],
                       "shift": 2, "relu": False, "bits": 8, "signed": True}],
           "output": "y"}
    net = netdesc.parse(obj)
    # x = 3: (3 << 2) + (-3 << 1) = 6 -> (6 + 2) >> 2 = 2; x = -3: -12 + 6 = -6 -> floor(-4 / 4) = -1
    # and round-half-up at exactly .5: x = 1 -> 4 - 2 = 2 -> floor(4 / 4) = 1
    assert netdesc.run(net, np.array([[[3, -3]]])).tolist() == [[[2, -1]]]
    assert netdesc.run(net, np.array([[[1, -1]]])).tolist() == [[[1, 0]]]


def test_maxpool_global_avg_pool_and_dense():
    obj = {"format": "netdesc", "version": 1, "name": "pools",
           "input": {"name": "x", "shape": [2, 4, 4], "bits": 8, "signed": True},
           "layers": [{"name": "p", "op": "maxpool2d", "input": "x", "kernel": 2, "stride": 2,
                       "bits": 8, "signed": True},
                      {"name": "g", "op": "global_avg_pool", "input": "p", "multiplier": 3,
                       "shift": 2, "bits": 8, "signed": True},
                      {"name": "d", "op": "dense", "input": "g", "out_features": 2,
                       "weights": [[1, 2], [-3, 1]], "weight_bits": 4, "bias": [1, 0], "shift": 0,
                       "relu": False, "bits": 8, "signed": True}],
           "output": "d"}
    net = netdesc.parse(obj)
    x = np.zeros((2, 4, 4), int)
    x[0] = np.arange(16).reshape(4, 4) - 8   # maxima per 2x2 window: -3, -1, 5, 7
    x[1] = -np.arange(16).reshape(4, 4)      # maxima: 0, -2, -8, -10
    out = netdesc.run(net, x, all_outputs=True)
    assert out["p"].tolist() == [[[-3, -1], [5, 7]], [[0, -2], [-8, -10]]]
    # channel 0: 3 * 8 = 24 -> (24 + 2) >> 2 = 6;  channel 1: 3 * -20 = -60 -> floor(-58 / 4) = -15
    assert out["g"].tolist() == [6, -15]
    assert out["d"].tolist() == [1 + 6 - 30, -18 - 15]


def test_maxpool_padding_never_wins():
    """Padding is −∞: on negative inputs (where zero padding would win) and on inputs at the
    type's minimum the maxima are the inputs' own."""
    pool = {"op": "maxpool2d", "input": "x", "kernel": 3, "stride": 2, "padding": 1, "bits": 8,
            "signed": True}
    net = one_layer((1, 3, 3), 8, True, pool)
    x = -np.arange(1, 10).reshape(1, 3, 3)  # windows: rows/cols 0..1, 1..2 of the real image
    assert netdesc.run(net, x).tolist() == [[[-1, -2], [-4, -5]]]
    assert netdesc.run(net, np.full((1, 3, 3), -128)).tolist() == [[[-128] * 2] * 2]
    net = one_layer((1, 1, 2), 8, True, pool | {"kernel": 2, "stride": 1})  # 1x2 -> 2x3
    assert netdesc.run(net, np.array([[[-7, -3]]])).tolist() == [[[-7, -3, -3], [-7, -3, -3]]]


def test_dense_flattens_feature_map_in_chw_order():
    obj = {"format": "netdesc", "version": 1, "name": "flat",
           "input": {"name": "x", "shape": [2, 1, 2], "bits": 8, "signed": False},
           "layers": [{"name": "d", "op": "dense", "input": "x", "out_features": 1,
                       "weights": [[1, 10, 100, 1000]], "weight_bits": 12, "bias": None,
                       "shift": 0, "relu": False, "bits": 16, "signed": False}],
           "output": "d"}
    x = np.array([[[1, 2]], [[3, 4]]])  # C, H, W order: 1, 2, 3, 4
    assert netdesc.run(netdesc.parse(obj), x).tolist() == [4321]


def test_exact_beyond_float_and_int64():
    # 32-bit inputs, 16-bit weights, a bias near 2^62: float64 would lose bits, int64 overflows.
    big = (1 << 62) - 5
    net = one_layer((1, 1, 1), 32, True, conv([[[[-32768]]]], bias=[big], shift=62, wbits=16,
                                                bits=32, signed=True))
    x = np.array([[[-(1 << 31)]]])
    acc = big + (1 << 31) * 32768
    assert netdesc.run(net, x).tolist() == [[[min((acc + (1 << 61)) >> 62, (1 << 31) - 1)]]]
    # 2^53 + 2^22 - 1 is odd, so float64 would round it to even and flip the rounding of the shift.
    bias = (1 << 53) + (1 << 22) - 1
    net = one_layer((1, 1, 1), 32, True, conv([[[[3]]]], bias=[bias], shift=23, wbits=16,
                                                bits=32, signed=True))
    assert netdesc.run(net, np.array([[[0]]])).tolist() == [[[1 << 30]]]


def test_input_checks():
    net = one_layer((1, 2, 2), 4, False, conv([[[[1]]]]))
    with pytest.raises(NetdescError, match=r"x.npy: input must have shape \[N, 1, 2, 2\]"):
        netdesc.check_input(net, np.zeros((1, 3, 3), int), source="x.npy")
    with pytest.raises(NetdescError, match=r"input must be an integer array \(dtype is float64\)"):
        netdesc.check_input(net, np.zeros((1, 2, 2)), source="x.npy")
    with pytest.raises(NetdescError, match=r"input values must be u4 integers in \[0, 15\] \(found 16\)"):
        netdesc.check_input(net, np.full((1, 2, 2), 16), source="x.npy")
    assert netdesc.run(net, np.ones((5, 1, 2, 2), int)).shape == (5, 1, 2, 2)


# --- hypothesis: random small networks against a direct-loop implementation -------------------

def direct(net, x):
    """NETDESC.md written as plainly as possible: Python ints, one loop per index."""
    vals = {net.input.name: [[[int(v) for v in row] for row in ch] for ch in x]}

    def req(acc, l):
        return saturate(round_shift(acc, l.shift), l.type, l.relu)

    for l in net.layers:
        a = vals[l.inputs[0]]
        if l.op == "conv2d":
            cin, h, w = net.shape_of(l.inputs[0])
            o_n, ho, wo = l.shape
            out = [[[0] * wo for _ in range(ho)] for _ in range(o_n)]
            for o in range(o_n):
                for r in range(ho):
                    for c in range(wo):
                        acc = 0 if l.bias is None else int(l.bias[o])
                        for i in range(cin):
                            for u in range(l.kernel):
                                for v in range(l.kernel):
                                    rr, cc = r * l.stride + u - l.padding, c * l.stride + v - l.padding
                                    if 0 <= rr < h and 0 <= cc < w:
                                        acc += a[i][rr][cc] * int(l.weights[o, i, u, v])
                        out[o][r][c] = req(acc, l)
        elif l.op == "add":
            b = vals[l.inputs[1]]
            la, lb = l.shifts_in
            out = [[[req((a[i][r][c] << la) + (b[i][r][c] << lb), l)
                     for c in range(len(a[0][0]))] for r in range(len(a[0]))] for i in range(len(a))]
        elif l.op == "maxpool2d":
            k, s, p = l.kernel, l.stride, l.padding
            _, h, w = net.shape_of(l.inputs[0])
            _, ho, wo = l.shape
            # padding is −∞: the maximum over the window's in-range rows and columns
            out = [[[max(ch[rr][cc] for rr in range(max(0, r * s - p), min(h, r * s - p + k))
                         for cc in range(max(0, c * s - p), min(w, c * s - p + k)))
                     for c in range(wo)] for r in range(ho)] for ch in a]
        elif l.op == "global_avg_pool":
            out = [req(l.multiplier * sum(sum(row) for row in ch), l) for ch in a]
        else:  # dense
            flat = list(np.array(a, dtype=object).reshape(-1))
            out = [req((0 if l.bias is None else int(l.bias[o]))
                       + sum(int(wt) * v for wt, v in zip(l.weights[o], flat)), l)
                   for o in range(l.shape[0])]
        vals[l.name] = out
    return vals


@st.composite
def networks(draw):
    ttype = lambda: (draw(st.integers(1, 12)), draw(st.booleans()))  # noqa: E731
    c = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    in_bits, in_signed = ttype()
    layers, shapes = [], {"x": (c, h, w)}
    types = {"x": (in_bits, in_signed)}
    n_layers = draw(st.integers(1, 5))
    for i in range(n_layers):
        name = f"l{i}"
        maps = [k for k, s in shapes.items() if len(s) == 3]
        src = draw(st.sampled_from(maps)) if maps else None
        ops = ["dense"] + (["conv2d", "conv2d", "maxpool2d", "global_avg_pool"] if src else [])
        same = [(a, b) for a in maps for b in maps if shapes[a] == shapes[b]] if maps else []
        if same:
            ops.append("add")
        op = draw(st.sampled_from(ops))
        bits, signed = ttype()
        common = {"name": name, "op": op, "bits": bits, "signed": signed}
        shift = draw(st.integers(0, 12))
        relu = draw(st.booleans())
        if op == "conv2d":
            ci, hi, wi = shapes[src]
            k = draw(st.sampled_from([kk for kk in (1, 2, 3) if kk <= hi + 2 * (kk - 1) and kk <= wi + 2 * (kk - 1)]))
            pad = draw(st.integers(max(0, k - min(hi, wi)), k - 1)) if k > 1 else 0
            stride = draw(st.integers(1, 2))
            o = draw(st.integers(1, 3))
            wb = draw(st.integers(2, 16))
            lim = 1 << (wb - 1)
            wts = draw(st.lists(st.integers(-lim, lim - 1), min_size=o * ci * k * k, max_size=o * ci * k * k))
            bias = draw(st.none() | st.lists(st.integers(-1000, 1000), min_size=o, max_size=o))
            layers.append(common | {"input": src, "out_channels": o, "kernel": k, "stride": stride,
                                    "padding": pad, "weights": np.array(wts).reshape(o, ci, k, k).tolist(),
                                    "weight_bits": wb, "bias": bias, "shift": shift, "relu": relu})
            shapes[name] = (o, (hi + 2 * pad - k) // stride + 1, (wi + 2 * pad - k) // stride + 1)
        elif op == "add":
            a, b = draw(st.sampled_from(same))
            layers.append(common | {"inputs": [a, b], "shifts_in": [draw(st.integers(0, 3)), draw(st.integers(0, 3))],
                                    "shift": shift, "relu": relu})
            shapes[name] = shapes[a]
        elif op == "maxpool2d":
            ci, hi, wi = shapes[src]
            pad = draw(st.integers(0, 1))
            k = draw(st.integers(max(1, 2 * pad), min(3, min(hi, wi) + 2 * pad)))  # pad <= k // 2
            stride = draw(st.integers(1, 2))
            bits, signed = types[src]
            layers.append(common | {"input": src, "kernel": k, "stride": stride, "padding": pad,
                                    "bits": bits, "signed": signed})
            shapes[name] = (ci, (hi + 2 * pad - k) // stride + 1, (wi + 2 * pad - k) // stride + 1)
        elif op == "global_avg_pool":
            layers.append(common | {"input": src, "multiplier": draw(st.integers(1, 5)), "shift": shift})
            shapes[name] = (shapes[src][0],)
        else:
            src = draw(st.sampled_from(sorted(shapes)))
            n = int(np.prod(shapes[src]))
            o = draw(st.integers(1, 4))
            wb = draw(st.integers(2, 8))
            lim = 1 << (wb - 1)
            wts = draw(st.lists(st.integers(-lim, lim - 1), min_size=o * n, max_size=o * n))
            layers.append(common | {"input": src, "out_features": o, "weights": np.array(wts).reshape(o, n).tolist(),
                                    "weight_bits": wb, "bias": None, "shift": shift, "relu": relu})
            shapes[name] = (o,)
        types[name] = (bits, signed)
    obj = {"format": "netdesc", "version": 1, "name": "h",
           "input": {"name": "x", "shape": [c, h, w], "bits": in_bits, "signed": in_signed},
           "layers": layers, "output": layers[-1]["name"]}
    net = netdesc.parse(obj)
    t = net.input.type
    x = np.array(draw(st.lists(st.integers(t.min, t.max), min_size=c * h * w, max_size=c * h * w))).reshape(c, h, w)
    return net, x


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(networks())
def test_reference_equals_direct_loops(case):
    net, x = case
    got = netdesc.run(net, x, all_outputs=True)
    want = direct(net, x)
    for name, value in want.items():
        assert got[name].tolist() == value, name
    batch = netdesc.run(net, np.stack([x, x]))
    assert batch[1].tolist() == want[net.output]


def test_large_batches_run_in_chunks_with_the_same_results(monkeypatch):
    net = netdesc.load(Path(__file__).parents[1] / "examples" / "small_resnet.json")
    x = np.random.default_rng(5).integers(0, 256, size=(7, *net.input.shape))
    whole = netdesc.run(net, x, all_outputs=True)
    monkeypatch.setattr("netdesc.reference.CHUNK_ELEMENTS", 1)  # one input per chunk
    chunked = netdesc.run(net, x, all_outputs=True)
    assert whole.keys() == chunked.keys()
    assert all(np.array_equal(whole[k], chunked[k]) for k in whole)
    assert np.array_equal(netdesc.run(net, x[3]), whole[net.output][3])
