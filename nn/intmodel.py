"""The integer network in PyTorch: executes a netdesc with exact integer arithmetic.

An implementation independent of :mod:`netdesc.reference` (tests check the two agree bit for
bit). Convolutions and dense layers run in float64, which represents every integer below 2^53
exactly; the constructor proves from :func:`netdesc.accumulator_range` that no accumulator of
the network gets there. Rounding shifts and saturation run in int64 with NETDESC.md's semantics
(:func:`netdesc.round_shift`: round half up, also for negative values).
"""

import numpy as np
import torch
import torch.nn.functional as F

import netdesc
from common.errors import TailorError

EXACT_FLOAT64 = 1 << 53


def _requantize(acc, layer):
    t = layer.type
    lo = max(t.min, 0) if layer.relu else t.min
    return netdesc.round_shift(acc, layer.shift).clamp(lo, t.max)


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
            ins = [values[n] for n in layer.inputs]
            if layer.op == "maxpool2d":
                values[layer.name] = F.max_pool2d(ins[0].double(), layer.kernel, layer.stride).long()
                continue
            if layer.op == "conv2d":
                w, b = self.params[layer.name]
                acc = F.conv2d(ins[0].double(), w, b, layer.stride, layer.padding).long()
            elif layer.op == "dense":
                w, b = self.params[layer.name]
                acc = F.linear(ins[0].flatten(1).double(), w, b).long()
            elif layer.op == "add":
                la, lb = layer.shifts_in
                acc = (ins[0] << la) + (ins[1] << lb)
            else:  # global_avg_pool
                acc = ins[0].sum((2, 3)) * layer.multiplier
            values[layer.name] = _requantize(acc, layer)
        return values if all_outputs else values[self.net.output]
