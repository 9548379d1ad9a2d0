"""dense: a fully connected layer on the flattened input (docs/NETDESC.md#dense)."""

import numpy as np

from ..checker import MAX_DIM
from ..model import Layer
from .base import Weighted, output_stage


class Dense(Weighted):
    name = "dense"
    keys = frozenset({"input", "out_features", "weights", "weight_bits", "bias", "shift", "relu",
                      "bits", "signed"})
    optional = frozenset({"bias", "relu"})

    def parse(self, c, lobj):
        src = self.source(c, lobj)
        in_shape = c.known[src][0]  # any shape: flattened in C, H, W order
        n = int(np.prod(in_shape))
        out = c.int_in(lobj, "out_features", 1, MAX_DIM)
        weights, wbits, bias = self.weights(c, lobj, (out, n), out)
        shape = self.output_shape((in_shape,), out_features=out)
        return Layer(lobj["name"], self.name, (src,), shape, weights=weights, weight_bits=wbits,
                     bias=bias, **output_stage(c, lobj))

    def output_shape(self, in_shapes, *, out_features):
        return (out_features,)

    def json_keys(self, layer, tensor):
        return {**self.json_input(layer), "out_features": layer.shape[0],
                **self.json_weights(layer, tensor), "shift": layer.shift, "relu": layer.relu}

    def reference(self, layer, ins, dtype):
        return self.dot(layer, ins[0].reshape(ins[0].shape[0], -1), dtype)

    def macs(self, layer):
        return int(layer.weights.size)
