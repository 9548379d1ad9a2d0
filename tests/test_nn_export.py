"""Export is bit-exact: for every model family and skip layout, the PyTorch integer model equals
the netdesc reference, and the float64 fake-quantized model equals both."""

from pathlib import Path

import numpy as np
import pytest
import torch

import netdesc
from netdesc.builder import NetBuilder, resnet8_shaped
from nn.export import export_netdesc, to_netdesc
from nn.intmodel import IntegerNet
from nn.models import make_model
from common.errors import TailorError

torch.set_num_threads(1)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FAMILIES = {  # model, input shape (odd sizes and a non-power-of-two pool for ResNet-8), bits,
    # frac, weight bits, act bits; the users' networks are captured (nn.capture)
    "digits-small": ("digits-small", (1, 8, 8), 5, 4, 8, 8),
    "digits-small-w3a4": ("digits-small", (1, 8, 8), 5, 4, 3, 4),
    "resnet8": ("resnet8", (3, 9, 9), 8, 8, 8, 8),
    "resnet20": ("resnet20", (3, 8, 8), 8, 8, 8, 8),
    "my-resnet": (f"{EXAMPLES / 'my_resnet.py'}:make", (1, 8, 8), 5, 4, 8, 8),
    "torchvision-resnet18": (f"{EXAMPLES / 'resnet18.py'}:make", (3, 16, 16), 8, 8, 8, 8),
}
LONG, OFF = {"form": "long", "on": [True]}, {"form": "long", "on": [False]}
SHORT = {"form": "short", "on": [True, True]}
LAYOUTS = {
    "with-skips": lambda n: [LONG] * n,
    "removed": lambda n: [OFF] * n,
    "shortened": lambda n: [SHORT] * n,
    "mixed": lambda n: [[SHORT, OFF, {"form": "short", "on": [False, True]}, LONG,
                         {"form": "short", "on": [True, False]}][i % 5] for i in range(n)],
}


def calibrated_model(family, layout, seed=0):
    arch, shape, bits, frac, wbits, abits = FAMILIES[family]
    torch.manual_seed(seed)
    model = make_model(arch, shape, bits, frac, weight_bits=wbits, act_bits=abits)
    model.set_skip_state(LAYOUTS[layout](len(model.blocks)))
    model.train()
    with torch.no_grad():  # batch norm and activation ranges see data, as after training
        for _ in range(3):
            model(torch.randint(0, 1 << bits, (16, *shape)))
    return model.double().eval()  # float64: fake-quant sums are then exact as well


def inputs(model, n, seed):
    shape, bits = model.spec["input_shape"], model.spec["input_bits"]
    x = np.random.default_rng(seed).integers(0, 1 << bits, (n, *shape))
    x[0] = 0  # edge cases: an all-zero and an all-maximum image
    x[1] = (1 << bits) - 1
    return x


def expected_spans(state):
    spans = []
    for s in state:
        if s["form"] == "long":
            spans += [2] * s["on"][0]
        else:
            spans += [1] * sum(s["on"])
    return spans


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_export_is_bit_exact(family, layout):
    model = calibrated_model(family, layout)
    net = to_netdesc(model)
    x = inputs(model, 24, seed=1)
    reference = netdesc.run(net, x, all_outputs=True)
    integer = {k: v.numpy() for k, v in IntegerNet(net)(x, all_outputs=True).items()}
    for name in reference:  # every layer, not only the logits
        assert np.array_equal(integer[name], reference[name]), name
    logits = reference[net.output]
    assert len(np.unique(logits)) > 10  # not a degenerate (constant or saturated) network

    with torch.no_grad():
        fake = model(torch.as_tensor(x)) * 2.0 ** net.extra["x-tailor"]["logit_frac"]
    assert torch.equal(fake, fake.round())
    assert np.array_equal(fake.long().numpy(), logits)

    # a removed skip is no add at all; a shortened block is two adds spanning one conv each
    state = model.skip_state()
    assert [s.span for s in netdesc.skips(net)] == expected_spans(state)
    assert sum(l.op == "add" for l in net.layers) == len(expected_spans(state))


def test_some_values_saturate_and_round_negative():
    """The cases the arithmetic must get right do occur in these networks."""
    model = calibrated_model("resnet8", "shortened")
    net = to_netdesc(model)
    x = inputs(model, 24, seed=2)
    values = netdesc.run(net, x, all_outputs=True)
    signed_adds = [l for l in net.layers if l.op == "add" and l.type.signed]
    assert signed_adds and any((values[l.name] < 0).any() for l in signed_adds)
    assert any((values[l.name] == l.type.max).any() for l in net.layers if l.op == "conv2d")


def test_saved_netdesc_round_trips(tmp_path):
    model = calibrated_model("digits-small", "mixed")
    net = export_netdesc(model, tmp_path / "net.json", name="digits-mixed")
    loaded = netdesc.load(tmp_path / "net.json")
    assert loaded.name == "digits-mixed" and (tmp_path / "net.npz").exists()
    x = inputs(model, 8, seed=3)
    assert np.array_equal(netdesc.run(loaded, x), netdesc.run(net, x))
    assert loaded.extra["x-tailor"]["skips"] == model.skip_state()


def test_integer_net_matches_reference_on_builder_networks():
    """The integer model on networks it did not export, layer by layer: random weights,
    saturation at both ends, maxpools (padded ones on signed values, where torch's −inf
    padding and the reference's minimum must agree), stride 2, 1×1 convs."""
    b = NetBuilder("mixed-ops", (2, 9, 9), bits=8, signed=True, rng=5)
    b.conv("c1", 6, signed=True, relu=False)
    b.maxpool("mp", kernel=3, stride=2, padding=1)  # the ResNet-18 stem's: 9x9 -> 5x5
    b.maxpool("mp2", kernel=2, stride=1, padding=1)  # 6x6
    b.maxpool("mp3", kernel=3, stride=2)  # 2x2
    b.conv("c2", 4, kernel=1, padding=0, stride=2, weight_bits=4)
    b.global_avg_pool("gap")
    b.dense("fc", 5)
    for net in (b.build(), resnet8_shaped(rng=1, input_shape=(3, 11, 11))):
        t = net.input.type
        x = np.random.default_rng(0).integers(t.min, t.max + 1, (6, *net.input.shape))
        x[0] = t.min  # every value, padding's stand-in included, at the type's minimum
        integer = IntegerNet(net)(x, all_outputs=True)
        for name, value in netdesc.run(net, x, all_outputs=True).items():
            assert np.array_equal(integer[name].numpy(), value), name


def test_integer_net_refuses_inexact_accumulators():
    b = NetBuilder("wide", (64, 4, 4), bits=32, signed=True, rng=0)
    b.conv("c", 2, weight_bits=16, shift=40, bits=16, signed=True, relu=False)
    with pytest.raises(TailorError, match="layer 'c'.*too wide"):
        IntegerNet(b.build())
