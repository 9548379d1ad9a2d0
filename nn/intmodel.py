"""The integer network in PyTorch: executes a netdesc with exact integer arithmetic.

An implementation independent of :mod:`netdesc.reference` (tests check the two agree bit for
bit). Convolutions and dense layers run in float64, which represents every integer below 2^53
exactly; the constructor proves from :func:`netdesc.accumulator_range` that no accumulator of
the network gets there. Rounding shifts and saturation run in int64 with docs/NETDESC.md's
semantics (:func:`netdesc.round_shift`: round half up, also for negative values).
"""

import numpy as np
import torch
import torch.nn.functional as F

import netdesc
from common.errors import TailorError
from netdesc.ops import op_of

EXACT_FLOAT64 = 1 << 53


def _requantize(acc, layer):
    t = layer.type
    lo = max(t.min, 0) if layer.relu else t.min
    return netdesc.round_shift(acc, layer.shift).clamp(lo, t.max)


# Each op's accumulator (the output itself for an op that does not requantize) in torch:
# f(layer, inputs, (weights, bias) or None) -> int64 tensor.
def _conv2d(layer, ins, params):
    return F.conv2d(ins[0].double(), *params, layer.stride, layer.padding).long()


def _dense(layer, ins, params):
    return F.linear(ins[0].flatten(1).double(), *params).long()


def _add(layer, ins, params):
    la, lb = layer.shifts_in
    return (ins[0] << la) + (ins[1] << lb)


def _maxpool2d(layer, ins, params):
    # PyTorch pads with −inf, the reference with the type's minimum: equal (docs/NETDESC.md).
    return F.max_pool2d(ins[0].double(), layer.kernel, layer.stride, layer.padding).long()


def _global_avg_pool(layer, ins, params):
    return ins[0].sum((2, 3)) * layer.multiplier


_ACCUMULATORS = {"conv2d": _conv2d, "dense": _dense, "add": _add, "maxpool2d": _maxpool2d,
                 "global_avg_pool": _global_avg_pool}


class IntegerNet:
    """``IntegerNet(net)(x)``: ``x`` integer ``[N, C, H, W]`` (numpy or torch) -> int64 output."""

    def __init__(self, net):
        self.net = net
        for layer in net.layers:
            lo, hi = netdesc.accumulator_range(net, layer)
            if max(-lo, hi) + (1 << max(layer.shift - 1, 0)) >= EXACT_FLOAT64:
                raise TailorError(f"{net.source}: layer '{layer.name}': accumulator range "
                                  f"[{lo}, {hi}] is too wide for the float64 integer model")
        self.params = {l.name: (torch.from_numpy(l.weights).double(),
                                None if l.bias is None else torch.from_numpy(l.bias).double())
                       for l in net.layers if l.has_weights}

    def __call__(self, x, all_outputs=False):
        x = torch.as_tensor(np.asarray(x)).long()
        values = {self.net.input.name: x}
        for layer in self.net.layers:
            acc = _ACCUMULATORS[layer.op](layer, [values[n] for n in layer.inputs],
                                          self.params.get(layer.name))
            values[layer.name] = _requantize(acc, layer) if op_of(layer).requantizes else acc
        return values if all_outputs else values[self.net.output]
