"""Design spaces: the bundled space, points and what they build, and one-line errors for every
rule a space file can break."""

import copy
import json

import numpy as np
import pytest

import netdesc
from cosearch.costdata import build_netdesc
from cosearch.space import SKIP_STATES, load_space, parse_space
from common.errors import TailorError

DIGITS = "cosearch/spaces/digits.json"


def _space_obj():
    return {"format": "tailor-space", "version": 1, "name": "t", "model": "digits-small",
            "data": "digits", "target": "ecp5", "skips": ["keep", "shorten", "remove"],
            "widths": {"stem": [4, 8], "b2": [8, 16]}, "weight_bits": [4, 8],
            "act_bits": {"default": [8], "b1_conv1": [4, 6]}, "parallelism": [1, 2, 64]}


def test_bundled_space_decisions_and_encoding():
    space = load_space(DIGITS)
    keys = [d.key for d in space.decisions]
    assert keys[:3] == ["skip:b1", "skip:b2", "skip:b3"]
    assert {"width:stem", "width:b3", "wbits:b1_proj", "abits:b3_conv2", "wbits:fc", "par:fc"} <= set(keys)
    assert "abits:fc" not in keys  # the logits' width is fixed
    point = space.sample(np.random.default_rng(3))
    enc = space.encode(point)
    assert enc.shape == (space.encoding_size,) and enc.sum() == len(space.decisions)
    assert space.point([int(np.argmax(enc[s])) for _, s in space.slices()]) == point
    assert space.key(point) == space.key(dict(reversed(list(point.items()))))
    assert parse_space(space.to_json_obj()).decisions == space.decisions


def test_point_builds_its_network_and_hw_config():
    space = parse_space(_space_obj())
    rng = np.random.default_rng(0)
    for _ in range(3):
        point = space.sample(rng)
        net = build_netdesc(space, point, seed=1)
        layers = {l.name: l for l in net.layers}
        assert layers["stem"].out_channels == point["width:stem"]
        assert layers["b2_conv2"].out_channels == point["width:b2"]
        assert layers["b1_conv1"].type.bits == point["abits:b1_conv1"]
        assert layers["b3_conv1"].weight_bits == point["wbits:b3_conv1"]
        assert layers["fc"].weight_bits == point["wbits:fc"]
        # b1 (8 channels, stride 1) projects its input only when the stem's width differs, and
        # only while its skip is there
        assert ("b1_proj" in layers) == (point["width:stem"] != 8 and point["skip:b1"] != "remove")
        for b in space.blocks:
            choice = point[f"skip:{b}"]
            adds = [n for n in layers if n.startswith(f"{b}_add")]
            assert len(adds) == {"keep": 1, "shorten": 2, "remove": 0}[choice]
        hw = space.hw_config(point, net)
        for layer in net.layers:
            if layer.has_weights:  # 64 MACs/cycle exceeds the stem's 9 MACs per pixel: clipped
                assert hw.parallelism[layer.name] == min(point[f"par:{layer.name}"], layer.weights.size)
        hw.validate(net)
    model = space.build_model(point)
    assert model.skip_state() == [SKIP_STATES[point[f"skip:{b}"]] for b in space.blocks]
    # the same seed gives the same weights
    assert netdesc.run(build_netdesc(space, point, 7), np.ones((1, 1, 8, 8), int)).tolist() == \
        netdesc.run(build_netdesc(space, point, 7), np.ones((1, 1, 8, 8), int)).tolist()


def test_check_point():
    space = load_space(DIGITS)
    point = space.sample(np.random.default_rng(0))
    assert space.check_point(dict(point)) == point
    with pytest.raises(TailorError, match=r"p: skip:b1 = 'drop' is not one of"):
        space.check_point(dict(point, **{"skip:b1": "drop"}), where="p")
    missing = dict(point)
    del missing["par:fc"]
    with pytest.raises(TailorError, match=r"missing \['par:fc'\]"):
        space.check_point(missing)


def _broken(change):
    obj = _space_obj()
    change(obj)
    return obj


BROKEN = [
    (lambda o: o.update(format="netdesc"), "not a tailor-space version 1 file"),
    (lambda o: o.update(extra=1), "unknown key 'extra'"),
    (lambda o: o.update(model="vgg"), "'model' must be one of"),
    (lambda o: o.update(data="imagenet"), "'data' must be one of"),
    (lambda o: o.update(target="stratix"), "'target' must be one of ice40, ecp5, xilinx"),
    (lambda o: o.update(name=""), "'name' must be a non-empty string"),
    (lambda o: o.update(skips=["keep", "drop"]), "'skips' of block 'b1': options must be among keep, shorten, remove, not 'drop'"),
    (lambda o: o.update(skips={"b9": ["keep"]}), "'skips' names 'b9', which model 'digits-small' does not have"),
    (lambda o: o.update(widths={"stem": []}), "'widths' of stage 'stem' must be a non-empty list"),
    (lambda o: o.update(widths={"stem": [4, 4]}), "'widths' of stage 'stem' lists an option twice"),
    (lambda o: o.update(widths={"stem": [0]}), "'widths' of stage 'stem': options must be integers in 1..1024, not 0"),
    (lambda o: o.update(weight_bits=[9]), "'weight_bits' of layer 'stem': options must be integers in 2..8, not 9"),
    (lambda o: o.update(act_bits=[True]), "options must be integers in 2..8, not True"),
    (lambda o: o.update(act_bits={"fc": [8]}), "'act_bits' of layer 'fc': the dense layer's output is the logits"),
    (lambda o: o.update(parallelism=3), "'parallelism' must be a list of options or an object"),
    (lambda o: o.update(parallelism=[0]), "'parallelism' of layer 'stem': options must be integers in 1..1024"),
    (lambda o: (o.update(widths={}), o.update(parallelism={"b1_proj": [1]})),
     "'parallelism' names 'b1_proj', a projection this space never has"),
    (lambda o: [o.pop(k) for k in ("skips", "widths", "weight_bits", "act_bits", "parallelism")],
     "the space has no choices"),
]


@pytest.mark.parametrize("change, message", BROKEN, ids=[m[:40] for _, m in BROKEN])
def test_broken_space_one_line_error(tmp_path, change, message):
    path = tmp_path / "space.json"
    path.write_text(json.dumps(_broken(change)))
    with pytest.raises(TailorError) as e:
        load_space(path)
    text = str(e.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_unreadable_space_files(tmp_path):
    with pytest.raises(TailorError, match="file not found"):
        load_space(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(TailorError, match="is not valid JSON"):
        load_space(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(TailorError, match="must be a JSON object"):
        load_space(tmp_path / "list.json")


def test_model_spec_rejects_bad_layer_bits():
    from nn.models import model_spec
    with pytest.raises(TailorError, match="weight bits of layer 'b1_conv1' must be 2..8"):
        model_spec("digits-small", [1, 8, 8], 5, 4, layer_bits={"b1_conv1": [9, 8]})
    with pytest.raises(TailorError, match="takes 4 positive widths"):
        model_spec("digits-small", [1, 8, 8], 5, 4, widths=[8, 8])
    obj = copy.deepcopy(_space_obj())
    assert parse_space(obj).model == "digits-small"
