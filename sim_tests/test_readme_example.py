"""The README's example test, verbatim: if this breaks, so does the README."""

from pathlib import Path

import numpy as np

import netdesc
from netdesc.builder import NetBuilder
from rtl.sim import simulate, simulate_layer


def test_my_conv_layer():
    b = NetBuilder("one-conv", (3, 6, 7), rng=1)       # 3 channels, 6x7 pixels, unsigned 8-bit
    b.conv("c", 4, kernel=3, stride=2, padding=1)      # random signed 8-bit weights
    net = b.build()
    x = np.random.default_rng(0).integers(0, 256, size=(2, 3, 6, 7))
    r = simulate_layer(net, "c", x, parallelism=4)     # 4 MACs per cycle
    assert (r.outputs == netdesc.run(net, x)).all()    # bit-exact against the reference
    assert r.steady_state_cycles > 0


def test_whole_network():
    path = Path(__file__).parents[1] / "examples" / "small_resnet.json"
    x = np.random.default_rng(0).integers(0, 256, size=(2, 1, 8, 8))
    r = simulate(path, x)
    assert (r.outputs == netdesc.run(netdesc.load(path), x)).all()
