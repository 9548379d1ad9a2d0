"""Every validation rule of NETDESC.md: a broken netdesc fails with one message naming file,
layer and rule."""

import json

import numpy as np
import pytest

import netdesc
from netdesc import NetdescError


def layer(obj, name):
    return next(l for l in obj["layers"] if l["name"] == name)


def set_key(name, key, value):
    def mutate(obj):
        target = obj if name is None else (obj["input"] if name == "input" else layer(obj, name))
        target[key] = value
    return mutate


def del_key(name, key):
    def mutate(obj):
        del (obj if name is None else layer(obj, name))[key]
    return mutate


def set_weight(name, index, value):
    def mutate(obj):
        w = layer(obj, name)["weights"]
        for i in index[:-1]:
            w = w[i]
        w[index[-1]] = value
    return mutate


def move_layer_first(name):
    def mutate(obj):
        l = layer(obj, name)
        obj["layers"].remove(l)
        obj["layers"].insert(0, l)
    return mutate


# (mutation, layer named in the message or None, fragment of the rule)
CASES = {
    "unknown top key": (set_key(None, "extra", 1), None, "unknown key 'extra' in the netdesc"),
    "missing top key": (del_key(None, "output"), None, "missing key 'output'"),
    "wrong format": (set_key(None, "format", "onnx"), None, "'format' must be \"netdesc\""),
    "wrong version": (set_key(None, "version", 2), None, "'version' must be 1"),
    "empty name": (set_key(None, "name", ""), None, "'name' must be a non-empty line of printable text"),
    "name with newline": (set_key(None, "name", "net\nmodule evil;"), None,
                          "'name' must be a non-empty line of printable text"),
    "name free text": (set_key(None, "name", "résnet-8 (shortened)"), None, None),  # valid
    "layer name with space": (set_key("c2", "name", "my conv"), "#1",
                              "'name' must be a name of letters, digits and '_'"),
    "layer name starts with digit": (set_key("c2", "name", "2conv"), "#1", "not starting with a digit"),
    "layer name too long": (set_key("c2", "name", "c" * 129), "#1", "at most 128 characters"),
    "input name with dot": (set_key("input", "name", "in.put"), None,
                            "'name' must be a name of letters, digits and '_'"),
    "input wider than the limit": (set_key("input", "shape", [1, 4, 2 ** 40]), None,
                                   "is beyond tailor's limits: at most 65,536 along a dimension"),
    "input larger than the limit": (set_key("input", "shape", [4096, 4096, 2]), None,
                                    "and 16,777,216 elements"),
    "input shape not CHW": (set_key("input", "shape", [4, 4]), None, "input 'shape' must be [C, H, W]"),
    "input shape zero": (set_key("input", "shape", [1, 0, 4]), None, "input 'shape' must be [C, H, W]"),
    "input bits 0": (set_key("input", "bits", 0), None, "'bits' must be 1..32"),
    "input bits 33": (set_key("input", "bits", 33), None, "'bits' must be 1..32"),
    "input signed not bool": (set_key("input", "signed", 1), None, "'signed' must be true or false"),
    "unknown input key": (set_key("input", "dtype", "u8"), None, "unknown key 'dtype' in 'input'"),
    "layers empty": (set_key(None, "layers", []), None, "'layers' must be a non-empty list"),
    "unknown op": (set_key("c1", "op", "conv3d"), "c1", "unknown op 'conv3d'"),
    "unknown layer key": (set_key("c1", "dilation", 2), "c1", "unknown key 'dilation' in a conv2d layer"),
    "missing layer key": (del_key("c1", "kernel"), "c1", "missing key 'kernel' in a conv2d layer"),
    "name used twice": (set_key("c2", "name", "c1"), "c1", "name 'c1' is used twice"),
    "name equals input": (set_key("c1", "name", "input"), "input", "name 'input' is used twice"),
    "reads later layer": (move_layer_first("c2"), "c2", "reads 'c1', which is defined later"),
    "reads unknown": (set_key("c2", "input", "nope"), "c2", "reads 'nope', which is neither the input"),
    "stride 3": (set_key("c1", "stride", 3), "c1", "'stride' must be 1..2 (got 3)"),
    "stride 0": (set_key("c1", "stride", 0), "c1", "'stride' must be 1..2 (got 0)"),
    "padding too large": (set_key("c1", "padding", 3), "c1", "'padding' must be 0..2 (got 3)"),
    "padding negative": (set_key("c1", "padding", -1), "c1", "'padding' must be 0..2"),
    "kernel larger than input": (set_key("c1", "padding", 0), None, None),  # valid: 3x3 on 4x4
    "weight_bits 1": (set_key("c1", "weight_bits", 1), "c1", "'weight_bits' must be 2..16"),
    "weight_bits 17": (set_key("c1", "weight_bits", 17), "c1", "'weight_bits' must be 2..16"),
    "weight out of range high": (set_weight("c1", [0, 0, 0, 2], 8), "c1",
                                 "weights must be signed 4-bit integers in [-8, 7] (found 8)"),
    "weight out of range low": (set_weight("c1", [1, 0, 2, 2], -9), "c1", "(found -9)"),
    "weight shape": (set_key("c2", "weights", [[[[2]]], [[[1]]]]), "c2", "'weights' must have shape [2, 2, 1, 1]"),
    "weight not integer": (set_weight("c1", [0, 0, 0, 0], 1.5), "c1", "'weights' must hold integers only (found 1.5)"),
    "weight bool": (set_weight("c1", [0, 0, 0, 0], True), "c1", "'weights' must hold integers only"),
    "weights ragged": (set_weight("c1", [0, 0, 0], [1, 2]), "c1", "rectangular nested list"),
    "bias shape": (set_key("c1", "bias", [1, 2, 3]), "c1", "'bias' must have shape [2]"),
    "bias beyond int64": (set_key("c1", "bias", [2 ** 63, 0]), "c1", "fit in 64-bit signed integers"),
    "shift negative": (set_key("c1", "shift", -1), "c1", "'shift' must be 0..62"),
    "shift 63": (set_key("c1", "shift", 63), "c1", "'shift' must be 0..62"),
    "shift not int": (set_key("c1", "shift", "2"), "c1", "'shift' must be an integer"),
    "relu not bool": (set_key("c1", "relu", "yes"), "c1", "'relu' must be true or false"),
    "out bits": (set_key("c2", "bits", 40), "c2", "'bits' must be 1..32"),
    "out_channels zero": (set_key("c1", "out_channels", 0), "c1", "'out_channels' must be 1..65536 (got 0)"),
    "out_channels huge": (set_key("c1", "out_channels", 10 ** 999), "c1",
                          "'out_channels' must be 1..65536 (got <a 3319-bit integer>)"),
    "add one input": (set_key("a1", "inputs", ["c2"]), "a1", "'inputs' must list exactly two layers"),
    "add shape mismatch": (set_key("a1", "inputs", ["c2", "p1"]), "a1", "reads 'p1', which is defined later"),
    "add shifts_in negative": (set_key("a1", "shifts_in", [-1, 0]), "a1", "'shifts_in' must be two integers"),
    "add shifts_in length": (set_key("a1", "shifts_in", [0]), "a1", "'shifts_in' must be two integers"),
    "maxpool type differs": (set_key("p1", "bits", 7), "p1", "bits/signed (u7) must equal those of input 'a1' (u8)"),
    "maxpool relu key": (set_key("p1", "relu", False), "p1", "unknown key 'relu' in a maxpool2d layer"),
    "maxpool kernel too big": (set_key("p1", "kernel", 5), "p1", "kernel 5 is larger than the padded input 4x4"),
    "maxpool padding 1": (set_key("p1", "padding", 1), None, None),  # valid: 1 = kernel // 2
    "maxpool padding over half the kernel": (set_key("p1", "padding", 2), "p1", "'padding' must be 0..1 (got 2)"),
    "maxpool padding negative": (set_key("p1", "padding", -1), "p1", "'padding' must be 0..1 (got -1)"),
    "maxpool padding not int": (set_key("p1", "padding", 1.0), "p1", "'padding' must be an integer"),
    "maxpool stride 0": (set_key("p1", "stride", 0), "p1", "'stride' must be 1..2 (got 0)"),
    "maxpool stride 3": (set_key("p1", "stride", 3), "p1", "'stride' must be 1..2 (got 3)"),
    "gap multiplier zero": (set_key("g1", "multiplier", 0), "g1", "'multiplier' must be 1..4294967296"),
    "gap relu key": (set_key("g1", "relu", True), "g1", "unknown key 'relu' in a global_avg_pool layer"),
    "gap on vector": (set_key("fc", "op", "global_avg_pool"), "fc", "unknown key"),
    "dense weight shape": (set_key("fc", "weights", [[1, 2, 3]] * 3), "fc", "'weights' must have shape [3, 2]"),
    "output unknown": (set_key(None, "output", "zz"), None, "'output' must name a layer"),
    "output is input": (set_key(None, "output", "input"), None, "'output' must name a layer"),
    "layer not object": (set_key(None, "layers", [3]), "#0", "a layer must be a JSON object"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_netdesc_is_rejected_with_file_layer_and_rule(case, tiny_obj, write_net):
    mutate, layer_name, rule = CASES[case]
    mutate(tiny_obj)
    path = write_net(tiny_obj)
    if rule is None:
        netdesc.load(path)  # the control case: a valid variant loads
        return
    with pytest.raises(NetdescError) as info:
        netdesc.load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path) + ": ")
    if layer_name is not None:
        assert f"layer '{layer_name}': " in message
    assert rule in message, message


