"""Build netdescs in code: random-weight networks for tests, benchmarks and cost data.

A :class:`NetBuilder` appends layers one call at a time, checks each through the same
validation as a loaded file, and picks each layer's ``shift`` (unless given) so that typical
accumulator values land inside the output type rather than all saturating.
"""

import numpy as np

from .bounds import accumulator_range
from .arith import signed_bits_for
from .io import to_json_obj
from .model import InputSpec, Netdesc
from .arith import TensorType
from .validate import parse


class NetBuilder:
    def __init__(self, name, input_shape, bits=8, signed=False, rng=None, input_name="input"):
        self.name = name
        self.rng = np.random.default_rng(rng)
        self.net = Netdesc(name, InputSpec(input_name, tuple(input_shape), TensorType(bits, signed)), [], "")
        self._layers = []
        self.last = input_name

    def _append(self, obj, auto_shift):
        self._layers.append(obj)
        if auto_shift:
            probe = self._parse(obj["name"])
            lo, hi = accumulator_range(probe, probe.layer(obj["name"]))
            # Random data reaches about sqrt of the worst case; aim it at the output range.
            span = signed_bits_for(lo, hi)
            obj["shift"] = max(0, (span + obj["bits"]) // 2 - obj["bits"] + 2)
        self.last = obj["name"]
        self.net = self._parse(obj["name"])
        return obj["name"]

    def _parse(self, output):
        obj = to_json_obj(self.net)
        obj.update(layers=self._layers, output=output)
        return parse(obj, source=f"<builder {self.name}>")

    def _random_weights(self, shape, weight_bits):
        hi = (1 << (weight_bits - 1)) - 1
        return self.rng.integers(-hi - 1, hi + 1, size=shape).tolist()

    def conv(self, name, out_channels, kernel=3, stride=1, padding=None, src=None, weight_bits=8,
             bias=True, relu=True, bits=8, signed=False, shift=None):
        src = src or self.last
        cin = self.net.shape_of(src)[0]
        padding = kernel // 2 if padding is None else padding
        obj = {"name": name, "op": "conv2d", "input": src, "out_channels": out_channels,
               "kernel": kernel, "stride": stride, "padding": padding,
               "weights": self._random_weights((out_channels, cin, kernel, kernel), weight_bits),
               "weight_bits": weight_bits,
               "bias": self.rng.integers(-64, 64, size=out_channels).tolist() if bias else None,
               "shift": shift or 0, "relu": relu, "bits": bits, "signed": signed}
        return self._append(obj, shift is None)

    def dense(self, name, out_features, src=None, weight_bits=8, bias=True, relu=False, bits=8,
              signed=True, shift=None):
        src = src or self.last
        n = int(np.prod(self.net.shape_of(src)))
        obj = {"name": name, "op": "dense", "input": src, "out_features": out_features,
               "weights": self._random_weights((out_features, n), weight_bits),
               "weight_bits": weight_bits,
               "bias": self.rng.integers(-64, 64, size=out_features).tolist() if bias else None,
               "shift": shift or 0, "relu": relu, "bits": bits, "signed": signed}
        return self._append(obj, shift is None)

    def add(self, name, a, b, shifts_in=(0, 0), shift=1, relu=True, bits=8, signed=False):
        obj = {"name": name, "op": "add", "inputs": [a, b], "shifts_in": list(shifts_in),
               "shift": shift, "relu": relu, "bits": bits, "signed": signed}
        return self._append(obj, False)

    def maxpool(self, name, kernel=2, stride=2, padding=0, src=None):
        src = src or self.last
        t = self.net.type_of(src)
        obj = {"name": name, "op": "maxpool2d", "input": src, "kernel": kernel, "stride": stride,
               "padding": padding, "bits": t.bits, "signed": t.signed}
        return self._append(obj, False)

    def global_avg_pool(self, name, src=None, bits=8, signed=False, shift=None):
        src = src or self.last
        obj = {"name": name, "op": "global_avg_pool", "input": src, "multiplier": 1,
               "shift": shift or 0, "bits": bits, "signed": signed}
        if shift is None:  # the mean: divide by the next power of two at or above H·W
            _, h, w = self.net.shape_of(src)
            obj["shift"] = int(h * w - 1).bit_length()
        return self._append(obj, False)

    def build(self, output=None):
        return self._parse(output or self.last)


def resnet8_shaped(rng=0, channels=(16, 32, 64), input_shape=(3, 32, 32), classes=10):
    """ResNet-8 as in MLPerf Tiny: stem, three basic blocks (strides 1/2/2, 1×1 projections
    where the shape changes), global average pool, dense; random weights."""
    b = NetBuilder("resnet8-shaped", input_shape, rng=rng)
    x = b.conv("stem", channels[0])
    for i, (ch, stride) in enumerate(zip(channels, (1, 2, 2)), start=1):
        c1 = b.conv(f"b{i}_conv1", ch, stride=stride, src=x)
        c2 = b.conv(f"b{i}_conv2", ch, src=c1, relu=False, signed=True)
        skip = x
        if stride != 1 or b.net.shape_of(x)[0] != ch:
            skip = b.conv(f"b{i}_proj", ch, kernel=1, stride=stride, padding=0, src=x,
                          relu=False, signed=True)
        x = b.add(f"b{i}_add", c2, skip)
    b.global_avg_pool("pool", src=x)
    b.dense("fc", classes)
    return b.build()


def small_resnet(rng=0, input_shape=(1, 8, 8), channels=4, classes=10):
    """A two-block residual network small enough to simulate in seconds."""
    b = NetBuilder("small-resnet", input_shape, rng=rng)
    x = b.conv("stem", channels)
    c1 = b.conv("b1_conv1", channels, src=x)
    c2 = b.conv("b1_conv2", channels, src=c1, relu=False, signed=True)
    x = b.add("b1_add", c2, x)
    c1 = b.conv("b2_conv1", 2 * channels, stride=2, src=x)
    p = b.conv("b2_proj", 2 * channels, kernel=1, stride=2, padding=0, src=x, relu=False, signed=True)
    x = b.add("b2_add", c1, p)
    b.global_avg_pool("pool", src=x)
    b.dense("fc", classes)
    return b.build()