def test_kernel_larger_than_padded_input(write_net):
    obj = {"format": "netdesc", "version": 1, "name": "k",
           "input": {"name": "x", "shape": [1, 2, 2], "bits": 8, "signed": False},
           "layers": [{"name": "c", "op": "conv2d", "input": "x", "out_channels": 1, "kernel": 3,
                       "stride": 1, "padding": 0, "weights": [[[[0] * 3] * 3]], "weight_bits": 2,
                       "bias": None, "shift": 0, "relu": False, "bits": 8, "signed": True}],
           "output": "c"}
    with pytest.raises(NetdescError, match="layer 'c': kernel 3 is larger than the padded input 2x2"):
        netdesc.load(write_net(obj))
    obj["layers"] = [{"name": "p", "op": "maxpool2d", "input": "x", "kernel": 5, "stride": 1,
                      "padding": 1, "bits": 8, "signed": False}]
    obj["output"] = "p"
    with pytest.raises(NetdescError, match="layer 'p': kernel 5 is larger than the padded input 4x4"):
        netdesc.load(write_net(obj))


def test_maxpool_padding_defaults_to_zero_and_is_written(tiny_obj, write_net):
    """A netdesc from before maxpool2d had padding loads; saving it writes the key."""
    assert "padding" not in layer(tiny_obj, "p1")
    net = netdesc.load(write_net(tiny_obj))
    assert net.layer("p1").padding == 0
    assert layer(netdesc.to_json_obj(net), "p1")["padding"] == 0


def test_add_inputs_of_different_shape(tiny_obj, write_net):
    tiny_obj["layers"].insert(4, {"name": "bad", "op": "add", "inputs": ["a1", "p1"], "shifts_in": [0, 0],
                                  "shift": 0, "relu": False, "bits": 8, "signed": False})
    with pytest.raises(NetdescError, match=r"layer 'bad': inputs 'a1' \[2, 4, 4\] and 'p1' \[2, 2, 2\] differ in shape"):
        netdesc.load(write_net(tiny_obj))


def test_file_level_errors(tmp_path):
    with pytest.raises(NetdescError, match="missing.json: file not found"):
        netdesc.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(NetdescError, match=r"bad.json: is not valid JSON \(Expecting property name enclosed in double quotes; line 1 column 3\)"):
        netdesc.load(bad)
    arr = tmp_path / "arr.json"
    arr.write_text("[1, 2]")
    with pytest.raises(NetdescError, match="the netdesc must be a JSON object"):
        netdesc.load(arr)


def test_npz_tensor_references(tiny_obj, write_net, tmp_path):
    w = np.array(layer(tiny_obj, "c1")["weights"])
    layer(tiny_obj, "c1")["weights"] = "c1.w"
    path = write_net(tiny_obj)
    with pytest.raises(NetdescError, match="layer 'c1': 'weights' refers to tensor 'c1.w' but there is no companion .npz"):
        netdesc.load(path)
    np.savez(path.with_suffix(".npz"), other=w)
    with pytest.raises(NetdescError, match="tensor 'c1.w', which the companion .npz file lacks"):
        netdesc.load(path)
    np.savez(path.with_suffix(".npz"), **{"c1.w": w.astype(np.float32)})
    with pytest.raises(NetdescError, match="net.npz: array 'c1.w': must be an integer array \\(its dtype is float32\\)"):
        netdesc.load(path)
    np.savez(path.with_suffix(".npz"), **{"c1.w": w})
    assert np.array_equal(netdesc.load(path).layer("c1").weights, w)
    path.with_suffix(".npz").write_bytes(b"garbage")
    with pytest.raises(NetdescError, match=r"net.npz: is not a readable .npz file"):
        netdesc.load(path)


def test_x_keys_are_free_metadata(tiny_obj, write_net):
    tiny_obj["x-accuracy"] = 0.97
    layer(tiny_obj, "c1")["x-note"] = {"anything": [1, 2]}
    net = netdesc.load(write_net(tiny_obj))
    assert net.extra == {"x-accuracy": 0.97}
    assert net.layer("c1").extra == {"x-note": {"anything": [1, 2]}}


def test_save_load_round_trip_npz_and_inline(tiny_obj, write_net, tmp_path):
    tiny_obj["x-provenance"] = "test"
    net = netdesc.load(write_net(tiny_obj))
    for inline in (False, True):
        out = tmp_path / f"saved_{inline}.json"
        netdesc.save(net, out, inline=inline)
        assert out.with_suffix(".npz").exists() != inline
        again = netdesc.load(out)
        assert netdesc.to_json_obj(again) == netdesc.to_json_obj(net)
        assert json.loads(out.read_text())["x-provenance"] == "test"
